// fhirlake load as users run it, with the tables read back through the Delta log by DuckDB.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/sample_generator.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fhir::GenerateSample(src(), {25, 3, 100000}).ok()); }
  fs::path src() const { return dir_ / "export"; }
  fs::path wh() const { return dir_ / "warehouse"; }

  // Runs DuckDB over the table's active files (log replay) with `select` over `t`.
  json Query(const std::string& type, const std::string& select) {
    auto snap = delta::Table(wh() / type).Load();
    EXPECT_TRUE(snap.ok());
    std::string list;
    for (const auto& f : snap->files) list += (list.empty() ? "'" : ",'") + (wh() / type / f.path).string() + "'";
    if (list.empty()) return json::array();
    return DuckDb("SELECT " + select + " FROM read_parquet([" + list + "]) t");
  }
  int Rows(const std::string& type) {
    json r = Query(type, "count(*)::INTEGER AS n");
    return r.empty() ? 0 : r[0]["n"].get<int>();
  }
  int64_t Version(const std::string& type) { return delta::Table(wh() / type).Load()->version; }
  std::vector<std::string> Lines(const fs::path& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
  }

  TempDir dir_;
};

TEST_F(LoadTest, OverwriteLoadsEveryTypeLosslessly) {
  auto r = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& e : fs::directory_iterator(src())) {
    std::string type = e.path().filename().string();
    type = type.substr(0, type.find('.'));
    auto lines = Lines(e.path());
    EXPECT_EQ(Rows(type), static_cast<int>(lines.size())) << type;
    json back = Query(type, "_json, id");
    std::multiset<std::string> got, want(lines.begin(), lines.end());
    for (const auto& row : back) {
      got.insert(row["_json"].get<std::string>());
      EXPECT_NE(row["_json"].get<std::string>().find("\"id\":\"" + row["id"].get<std::string>() + "\""), std::string::npos);
    }
    EXPECT_TRUE(got == want) << type << ": _json must round-trip byte for byte";
  }
  json names = Query("Patient", "count(name[1].family)::INTEGER AS families, sum(len(name))::INTEGER AS names");
  EXPECT_EQ(names[0]["families"], 25);
  EXPECT_EQ(names[0]["names"], 25);
  json log = json::parse(Lines(wh() / "Patient" / "_delta_log" / "00000000000000000000.json")[0]);
  EXPECT_EQ(log["commitInfo"]["numOutputRows"], 25);
}

TEST_F(LoadTest, AppendAddsAndOverwriteReplaces) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "append", "--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(Rows("Patient"), 50);
  EXPECT_EQ(Version("Patient"), 1);
  EXPECT_FALSE(fs::exists(wh() / "Observation")) << "--types limits the load";
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(Rows("Patient"), 25);
  EXPECT_EQ(Version("Patient"), 2);
}

TEST_F(LoadTest, IgnoreSkipsAndErrorRefusesAnExistingTable) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  auto ignore = RunFhirlake({"load", src().string(), wh().string(), "--mode", "ignore", "--types", "Patient"});
  EXPECT_EQ(ignore.exit_code, 0) << ignore.err;
  EXPECT_NE(ignore.err.find("skipped"), std::string::npos);
  EXPECT_EQ(Version("Patient"), 0);
  auto error = RunFhirlake({"load", src().string(), wh().string(), "--mode", "error", "--types", "Patient"});
  EXPECT_EQ(error.exit_code, 2);
  EXPECT_NE(error.err.find("exists and the save mode is 'error'"), std::string::npos) << error.err;
  EXPECT_EQ(Version("Patient"), 0);
}

TEST_F(LoadTest, BadLinesAreReportedAndTheRestLoads) {
  std::ofstream(src() / "Condition.bad.ndjson")
      << "this is not json\n"
      << R"({"resourceType":"Condition","code":{"text":"no id"}})" << "\n"
      << R"({"resourceType":"Observation","id":"wrong-file"})" << "\n"
      << R"({"id":"no-type"})" << "\n"
      << R"({"resourceType":"Condition","id":"good-one"})" << "\n";
  auto strict = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Condition"});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("4 lines were not loaded"), std::string::npos) << strict.err;
  std::vector<std::string> outcomes;
  for (const auto& e : fs::directory_iterator(wh() / "_errors")) {
    for (auto& l : Lines(e.path())) outcomes.push_back(json::parse(l)["issue"][0]["diagnostics"]);
  }
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_NE(outcomes[0].find("Condition.bad.ndjson line 1: not a valid JSON"), std::string::npos) << outcomes[0];
  EXPECT_NE(outcomes[1].find("line 2: the resource has no id"), std::string::npos) << outcomes[1];
  EXPECT_NE(outcomes[2].find("line 3: resourceType Observation does not match"), std::string::npos) << outcomes[2];
  EXPECT_NE(outcomes[3].find("line 4: the resource has no resourceType"), std::string::npos) << outcomes[3];
  json good = Query("Condition", "count(*)::INTEGER AS n");
  int generated = static_cast<int>(Lines(src() / "Condition.000.ndjson").size());
  EXPECT_EQ(good[0]["n"], generated + 1);
  auto lenient = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Condition",
                              "--allow-errors"});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.err;
}

TEST_F(LoadTest, AnOverlongLineIsReportedAndSkipped) {
  std::ofstream(src() / "Procedure.long.ndjson")
      << R"({"resourceType":"Procedure","id":"long","note":[{"text":")" << std::string(2u << 20, 'x') << "\"}]}\n"
      << R"({"resourceType":"Procedure","id":"after-long"})" << "\n";
  auto r = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Procedure",
                        "--max-line-bytes", "1048576"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("1 lines were not loaded"), std::string::npos) << r.err;
  std::string outcome;
  for (const auto& e : fs::directory_iterator(wh() / "_errors")) outcome += ReadFile(e.path());
  EXPECT_NE(outcome.find("Procedure.long.ndjson line 1"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find("longer than 1048576 bytes"), std::string::npos) << outcome;
  json after = Query("Procedure", "count(*)::INTEGER AS n");
  int generated = static_cast<int>(Lines(src() / "Procedure.000.ndjson").size());
  EXPECT_EQ(after[0]["n"], generated + 1) << "the line after the long one is loaded";
}

TEST_F(LoadTest, ACrashBeforeCommitLeavesThePreviousVersion) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  auto crashed = RunFhirlake({"load", src().string(), wh().string(), "--mode", "append", "--types", "Patient"},
                             {"FHIRLAKE_TEST_CRASH=before-commit"});
  EXPECT_EQ(crashed.exit_code, 86);
  size_t data_files = 0;
  for (const auto& e : fs::directory_iterator(wh() / "Patient")) data_files += e.path().extension() == ".parquet";
  EXPECT_EQ(data_files, 2u) << "the crashed run did write its data file";
  EXPECT_EQ(Version("Patient"), 0);
  EXPECT_EQ(Rows("Patient"), 25) << "an uncommitted data file is not visible";
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "append", "--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(Rows("Patient"), 50);
}

TEST_F(LoadTest, MergeIsNotAvailableYetAndSaysSo) {
  auto r = RunFhirlake({"load", src().string(), wh().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'merge' is not available yet"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(wh() / "Patient"));
}

}  // namespace
}  // namespace fhirlake::testing
