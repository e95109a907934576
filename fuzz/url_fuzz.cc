// URLs from requests and manifests: parsing, normalisation and the allowlist comparison.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fhirlake/http/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fhirlake::http;
  std::string text(reinterpret_cast<const char*>(data), size);
  auto url = Url::Parse(text);
  if (url.ok()) {
    // The normal form parses to itself: normalising is idempotent.
    auto again = Url::Parse(url->ToString());
    if (!again.ok() || again->ToString() != url->ToString()) __builtin_trap();
    (void)IsUnder(url.value(), url.value());
  }
  (void)IsUnder(text, "http://127.0.0.1:18081/fhir");
  (void)NormalizePath(text);
  (void)ParseQuery(text);
  (void)RedactUrl(text);
  (void)DecodeQueryComponent(text);
  return 0;
}
