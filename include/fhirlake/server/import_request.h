// server::ImportRequest: what an import asks for, parsed from the bodies of `$import-pnp`
// (Pathling's ping-and-pull Parameters) and `$import` (a JSON manifest or Parameters), and its
// JSON form in a job's record.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/status.h"

namespace fhirlake::server {

// One file of an `$import` manifest: NDJSON of one resource type at a file://, http:// or
// https:// URL.
struct ImportInput {
  std::string type;
  std::string url;
};

struct ImportRequest {
  std::vector<ImportInput> inputs;     // $import with a manifest: these files, no export
  std::string export_url;              // as the client gave it
  std::string base_url;                // the FHIR base it names
  bool static_manifest = false;        // exportType static: export_url is a finished manifest
  bulk::ExportParameters parameters;   // from export_url's query and the pass-through parameters
  load::SaveMode mode = load::SaveMode::kMerge;
  std::string owner;                   // client id with auth on
};

// Parses a `$import-pnp` Parameters body. kInvalidArgument names the bad parameter.
Result<ImportRequest> ParseImportPnp(std::string_view body);

// Parses an `$import` body in either of Pathling's forms: the JSON manifest
// ({"inputFormat", "input": [{"type", "url"}], "saveMode"|"mode"}) or a Parameters resource
// (`input` parameters with `resourceType` and `url` parts, or Pathling's `source` parameters that
// add a `mode` part, the same for every source; `saveMode`, `inputFormat`). A
// Parameters body with an `exportUrl` is the ping-and-pull form: ParseImportPnp.
Result<ImportRequest> ParseImportManifest(std::string_view body);

// The request as stored in a job's record, and back.
nlohmann::json ImportRequestToJson(const ImportRequest& request);
Result<ImportRequest> ImportRequestFromJson(const nlohmann::json& json);

}  // namespace fhirlake::server
