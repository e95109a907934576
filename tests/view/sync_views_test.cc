// `fhirlake sync --views DIR` against a real `fhirlake serve` source: the view tables follow
// the warehouse after the first sync and after an incremental one with updates and deletions.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/sample_generator.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kData = FHIRLAKE_TEST_DATA_DIR;

// Numbers as doubles, so 100 (NDJSON) and 100.0 (a DOUBLE column) compare equal.
json Num(const json& v) { return v.is_number() ? json(v.get<double>()) : v; }

class SyncViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fhir::GenerateSample(src(), {12, 5, 100000}).ok());
    fs::create_directories(views());
    fs::copy_file(kData / "views" / "observation_values.json", views() / "observation_values.json");
  }
  fs::path src() const { return dir_ / "source"; }
  fs::path wh() const { return dir_ / "warehouse"; }
  fs::path views() const { return dir_ / "views"; }

  RunResult Sync(const ServerProcess& server) {
    return RunFhirlake({"sync", "--source", server.base_url(), "--warehouse", wh().string(), "--types",
                        "Patient,Observation", "--poll-interval", "50ms", "--views", views().string()});
  }

  // The view table's rows and a fresh run of the view over the warehouse, both sorted.
  void ExpectViewTableEqualsAFullRun(const std::string& when) {
    auto full = RunFhirlake({"view", "run", (views() / "observation_values.json").string(), "--warehouse",
                             wh().string(), "--format", "ndjson"});
    ASSERT_EQ(full.exit_code, 0) << full.err;
    std::vector<std::string> want, got;
    std::istringstream in(full.out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) {
        json r = json::parse(line);
        want.push_back(json({r["id"], Num(r["value"]), r["component_code"]}).dump());
      }
    json rows = DuckDb("SELECT to_json(v)::VARCHAR AS row FROM v", {{"v", wh() / "_views" / "observation_values"}});
    ASSERT_TRUE(rows.is_array()) << rows.dump();
    for (const auto& row : rows) {
      json r = json::parse(row["row"].get<std::string>());
      got.push_back(json({r["id"], Num(r["value"]), r["component_code"]}).dump());
    }
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(got, want) << when;
  }

  TempDir dir_;
};

TEST_F(SyncViewsTest, ViewTablesFollowTheWarehouseAcrossSyncs) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto first = Sync(server);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("observation_values: version 0"), std::string::npos) << first.out;
  ExpectViewTableEqualsAFullRun("after the first sync");

  // Change the source: one Observation updated (a later lastUpdated), one deleted.
  fs::path file;
  for (const auto& e : fs::directory_iterator(src()))
    if (e.path().filename().string().rfind("Observation.", 0) == 0) file = e.path();
  std::vector<std::string> lines;
  {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
  }
  ASSERT_GT(lines.size(), 3u);
  json updated = json::parse(lines[0]);
  const std::string now = fhir::FormatInstant(fhir::NowMicros() + 1000);
  updated["meta"]["lastUpdated"] = now;
  updated["valueQuantity"] = {{"value", 777.25}, {"unit", "kg"}};
  updated.erase("component");
  updated.erase("valueCodeableConcept");
  lines[0] = updated.dump();
  json deleted = json::parse(lines[1]);
  lines.erase(lines.begin() + 1);
  {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& l : lines) out << l << '\n';
    fs::create_directories(src() / "deleted");
    std::ofstream del(src() / "deleted" / "Bundle.000.ndjson");
    del << json({{"resourceType", "Bundle"}, {"type", "transaction"}, {"meta", {{"lastUpdated", now}}},
                 {"entry", {{{"request", {{"method", "DELETE"}, {"url", "Observation/" + deleted["id"].get<std::string>()}}}}}}})
               .dump()
        << '\n';
  }
  auto second = Sync(server);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ExpectViewTableEqualsAFullRun("after the incremental sync");
  json hit = DuckDb("SELECT count(*)::INTEGER AS n FROM v WHERE value = 777.25",
                    {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(hit.is_array()) << hit.dump();
  EXPECT_EQ(hit[0]["n"], 1);
  json gone = DuckDb("SELECT count(*)::INTEGER AS n FROM v WHERE id = '" + deleted["id"].get<std::string>() + "'",
                     {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(gone.is_array()) << gone.dump();
  EXPECT_EQ(gone[0]["n"], 0) << "the deleted Observation's rows left the view";
}

// The config file's "views" key (a list, as sync's other list options take) does what --views
// does: each view is materialised after the sync.
TEST_F(SyncViewsTest, TheConfigFilesViewsKeyRefreshesTheViews) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  json second = json::parse(ReadFile(views() / "observation_values.json"));
  second["name"] = "observation_values_again";
  std::ofstream(dir_ / "again.json") << second.dump();
  std::ofstream(dir_ / "sync.json") << json{{"source", server.base_url()},
                                           {"warehouse", wh().string()},
                                           {"types", {"Patient", "Observation"}},
                                           {"views", {(views() / "observation_values.json").string(),
                                                      (dir_ / "again.json").string()}}}
                                           .dump();
  auto run = RunFhirlake({"sync", "--config", (dir_ / "sync.json").string(), "--poll-interval", "50ms"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("observation_values: version 0"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("observation_values_again: version 0"), std::string::npos) << run.out;
  ExpectViewTableEqualsAFullRun("after a sync configured by file");
  json again = DuckDb("SELECT count(*)::INTEGER AS n FROM v", {{"v", wh() / "_views" / "observation_values_again"}});
  json first = DuckDb("SELECT count(*)::INTEGER AS n FROM v", {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(again.is_array() && first.is_array()) << again.dump() << first.dump();
  EXPECT_GT(first[0]["n"].get<int>(), 0);
  EXPECT_EQ(again[0]["n"], first[0]["n"]);
}

}  // namespace
}  // namespace fhirlake::testing
