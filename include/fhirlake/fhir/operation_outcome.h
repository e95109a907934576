// OperationOutcome: how FHIR servers explain errors, and how fhirlake reports per-line and
// per-request problems. One model shared by the client (reading a server's answer) and the
// server (writing its own).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fhirlake::fhir {

struct OperationOutcomeIssue {
  std::string severity = "error";  // fatal | error | warning | information
  std::string code = "processing"; // IssueType code: invalid, not-found, exception, ...
  std::string diagnostics;
};

struct OperationOutcome {
  std::vector<OperationOutcomeIssue> issues;

  static OperationOutcome Error(std::string code, std::string diagnostics) {
    return OperationOutcome{{OperationOutcomeIssue{"error", std::move(code), std::move(diagnostics)}}};
  }
  // Serialises as a FHIR R4 OperationOutcome resource (one line, no trailing newline).
  std::string ToJson() const;
};

// A human sentence from an error body: the OperationOutcome's issue texts (diagnostics or
// details.text) joined by "; " when the body is one, else the first 500 bytes of the body.
std::string DescribeErrorBody(std::string_view body);

// Whether `body` is an OperationOutcome that says to try again later: it has issues, and each
// error or fatal one has the IssueType `transient` or one of its kinds that describe a passing
// state (lock-error, no-store, timeout, incomplete, throttled). `exception`, also a kind of
// transient, is what failed jobs report, so it does not count.
bool IsTransientOutcome(std::string_view body);

}  // namespace fhirlake::fhir
