// $export kick-off parameters: a GET query string and a POST Parameters body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/http/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fhirlake::bulk;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto q = ExportParameters::FromQuery(ExportLevel::kSystem, "", fhirlake::http::ParseQuery(text));
  if (q.ok()) {
    (void)q->ToQuery();
    (void)q->ToParametersJson();
    (void)q->CheckTypes(true);
  }
  auto b = ExportParameters::FromParametersJson(ExportLevel::kGroup, "g", text);
  if (b.ok()) (void)b->CheckTypes(false);
  (void)SplitTypeFilters(text);
  return 0;
}
