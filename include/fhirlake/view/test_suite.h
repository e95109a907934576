// The SQL on FHIR v2 conformance suite: runs its test files (each holds `resources` and
// `tests`, a test being a ViewDefinition with the rows it must give or `expectError`) and
// writes the published test-report format (test-report.schema.json: per file, per test,
// `{"name", "result": {"passed", "error"?}}`). Rows are compared as the suite's README says:
// as a multiset (order-insensitive), column by column, numbers by value.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fhirlake/status.h"

namespace fhirlake::view {

struct SuiteCaseResult {
  std::string name;   // the test's title
  bool passed = false;
  std::string error;  // why it failed (empty when passed)
};

struct SuiteFileResult {
  std::string file;  // the file's name, e.g. "basic.json"
  std::vector<SuiteCaseResult> tests;
};

// Runs one test (`test`: an element of the file's `tests`) over the file's `resources`.
SuiteCaseResult RunSuiteCase(const nlohmann::json& resources, const nlohmann::json& test);

// Runs every test of one suite file. A file that cannot be read or parsed is an error.
Result<SuiteFileResult> RunSuiteFile(const std::filesystem::path& path);

// Runs every *.json file of `dir` that has `tests` (schema files are skipped), sorted by name.
Result<std::vector<SuiteFileResult>> RunSuiteDirectory(const std::filesystem::path& dir);

// The report document (test-report.schema.json) for these results.
nlohmann::json SuiteReport(const std::vector<SuiteFileResult>& files);

}  // namespace fhirlake::view
