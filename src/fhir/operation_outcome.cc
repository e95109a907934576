#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/json_field.h"

#include <nlohmann/json.hpp>

namespace fhirlake::fhir {

std::string OperationOutcome::ToJson() const {
  nlohmann::json issue_list = nlohmann::json::array();
  for (const auto& i : issues) {
    nlohmann::json j = {{"severity", i.severity}, {"code", i.code}};
    if (!i.diagnostics.empty()) j["diagnostics"] = i.diagnostics;
    issue_list.push_back(std::move(j));
  }
  nlohmann::json oo = {{"resourceType", "OperationOutcome"}, {"issue", std::move(issue_list)}};
  return oo.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DescribeErrorBody(std::string_view body) {
  auto parsed = ParseJsonFromOutside(body);
  if (!parsed.is_discarded() && parsed.is_object() && FieldOr(parsed, "resourceType", "") == "OperationOutcome") {
    std::string text;
    for (const auto& issue : FieldOr(parsed, "issue", nlohmann::json::array())) {
      std::string part;
      if (issue.contains("diagnostics") && issue["diagnostics"].is_string()) {
        part = issue["diagnostics"].get<std::string>();
      } else if (issue.contains("details") && issue["details"].is_object() &&
                 issue["details"].contains("text") && issue["details"]["text"].is_string()) {
        part = issue["details"]["text"].get<std::string>();
      } else if (issue.contains("code") && issue["code"].is_string()) {
        part = issue["code"].get<std::string>();
      }
      if (part.empty()) continue;
      if (!text.empty()) text += "; ";
      text += part;
    }
    if (!text.empty()) return text;
  }
  std::string excerpt(body.substr(0, 500));
  if (body.size() > 500) excerpt += "…";
  return excerpt.empty() ? "(empty body)" : excerpt;
}

bool IsTransientOutcome(std::string_view body) {
  auto parsed = ParseJsonFromOutside(body);
  if (!parsed.is_object() || FieldOr(parsed, "resourceType", "") != "OperationOutcome") return false;
  const nlohmann::json issues = FieldOr(parsed, "issue", nlohmann::json::array());
  if (!issues.is_array() || issues.empty()) return false;
  bool transient = false;
  for (const auto& issue : issues) {
    if (!issue.is_object()) return false;
    const std::string severity = FieldOr(issue, "severity", "error");
    if (severity != "error" && severity != "fatal") continue;
    const std::string code = FieldOr(issue, "code", "");
    if (code != "transient" && code != "lock-error" && code != "no-store" && code != "timeout" &&
        code != "incomplete" && code != "throttled") {
      return false;
    }
    transient = true;
  }
  return transient;
}

}  // namespace fhirlake::fhir
