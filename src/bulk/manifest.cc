#include "fhirlake/bulk/manifest.h"

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/type_model.h"
#include "fhirlake/http/url.h"
#include "fhirlake/json_field.h"

namespace fhirlake::bulk {
namespace {

using nlohmann::json;

Status ParseFiles(const json& doc, const char* key, std::string_view source_url,
                  std::vector<ManifestFile>& out) {
  if (!doc.contains(key)) return Status::Ok();
  const json& list = doc[key];
  if (!list.is_array()) return InvalidArgument(std::string(key) + " must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    if (!e.is_object()) return InvalidArgument(where + " must be an object");
    if (!e.contains("type") || !e["type"].is_string() || e["type"].get<std::string>().empty()) {
      return InvalidArgument(where + ".type is missing");
    }
    // The type names the file written (Type.000.ndjson): a resource type name, nothing a path
    // could be made of.
    if (!fhir::IsResourceTypeName(e["type"].get<std::string>())) {
      return InvalidArgument(where + ".type is not a resource type name: " + e["type"].dump().substr(0, 80));
    }
    if (!e.contains("url") || !e["url"].is_string() || e["url"].get<std::string>().empty()) {
      return InvalidArgument(where + ".url is missing");
    }
    ManifestFile f;
    f.type = e["type"].get<std::string>();
    auto resolved = http::ResolveUrl(source_url, e["url"].get<std::string>());
    if (!resolved.ok()) return resolved.status().WithContext(where + ".url");
    f.url = std::move(resolved.value());
    if (!http::Url::Parse(f.url).ok()) return InvalidArgument(where + ".url is not an http(s) URL");
    if (e.contains("count")) {
      if (!e["count"].is_number_unsigned()) return InvalidArgument(where + ".count must be a non-negative integer");
      f.count = e["count"].get<uint64_t>();
    }
    out.push_back(std::move(f));
  }
  return Status::Ok();
}

json FilesToJson(const std::vector<ManifestFile>& files) {
  json list = json::array();
  for (const auto& f : files) {
    json e = {{"type", f.type}, {"url", f.url}};
    if (f.count) e["count"] = *f.count;
    list.push_back(std::move(e));
  }
  return list;
}

}  // namespace

Result<Manifest> Manifest::Parse(std::string_view text, std::string_view source_url) {
  json doc = ParseJsonFromOutside(text);
  if (doc.is_discarded()) return InvalidArgument("the manifest is not valid JSON");
  if (!doc.is_object()) return InvalidArgument("the manifest must be a JSON object");
  Manifest m;
  if (!doc.contains("transactionTime") || !doc["transactionTime"].is_string()) {
    return InvalidArgument("transactionTime is missing");
  }
  m.transaction_time = doc["transactionTime"].get<std::string>();
  if (!fhir::ParseFhirTime(m.transaction_time)) {
    return InvalidArgument("transactionTime '" + m.transaction_time + "' is not a FHIR instant");
  }
  if (!doc.contains("request") || !doc["request"].is_string()) return InvalidArgument("request is missing");
  m.request = doc["request"].get<std::string>();
  if (!doc.contains("requiresAccessToken") || !doc["requiresAccessToken"].is_boolean()) {
    return InvalidArgument("requiresAccessToken is missing or not a boolean");
  }
  m.requires_access_token = doc["requiresAccessToken"].get<bool>();
  if (!doc.contains("output")) return InvalidArgument("output is missing");
  FHIRLAKE_RETURN_IF_ERROR(ParseFiles(doc, "output", source_url, m.output));
  FHIRLAKE_RETURN_IF_ERROR(ParseFiles(doc, "deleted", source_url, m.deleted));
  FHIRLAKE_RETURN_IF_ERROR(ParseFiles(doc, "error", source_url, m.error));
  if (doc.contains("link") && doc["link"].is_array()) {
    for (const auto& l : doc["link"]) {
      if (l.is_object() && FieldOr(l, "relation", "") == "next" && l.contains("url") && l["url"].is_string()) {
        auto resolved = http::ResolveUrl(source_url, l["url"].get<std::string>());
        if (!resolved.ok()) return resolved.status().WithContext("link next");
        m.next = std::move(resolved.value());
      }
    }
  }
  if (doc.contains("extension")) m.extension_json = doc["extension"].dump();
  return m;
}

std::string Manifest::ToJson() const {
  json doc = {{"transactionTime", transaction_time},
              {"request", request},
              {"requiresAccessToken", requires_access_token},
              {"output", FilesToJson(output)},
              {"deleted", FilesToJson(deleted)},
              {"error", FilesToJson(error)}};
  if (next) doc["link"] = json::array({json{{"relation", "next"}, {"url", *next}}});
  if (!extension_json.empty()) doc["extension"] = ParseJsonFromOutside(extension_json);
  return doc.dump(2);
}

void Manifest::AppendPage(const Manifest& page) {
  output.insert(output.end(), page.output.begin(), page.output.end());
  deleted.insert(deleted.end(), page.deleted.begin(), page.deleted.end());
  error.insert(error.end(), page.error.begin(), page.error.end());
  next = page.next;
}

}  // namespace fhirlake::bulk
