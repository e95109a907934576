// SMART discovery documents from an authorization server: .well-known/smart-configuration and
// the CapabilityStatement's oauth-uris extension. One input is read as both.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/auth/smart_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)fhirlake::auth::ParseSmartConfiguration(text);
  (void)fhirlake::auth::TokenEndpointFromCapabilityStatement(text);
  return 0;
}
