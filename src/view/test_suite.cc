#include "fhirlake/view/test_suite.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "fhirlake/view/json_tree.h"
#include "fhirlake/view/view_definition.h"
#include "fhirlake/json_field.h"

namespace fhirlake::view {

namespace {

bool CellsEqual(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return std::fabs(x - y) <= 1e-9 * std::max({1.0, std::fabs(x), std::fabs(y)});
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!CellsEqual(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !CellsEqual(it.value(), b[it.key()])) return false;
    return true;
  }
  return a == b;
}

// An expected row matches an actual one when every column agrees (a column the expected row
// leaves out must be null) and it names no column the view lacks.
bool RowMatches(const nlohmann::json& expected, const nlohmann::json& actual) {
  if (!expected.is_object()) return false;
  for (auto it = expected.begin(); it != expected.end(); ++it)
    if (!actual.contains(it.key())) return false;
  for (auto it = actual.begin(); it != actual.end(); ++it) {
    const nlohmann::json& want = expected.contains(it.key()) ? expected[it.key()] : nlohmann::json();
    if (!CellsEqual(want, it.value())) return false;
  }
  return true;
}

std::string Truncate(std::string s) {
  if (s.size() > 600) s = s.substr(0, 600) + "…";
  return s;
}

// The view's rows over `resources`, as JSON objects.
Status RunView(const ViewDefinition& view, const nlohmann::json& resources, nlohmann::json& rows_out) {
  JsonTree tree;
  std::vector<Row> rows;
  for (const auto& resource : resources) {
    if (Status s = tree.Parse(resource.dump()); !s.ok()) return s;
    rows.clear();
    if (Status s = view.Evaluate(tree, rows); !s.ok()) return s;
    for (const Row& row : rows) {
      nlohmann::json object = nlohmann::json::object();
      for (size_t i = 0; i < row.size(); ++i) object[view.columns()[i].name] = row[i];
      rows_out.push_back(std::move(object));
    }
  }
  return Status::Ok();
}

}  // namespace

SuiteCaseResult RunSuiteCase(const nlohmann::json& resources, const nlohmann::json& test) {
  SuiteCaseResult result;
  result.name = FieldOr(test, "title", "");
  bool expect_error = FieldOr(test, "expectError", false);
  auto view = ViewDefinition::Compile(test.contains("view") ? test["view"] : nlohmann::json());
  nlohmann::json rows = nlohmann::json::array();
  Status status = view.ok() ? RunView(*view, resources, rows) : view.status();
  if (expect_error) {
    result.passed = !status.ok();
    if (!result.passed) result.error = "expected an error, but the view ran and gave " + std::to_string(rows.size()) + " rows";
    return result;
  }
  if (!status.ok()) {
    result.error = status.message();
    return result;
  }
  if (test.contains("expectColumns")) {
    std::vector<std::string> names;
    for (const ViewColumn& c : view->columns()) names.push_back(c.name);
    if (nlohmann::json(names) != test["expectColumns"]) {
      result.error = "expected columns " + test["expectColumns"].dump() + " but the view has " + nlohmann::json(names).dump();
      return result;
    }
  }
  const nlohmann::json expected = FieldOr(test, "expect", nlohmann::json::array());
  std::vector<bool> used(rows.size(), false);
  bool ok = expected.size() == rows.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) {
    bool found = false;
    for (size_t k = 0; k < rows.size() && !found; ++k) {
      if (!used[k] && RowMatches(expected[i], rows[k])) {
        used[k] = true;
        found = true;
      }
    }
    ok = found;
  }
  result.passed = ok;
  if (!ok) result.error = Truncate("expected rows " + expected.dump() + " but got " + rows.dump());
  return result;
}

Result<SuiteFileResult> RunSuiteFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return IoError("cannot read the test file " + path.string());
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("tests") || !doc["tests"].is_array())
    return InvalidArgument(path.string() + " is not a SQL on FHIR test file (JSON with a tests list)");
  SuiteFileResult file;
  file.file = path.filename().string();
  const nlohmann::json resources = FieldOr(doc, "resources", nlohmann::json::array());
  for (const auto& test : doc["tests"]) file.tests.push_back(RunSuiteCase(resources, test));
  return file;
}

Result<std::vector<SuiteFileResult>> RunSuiteDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto& p = entry.path();
    if (p.extension() == ".json" && p.filename().string().find("schema") == std::string::npos) paths.push_back(p);
  }
  if (ec) return IoError("cannot list the test directory " + dir.string() + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  std::vector<SuiteFileResult> results;
  for (const auto& p : paths) {
    auto r = RunSuiteFile(p);
    if (!r.ok()) return r.status();
    results.push_back(std::move(r).value());
  }
  return results;
}

nlohmann::json SuiteReport(const std::vector<SuiteFileResult>& files) {
  nlohmann::json report = nlohmann::json::object();
  for (const SuiteFileResult& file : files) {
    nlohmann::json tests = nlohmann::json::array();
    for (const SuiteCaseResult& t : file.tests) {
      nlohmann::json result = {{"passed", t.passed}};
      if (!t.passed && !t.error.empty()) result["error"] = t.error;
      tests.push_back({{"name", t.name}, {"result", result}});
    }
    report[file.file] = {{"tests", tests}};
  }
  return report;
}

}  // namespace fhirlake::view
