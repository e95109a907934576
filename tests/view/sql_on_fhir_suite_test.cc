// The official SQL on FHIR v2 test suite (tests/data/sql-on-fhir), one ctest test per case:
// `view_tests` lists them as SqlOnFhir/Suite.Case/<file>__<title>.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fhirlake/view/test_suite.h"

namespace fhirlake::view {
namespace {

const std::filesystem::path kSuiteDir = FHIRLAKE_SQL_ON_FHIR_DIR;

struct SuiteCase {
  std::string file;
  size_t index;
  std::string title;
};

// What ctest shows beside a case's name.
void PrintTo(const SuiteCase& c, std::ostream* os) { *os << c.file << " / " << c.title; }

std::vector<SuiteCase> AllCases() {
  std::vector<SuiteCase> cases;
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kSuiteDir, ec))
    if (entry.path().extension() == ".json" && entry.path().filename().string().find("schema") == std::string::npos)
      paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    std::ifstream in(p);
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.contains("tests")) continue;
    for (size_t i = 0; i < doc["tests"].size(); ++i)
      cases.push_back({p.filename().string(), i, doc["tests"][i].value("title", "")});
  }
  return cases;
}

std::string CaseName(const testing::TestParamInfo<SuiteCase>& info) {
  std::string name = info.param.file.substr(0, info.param.file.size() - 5) + "__" + info.param.title;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name + "_" + std::to_string(info.param.index);
}

class Suite : public testing::TestWithParam<SuiteCase> {};

TEST_P(Suite, Case) {
  std::ifstream in(kSuiteDir / GetParam().file);
  nlohmann::json doc = nlohmann::json::parse(in);
  SuiteCaseResult result = RunSuiteCase(doc["resources"], doc["tests"][GetParam().index]);
  EXPECT_TRUE(result.passed) << GetParam().file << " / " << GetParam().title << ": " << result.error;
}

INSTANTIATE_TEST_SUITE_P(SqlOnFhir, Suite, testing::ValuesIn(AllCases()), CaseName);

TEST(SqlOnFhirSuite, HasEveryCase) {
  EXPECT_EQ(AllCases().size(), 134u) << "tests/data/sql-on-fhir should hold the 22 files of the suite";
}

}  // namespace
}  // namespace fhirlake::view
