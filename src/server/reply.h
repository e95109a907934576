// How `fhirlake serve` answers with an OperationOutcome, and reads request headers.
#pragma once

#include <httplib.h>

#include <string>

#include "fhirlake/fhir/operation_outcome.h"

namespace fhirlake::server {

inline constexpr const char* kFhirJson = "application/fhir+json";

inline void SendOutcome(httplib::Response& res, int status, const std::string& code, const std::string& text,
                        const std::string& severity = "error") {
  res.status = status;
  fhir::OperationOutcome oo{{fhir::OperationOutcomeIssue{severity, code, text}}};
  res.set_content(oo.ToJson(), kFhirJson);
}

// True when a header `name` contains `token` (e.g. Prefer: respond-async).
inline bool HeaderHas(const httplib::Request& req, const char* name, const char* token) {
  for (auto [it, end] = req.headers.equal_range(name); it != end; ++it) {
    if (it->second.find(token) != std::string::npos) return true;
  }
  return false;
}

}  // namespace fhirlake::server
