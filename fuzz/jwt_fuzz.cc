// JWTs (client assertions, access tokens), JWK/JWKS documents and PEM keys. The first byte
// picks the parser so that one corpus serves all three.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fhirlake/auth/jwt.h"
#include "fhirlake/auth/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fhirlake::auth;
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      (void)VerifyJwt(text, [](const std::string&) -> const Key* { return nullptr; });
      break;
    }
    case 1: {
      // Keys parsed from the input verify a token that also comes from the input.
      auto keys = ParseJwks(text, false);
      if (keys.ok()) {
        for (const auto& k : keys.value()) (void)ToJwk(k, true);
        const Key* first = keys->empty() ? nullptr : &keys->front();
        (void)VerifyJwt("eyJhbGciOiJSUzM4NCIsImtpZCI6ImsifQ.e30.AAAA",
                        [first](const std::string&) { return first; });
      }
      break;
    }
    case 2:
      (void)ParsePrivateKey(text, "", "fuzz input");
      break;
    default:
      (void)Base64UrlDecode(text);
      (void)ParseAlgorithm(text);
      break;
  }
  return 0;
}
