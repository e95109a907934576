#include "fhirlake/auth/jwt.h"
#include "fhirlake/json_field.h"

#include <openssl/ec.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "src/auth/openssl_handles.h"

namespace fhirlake::auth {
namespace {

constexpr size_t kP384Bytes = 48;

Result<std::string> Sign(const Key& key, std::string_view input) {
  OpensslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key.pkey.get()) <= 0 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) <= 0) {
    return InternalError("cannot sign with key '" + key.kid + "'");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) <= 0) {
    return InternalError("cannot sign with key '" + key.kid + "'");
  }
  sig.resize(len);
  if (key.alg == Algorithm::kRS384) return sig;
  // DER ECDSA-Sig-Value → R||S, each left-padded to 48 bytes.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  OpensslPtr<ECDSA_SIG> ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!ecdsa) return InternalError("cannot decode the ECDSA signature");
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(ecdsa.get(), &r, &s);
  std::string raw(2 * kP384Bytes, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), kP384Bytes);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + kP384Bytes, kP384Bytes);
  return raw;
}

bool Verify(const Key& key, std::string_view input, std::string sig) {
  if (key.alg == Algorithm::kES384) {
    if (sig.size() != 2 * kP384Bytes) return false;
    const auto* bytes = reinterpret_cast<const unsigned char*>(sig.data());
    OpensslPtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes, kP384Bytes, nullptr);
    BIGNUM* s = BN_bin2bn(bytes + kP384Bytes, kP384Bytes, nullptr);
    if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(ecdsa.get(), &der);
    if (len <= 0) return false;
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  OpensslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key.pkey.get()) > 0 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

}  // namespace

Result<std::string> SignJwt(const Key& key, std::string_view claims_json) {
  if (!key.has_private) return InvalidArgument("key '" + key.kid + "' has no private part to sign with");
  nlohmann::json header = {{"alg", AlgorithmName(key.alg)}, {"kid", key.kid}, {"typ", "JWT"}};
  std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims_json);
  auto sig = Sign(key, input);
  if (!sig.ok()) return sig.status();
  return input + "." + Base64UrlEncode(*sig);
}

Result<VerifiedJwt> VerifyJwt(std::string_view token, const KeyLookup& lookup) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return InvalidArgument("the assertion is not a compact JWS (three dot-separated parts)");
  }
  auto header = Base64UrlDecode(token.substr(0, dot1));
  auto claims = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header.ok() || !claims.ok() || !sig.ok()) return InvalidArgument("the assertion is not valid base64url");
  auto h = ParseJsonFromOutside(*header);
  if (h.is_discarded() || !h.is_object()) return InvalidArgument("the assertion header is not a JSON object");
  std::string alg_name = FieldOr(h, "alg", "");
  auto alg = ParseAlgorithm(alg_name);
  if (!alg.ok()) return InvalidArgument("the assertion's alg '" + alg_name + "' is not allowed (RS384 or ES384)");
  VerifiedJwt out;
  out.alg = *alg;
  out.kid = FieldOr(h, "kid", "");
  const Key* key = lookup(out.kid);
  if (!key) return InvalidArgument("no registered key has kid '" + out.kid + "'");
  if (key->alg != *alg) {
    return InvalidArgument("the assertion's alg " + alg_name + " does not fit the registered key '" + out.kid +
                           "' (" + AlgorithmName(key->alg) + ")");
  }
  if (!Verify(*key, token.substr(0, dot2), *sig)) {
    return InvalidArgument("the assertion's signature does not verify with key '" + out.kid + "'");
  }
  out.header_json = std::move(header.value());
  out.claims_json = std::move(claims.value());
  return out;
}

}  // namespace fhirlake::auth
