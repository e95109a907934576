#include "fhirlake/bulk/export_parameters.h"

#include <cctype>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/parameters.h"
#include "fhirlake/fhir/type_model.h"
#include "fhirlake/http/url.h"

namespace fhirlake::bulk {
namespace {

std::string Join(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out.push_back(sep);
    out += s;
  }
  return out;
}

void SplitCommaInto(std::string_view value, std::vector<std::string>& out) {
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    std::string_view part = value.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

// "Observation?" at `pos`: an upper-case resource type name followed by '?'.
bool StartsTypeFilter(std::string_view s, size_t pos) {
  if (pos >= s.size() || !std::isupper(static_cast<unsigned char>(s[pos]))) return false;
  size_t i = pos;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
  return i < s.size() && s[i] == '?';
}

Status CheckTime(const char* name, const std::optional<std::string>& value) {
  if (value && !fhir::ParseFhirTime(*value)) {
    return InvalidArgument(std::string(name) + " must be a FHIR instant like 2024-01-31T00:00:00Z, got '" + *value + "'");
  }
  return Status::Ok();
}

// Query values arrive percent-decoded, so any bytes at all; everything downstream (Parameters
// bodies, manifests, OperationOutcomes) is JSON, which needs UTF-8.
bool IsUtf8(std::string_view s) {  // Unicode §3.9 Table 3-7: no overlongs, no surrogates
  auto at = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
  for (size_t i = 0; i < s.size();) {
    const unsigned c = at(i);
    size_t n = 0;
    unsigned lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (at(i + 1) < lo || at(i + 1) > hi) return false;
    for (size_t k = 2; k <= n; ++k) {
      if (at(i + k) < 0x80 || at(i + k) > 0xbf) return false;
    }
    i += n + 1;
  }
  return true;
}

struct Setter {
  ExportParameters& p;
  // Applies one named value; returns false for names that are not export parameters.
  Result<bool> Apply(const std::string& name, const std::string& value) {
    if (name == "_outputFormat") p.output_format = value;
    else if (name == "_since") p.since = value;
    else if (name == "_until") p.until = value;
    else if (name == "_type") SplitCommaInto(value, p.types);
    else if (name == "_elements") SplitCommaInto(value, p.elements);
    else if (name == "_typeFilter") for (auto& f : SplitTypeFilters(value)) p.type_filters.push_back(std::move(f));
    else if (name == "patient") p.patients.push_back(value);
    else if (name == "includeAssociatedData") SplitCommaInto(value, p.include_associated_data);
    else if (name == "allowPartialManifests") {
      if (value != "true" && value != "false") return InvalidArgument("allowPartialManifests must be true or false");
      p.allow_partial_manifests = value == "true";
    } else return false;
    return true;
  }
};

}  // namespace

std::vector<std::string> SplitTypeFilters(std::string_view value) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || (value[i] == ',' && StartsTypeFilter(value, i + 1))) {
      if (i > start) out.emplace_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string ExportParameters::KickoffPath(std::string_view base) const {
  std::string b(base);
  while (!b.empty() && b.back() == '/') b.pop_back();
  switch (level) {
    case ExportLevel::kSystem: return b + "/$export";
    case ExportLevel::kPatient: return b + "/Patient/$export";
    case ExportLevel::kGroup: return b + "/Group/" + http::EncodeQueryComponent(group_id) + "/$export";
  }
  return b;
}

std::string KickoffBase(std::string_view kickoff_url) {
  std::string_view u = kickoff_url.substr(0, kickoff_url.find('?'));
  constexpr std::string_view kExport = "/$export";
  if (!u.ends_with(kExport)) return "";
  u.remove_suffix(kExport.size());
  if (u.ends_with("/Patient")) {
    u.remove_suffix(std::string_view("/Patient").size());
  } else if (size_t slash = u.rfind('/'); slash != std::string_view::npos && slash > 0) {
    std::string_view head = u.substr(0, slash);
    if (head.ends_with("/Group")) u = head.substr(0, head.size() - std::string_view("/Group").size());
  }
  return std::string(u);
}

std::string ExportParameters::ToQuery() const {
  std::vector<std::string> parts;
  auto add = [&](const char* name, const std::string& v) { parts.push_back(std::string(name) + "=" + http::EncodeQueryComponent(v)); };
  if (!output_format.empty()) add("_outputFormat", output_format);
  if (since) add("_since", *since);
  if (until) add("_until", *until);
  if (!types.empty()) {
    std::string joined;
    for (const auto& t : types) joined += (joined.empty() ? "" : ",") + http::EncodeQueryComponent(t);
    parts.push_back("_type=" + joined);
  }
  if (!elements.empty()) add("_elements", Join(elements, ','));
  for (const auto& f : type_filters) add("_typeFilter", f);
  if (!include_associated_data.empty()) add("includeAssociatedData", Join(include_associated_data, ','));
  if (allow_partial_manifests) parts.push_back("allowPartialManifests=true");
  return Join(parts, '&');
}

std::string ExportParameters::ToParametersJson() const {
  fhir::Parameters p;
  if (!output_format.empty()) p.Add("_outputFormat", "String", output_format);
  if (since) p.Add("_since", "Instant", *since);
  if (until) p.Add("_until", "Instant", *until);
  for (const auto& t : types) p.Add("_type", "String", t);
  if (!elements.empty()) p.Add("_elements", "String", Join(elements, ','));
  for (const auto& f : type_filters) p.Add("_typeFilter", "String", f);
  for (const auto& r : patients) p.Add("patient", "Reference", r);
  for (const auto& a : include_associated_data) p.Add("includeAssociatedData", "Code", a);
  if (allow_partial_manifests) p.Add("allowPartialManifests", "Boolean", "true");
  return p.ToJson();
}

Result<ExportParameters> ExportParameters::FromQuery(
    ExportLevel level, std::string group_id, const std::vector<std::pair<std::string, std::string>>& query) {
  ExportParameters p;
  p.level = level;
  p.group_id = std::move(group_id);
  Setter set{p};
  for (const auto& [name, value] : query) {
    if (!IsUtf8(name) || !IsUtf8(value)) return InvalidArgument("a query parameter is not valid UTF-8");
    auto known = set.Apply(name, value);
    if (!known.ok()) return known.status();
  }
  FHIRLAKE_RETURN_IF_ERROR(CheckTime("_since", p.since));
  FHIRLAKE_RETURN_IF_ERROR(CheckTime("_until", p.until));
  return p;
}

Result<ExportParameters> ExportParameters::FromParametersJson(ExportLevel level, std::string group_id,
                                                              std::string_view body) {
  auto parsed = fhir::Parameters::Parse(body);
  if (!parsed.ok()) return parsed.status();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& item : parsed->items()) pairs.emplace_back(item.name, item.value);
  return FromQuery(level, std::move(group_id), pairs);
}

Result<std::vector<std::string>> ExportParameters::CheckTypes(bool lenient) {
  const fhir::TypeModel& model = fhir::TypeModel::R4();
  std::vector<std::string> unknown, warnings;
  std::vector<std::string> kept;
  for (auto& type : types) {
    if (model.IsResource(type)) {
      kept.push_back(std::move(type));
    } else {
      unknown.push_back(type);
    }
  }
  std::vector<std::string> kept_filters;
  for (auto& filter : type_filters) {
    std::string type = filter.substr(0, filter.find('?'));
    if (model.IsResource(type)) {
      kept_filters.push_back(std::move(filter));
    } else {
      unknown.push_back(type);
    }
  }
  // Every requested type unknown: even a lenient request is refused, since dropping them all
  // would turn "these types" into "every type".
  if (!unknown.empty() && (!lenient || (!types.empty() && kept.empty()))) {
    std::string names;
    for (const auto& t : unknown) names += (names.empty() ? "'" : ", '") + t.substr(0, 64) + "'";
    return InvalidArgument("_type " + names + (unknown.size() == 1 ? " is not" : " are not") +
                           " a FHIR R4 resource type this server exports; resend without " +
                           (unknown.size() == 1 ? "it" : "them") + " or with Prefer: handling=lenient");
  }
  for (const auto& t : unknown) warnings.push_back("_type '" + t.substr(0, 64) + "' is not a FHIR R4 resource type and was ignored");
  types = std::move(kept);
  type_filters = std::move(kept_filters);
  return warnings;
}

}  // namespace fhirlake::bulk
