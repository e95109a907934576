#include "fhirlake/server/import_request.h"

#include <nlohmann/json.hpp>

#include <optional>

#include "fhirlake/fhir/parameters.h"
#include "fhirlake/fhir/type_model.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/s3_store.h"
#include "fhirlake/json_field.h"

namespace fhirlake::server {
using nlohmann::json;

namespace {

// Splits an exportUrl into its FHIR base, the export level it names and its query.
Status SplitExportUrl(const std::string& url, ImportRequest& r) {
  auto parsed = http::Url::Parse(url);
  if (!parsed.ok()) return InvalidArgument("exportUrl: " + parsed.status().message());
  std::string path = url.substr(0, url.find('?'));
  std::string query = url.find('?') == std::string::npos ? "" : url.substr(url.find('?') + 1);
  bulk::ExportLevel level = bulk::ExportLevel::kSystem;
  std::string group;
  auto strip = [&](const std::string& suffix) {
    if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      path.resize(path.size() - suffix.size());
      return true;
    }
    return false;
  };
  if (strip("/Patient/$export")) {
    level = bulk::ExportLevel::kPatient;
  } else if (strip("/$export")) {
    size_t g = path.rfind("/Group/");
    if (g != std::string::npos) {
      group = http::DecodeQueryComponent(path.substr(g + 7));
      path.resize(g);
      level = bulk::ExportLevel::kGroup;
    }
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  r.base_url = path;
  auto params = bulk::ExportParameters::FromQuery(level, group, http::ParseQuery(query));
  if (!params.ok()) return InvalidArgument("exportUrl: " + params.status().message());
  r.parameters = std::move(params.value());
  return Status::Ok();
}

}  // namespace

Result<ImportRequest> ParseImportPnp(std::string_view body) {
  auto p = fhir::Parameters::Parse(body);
  if (!p.ok()) return InvalidArgument("the body is not a FHIR Parameters resource: " + p.status().message());
  ImportRequest r;
  auto url = p->First("exportUrl");
  if (!url || url->empty()) return InvalidArgument("the parameter 'exportUrl' is required");
  r.export_url = *url;
  FHIRLAKE_RETURN_IF_ERROR(SplitExportUrl(r.export_url, r));
  if (auto t = p->First("exportType")) {
    if (*t != "dynamic" && *t != "static") return InvalidArgument("the parameter 'exportType' must be dynamic or static");
    r.static_manifest = *t == "static";
  }
  for (const char* name : {"saveMode", "mode"}) {
    if (auto m = p->First(name)) {
      auto mode = load::ParseSaveMode(*m);
      if (!mode.ok()) return InvalidArgument(std::string("the parameter '") + name + "': " + mode.status().message());
      r.mode = *mode;
    }
  }
  if (auto f = p->First("inputFormat"); f && *f != "application/fhir+ndjson" && *f != "ndjson" &&
                                        *f != "application/ndjson") {
    return InvalidArgument("the parameter 'inputFormat' must be application/fhir+ndjson");
  }
  bulk::ExportParameters& e = r.parameters;
  auto list = [&](const char* name, std::vector<std::string>& out) {
    for (const auto& v : p->Values(name)) {
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  };
  list("_type", e.types);
  list("_elements", e.elements);
  list("includeAssociatedData", e.include_associated_data);
  for (const auto& f : p->Values("_typeFilter")) e.type_filters.push_back(f);
  if (auto v = p->First("_since")) e.since = *v;
  if (auto v = p->First("_until")) e.until = *v;
  if (auto v = p->First("_outputFormat")) e.output_format = *v;
  // The job record is read back through FromParametersJson: what that refuses (an invalid
  // `_since`, say) is refused here, before the request is accepted, not when the job resumes.
  auto checked = bulk::ExportParameters::FromParametersJson(e.level, e.group_id, e.ToParametersJson());
  if (!checked.ok()) return InvalidArgument(checked.status().message());
  return r;
}

json ImportRequestToJson(const ImportRequest& r) {
  json inputs = json::array();
  for (const auto& in : r.inputs) inputs.push_back({{"type", in.type}, {"url", in.url}});
  return {{"inputs", inputs},
          {"exportUrl", r.export_url},
          {"staticManifest", r.static_manifest},
          {"parameters", r.parameters.ToParametersJson()},
          {"level", static_cast<int>(r.parameters.level)},
          {"group", r.parameters.group_id},
          {"mode", static_cast<int>(r.mode)},
          {"owner", r.owner}};
}

Result<ImportRequest> ImportRequestFromJson(const json& j) {
  ImportRequest r;
  for (const auto& in : FieldOr(j, "inputs", json::array())) r.inputs.push_back({FieldOr(in, "type", ""), FieldOr(in, "url", "")});
  r.export_url = FieldOr(j, "exportUrl", "");
  if (!r.export_url.empty()) FHIRLAKE_RETURN_IF_ERROR(SplitExportUrl(r.export_url, r));
  auto params = bulk::ExportParameters::FromParametersJson(static_cast<bulk::ExportLevel>(FieldOr(j, "level", 0)),
                                                            FieldOr(j, "group", ""), FieldOr(j, "parameters", "{}"));
  if (!params.ok()) return params.status();
  r.parameters = std::move(params.value());
  r.static_manifest = FieldOr(j, "staticManifest", false);
  r.mode = static_cast<load::SaveMode>(FieldOr(j, "mode", 0));
  r.owner = FieldOr(j, "owner", "");
  return r;
}

Result<ImportRequest> ParseImportManifest(std::string_view body) {
  json doc = ParseJsonFromOutside(body);
  if (!doc.is_object()) return InvalidArgument("the body is neither a JSON manifest nor a Parameters resource");
  ImportRequest r;
  auto mode = [&](const std::string& name, const std::string& value) -> Status {
    auto m = load::ParseSaveMode(value);
    if (!m.ok()) return InvalidArgument("the parameter '" + name + "': " + m.status().message());
    r.mode = *m;
    return Status::Ok();
  };
  auto format = [](const std::string& f) -> Status {
    if (f.empty() || f == "application/fhir+ndjson" || f == "ndjson" || f == "application/ndjson") return Status::Ok();
    return InvalidArgument("the parameter 'inputFormat' must be application/fhir+ndjson");
  };
  if (FieldOr(doc, "resourceType", "") == "Parameters") {
    auto p = fhir::Parameters::Parse(body);
    if (!p.ok()) return InvalidArgument(p.status().message());
    if (p->First("exportUrl")) return ParseImportPnp(body);  // the ping-and-pull form of $import
    std::optional<load::SaveMode> source_mode;
    for (const auto& item : p->items()) {
      if (item.name == "input" || item.name == "source") {  // `source`: Pathling's name, with a `mode` part
        ImportInput in;
        for (const auto& part : item.parts) {
          if (part.name == "resourceType" || part.name == "type") in.type = part.value;
          if (part.name == "url") in.url = part.value;
          if (part.name == "mode" || part.name == "saveMode") {
            auto m = load::ParseSaveMode(part.value);
            if (!m.ok()) return InvalidArgument("the part '" + part.name + "' of '" + item.name + "': " + m.status().message());
            if (source_mode && *source_mode != *m) {
              return InvalidArgument("every '" + item.name + "' must have the same 'mode' (one import, one save mode)");
            }
            source_mode = *m;
          }
        }
        if (in.type.empty() || in.url.empty()) {
          return InvalidArgument("each '" + item.name + "' needs the parts 'resourceType' and 'url'");
        }
        r.inputs.push_back(std::move(in));
      } else if (item.name == "saveMode" || item.name == "mode") {
        FHIRLAKE_RETURN_IF_ERROR(mode(item.name, item.value));
      } else if (item.name == "inputFormat") {
        FHIRLAKE_RETURN_IF_ERROR(format(item.value));
      }
    }
    if (source_mode) r.mode = *source_mode;
  } else {
    if (!doc.contains("input") || !doc["input"].is_array()) return InvalidArgument("the manifest needs an 'input' array");
    for (const auto& in : doc["input"]) {
      if (!in.is_object() || !in.contains("type") || !in.contains("url") || !in["type"].is_string() ||
          !in["url"].is_string()) {
        return InvalidArgument("each 'input' needs 'type' and 'url' strings");
      }
      r.inputs.push_back({in["type"].get<std::string>(), in["url"].get<std::string>()});
    }
    for (const char* name : {"saveMode", "mode"}) {
      if (doc.contains(name) && doc[name].is_string()) FHIRLAKE_RETURN_IF_ERROR(mode(name, doc[name].get<std::string>()));
    }
    if (doc.contains("inputFormat") && doc["inputFormat"].is_string()) FHIRLAKE_RETURN_IF_ERROR(format(doc["inputFormat"]));
  }
  if (r.inputs.empty()) return InvalidArgument("the manifest lists no 'input'");
  for (const auto& in : r.inputs) {
    if (store::IsS3Location(in.url)) {
      if (auto location = store::S3Location::Parse(in.url); !location.ok()) return location.status();
    } else if (in.url.rfind("file://", 0) != 0 && in.url.rfind("http://", 0) != 0 &&
               in.url.rfind("https://", 0) != 0) {
      return InvalidArgument("input URLs must be file://, http://, https:// or s3://");
    }
    if (!fhir::IsResourceTypeName(in.type)) {
      return InvalidArgument("'" + in.type + "' is not a resource type");
    }
  }
  return r;
}

}  // namespace fhirlake::server
