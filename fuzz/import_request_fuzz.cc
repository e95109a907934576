// Request bodies of $import-pnp and $import: the FHIR Parameters model they are read with, and
// the export parameters a Parameters body carries.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/fhir/parameters.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = fhirlake::fhir::Parameters::Parse(text);
  if (p.ok()) (void)p->ToJson();
  if (p.ok()) {
    for (const char* name : {"exportUrl", "saveMode", "mode", "input", "_type"}) (void)p->Values(name);
  }
  (void)fhirlake::bulk::ExportParameters::FromParametersJson(fhirlake::bulk::ExportLevel::kPatient, "", text);
  return 0;
}
