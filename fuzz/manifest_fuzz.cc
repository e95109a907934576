// A Bulk Data export manifest (the status response's body).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/bulk/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)fhirlake::bulk::Manifest::Parse(text, "http://127.0.0.1:18081/fhir/bulkstatus/1");
  return 0;
}
