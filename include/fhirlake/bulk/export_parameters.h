// The parameters of a Bulk Data kick-off request (Bulk Data IG v2, "Query Parameters"), one
// model for both sides: the client turns it into a GET query or a POST Parameters body, the
// server parses either form back into it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::bulk {

enum class ExportLevel { kSystem, kPatient, kGroup };

struct ExportParameters {
  ExportLevel level = ExportLevel::kSystem;
  std::string group_id;                       // kGroup only
  std::string output_format;                  // "" = the server's default (NDJSON)
  std::optional<std::string> since;           // FHIR instant
  std::optional<std::string> until;
  std::vector<std::string> types;             // _type
  std::vector<std::string> type_filters;      // _typeFilter, each "Type?search"
  std::vector<std::string> elements;          // _elements
  std::vector<std::string> patients;          // patient references ("Patient/123"), POST only
  std::vector<std::string> include_associated_data;
  bool allow_partial_manifests = false;

  // "[base]/$export", "[base]/Patient/$export" or "[base]/Group/[id]/$export".
  std::string KickoffPath(std::string_view base) const;

  // The query string of a GET kick-off (no leading '?'). `patient` is not a GET parameter.
  std::string ToQuery() const;

  // The body of a POST kick-off: a FHIR Parameters resource.
  std::string ToParametersJson() const;

  // Parses decoded (name, value) query pairs of a GET kick-off. Repeated parameters and comma
  // lists both work; a comma inside a _typeFilter search stays with its filter.
  static Result<ExportParameters> FromQuery(ExportLevel level, std::string group_id,
                                            const std::vector<std::pair<std::string, std::string>>& query);

  // Parses a POST kick-off body.
  static Result<ExportParameters> FromParametersJson(ExportLevel level, std::string group_id,
                                                     std::string_view body);

  // Checks `types` (and the type of each `_typeFilter`) against the FHIR R4 resource types.
  // Bulk Data IG v2, "Query Parameters": a server that does not support a requested type
  // answers an error (400 with an OperationOutcome), unless the client sent
  // `Prefer: handling=lenient`, in which case the type is dropped and the returned warnings
  // say so (for the manifest's OperationOutcome). Without `lenient`, returns kInvalidArgument
  // naming the unknown types, also when lenient but no requested type is known (dropping
  // them all would export every type).
  Result<std::vector<std::string>> CheckTypes(bool lenient);
};

// Splits a comma list of _typeFilter values without splitting inside a filter's own search
// ("Observation?code=a,b,Condition?x=y" gives two filters).
std::vector<std::string> SplitTypeFilters(std::string_view value);

// The FHIR base of a kick-off URL (the inverse of KickoffPath, ignoring a query), or "" when
// `kickoff_url` is no kick-off.
std::string KickoffBase(std::string_view kickoff_url);

}  // namespace fhirlake::bulk
