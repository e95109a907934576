// Request bodies of $import-pnp and $import as the server reads them (server::ParseImportPnp,
// ParseImportManifest), the FHIR Parameters model and the export parameters underneath, and a
// parsed request's round trip through a job's record (records are the server's own writing, so
// only what the parsers accepted is read back).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/fhir/parameters.h"
#include "fhirlake/server/import_request.h"

namespace {

void RoundTrip(const fhirlake::Result<fhirlake::server::ImportRequest>& request) {
  if (!request.ok()) return;
  auto back = fhirlake::server::ImportRequestFromJson(fhirlake::server::ImportRequestToJson(*request));
  if (!back.ok()) __builtin_trap();  // a request the server accepted must survive its job record
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = fhirlake::fhir::Parameters::Parse(text);
  if (p.ok()) {
    (void)p->ToJson();
    for (const char* name : {"exportUrl", "saveMode", "mode", "input", "_type"}) (void)p->Values(name);
  }
  (void)fhirlake::bulk::ExportParameters::FromParametersJson(fhirlake::bulk::ExportLevel::kPatient, "", text);
  RoundTrip(fhirlake::server::ParseImportPnp(text));
  RoundTrip(fhirlake::server::ParseImportManifest(text));
  return 0;
}
