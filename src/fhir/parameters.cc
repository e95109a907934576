#include "fhirlake/fhir/parameters.h"
#include "fhirlake/json_field.h"

#include <nlohmann/json.hpp>

namespace fhirlake::fhir {
namespace {

using nlohmann::json;

Result<Parameter> ParseOne(const json& p, const std::string& where) {
  if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
    return InvalidArgument(where + " has no 'name'");
  }
  Parameter out;
  out.name = p["name"].get<std::string>();
  for (const auto& [key, value] : p.items()) {
    if (!key.starts_with("value")) continue;
    out.value_type = key.substr(5);
    if (value.is_string()) {
      out.value = value.get<std::string>();
    } else if (value.is_boolean() || value.is_number()) {
      out.value = value.dump();
    } else if (value.is_object()) {
      if (value.contains("code") && value["code"].is_string()) {
        out.value = value["code"].get<std::string>();  // Coding
      } else if (value.contains("reference") && value["reference"].is_string()) {
        out.value = value["reference"].get<std::string>();  // Reference
      } else {
        out.value = value.dump();
      }
    } else {
      return InvalidArgument("parameter '" + out.name + "' has an unsupported value" + out.value_type);
    }
    break;
  }
  if (p.contains("part")) {
    if (!p["part"].is_array()) return InvalidArgument("parameter '" + out.name + "': 'part' must be an array");
    size_t k = 0;
    for (const auto& part : p["part"]) {
      auto child = ParseOne(part, "parameter '" + out.name + "' part " + std::to_string(k++));
      if (!child.ok()) return child.status();
      out.parts.push_back(std::move(child.value()));
    }
  }
  return out;
}

}  // namespace

Result<Parameters> Parameters::Parse(std::string_view text) {
  json doc = ParseJsonFromOutside(text);
  if (doc.is_discarded()) return InvalidArgument("the request body is not valid JSON");
  if (!doc.is_object() || FieldOr(doc, "resourceType", "") != "Parameters") {
    return InvalidArgument("the request body is not a FHIR Parameters resource");
  }
  Parameters out;
  if (!doc.contains("parameter")) return out;
  if (!doc["parameter"].is_array()) return InvalidArgument("Parameters.parameter must be an array");
  size_t i = 0;
  for (const auto& p : doc["parameter"]) {
    auto one = ParseOne(p, "parameter " + std::to_string(i++));
    if (!one.ok()) return one.status();
    out.items_.push_back(std::move(one.value()));
  }
  return out;
}

void Parameters::Add(std::string name, std::string value_type, std::string value) {
  items_.push_back(Parameter{std::move(name), std::move(value), std::move(value_type), {}});
}

std::string Parameters::ToJson() const {
  json list = json::array();
  for (const auto& p : items_) {
    json j = {{"name", p.name}};
    if (p.value_type == "Reference") {
      j["valueReference"] = {{"reference", p.value}};
    } else if (p.value_type == "Boolean") {
      j["valueBoolean"] = p.value == "true";
    } else if (!p.value_type.empty()) {
      j["value" + p.value_type] = p.value;
    }
    list.push_back(std::move(j));
  }
  return json{{"resourceType", "Parameters"}, {"parameter", std::move(list)}}.dump();
}

std::vector<std::string> Parameters::Values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& p : items_) {
    if (p.name == name) out.push_back(p.value);
  }
  return out;
}

std::optional<std::string> Parameters::First(std::string_view name) const {
  for (const auto& p : items_) {
    if (p.name == name) return p.value;
  }
  return std::nullopt;
}

}  // namespace fhirlake::fhir
