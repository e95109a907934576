#include "fhirlake/load/tombstones.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/load/unload.h"
#include "tests/support/duckdb.h"
#include "tests/support/parquet_readers.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::ReadFile;
using fhirlake::testing::TempDir;
using nlohmann::json;

class TombstonesTest : public ::testing::Test {
 protected:
  // An export directory with Patients [first, first + count) and deletions of `deleted`.
  fs::path Export(int first, int count, const std::vector<int>& deleted, const std::string& transaction_time) {
    const fs::path exp = dir_ / ("export-" + std::to_string(exports_++));
    fs::create_directories(exp / "deleted");
    std::ofstream out(exp / "Patient.000.ndjson");
    for (int i = first; i < first + count; ++i) {
      out << json{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)},
                  {"meta", {{"lastUpdated", "2024-01-01T00:00:00Z"}}}}.dump() << "\n";
    }
    std::ofstream del(exp / "deleted" / "del.ndjson");
    json entries = json::array();
    for (int i : deleted) entries.push_back({{"request", {{"method", "DELETE"}, {"url", "Patient/p" + std::to_string(i)}}}});
    if (!deleted.empty()) del << json{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}.dump() << "\n";
    std::ofstream(exp / "manifest.json") << json{{"transactionTime", transaction_time}}.dump();
    return exp;
  }
  void Merge(const fs::path& exp, bool dvs = false) {
    LoadOptions o;
    o.export_dir = exp;
    o.warehouse = wh();
    o.deletion_vectors = dvs;
    auto r = Load(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  fs::path wh() const { return dir_ / "wh"; }
  std::vector<std::string> DeletedIds(std::optional<int64_t> since = std::nullopt) {
    std::vector<std::string> ids;
    Status s = ForEachTombstone(wh(), "Patient", since, [&](const Tombstone& t) {
      ids.push_back(t.id);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.message();
    return ids;
  }
  // The commitInfo line of the table's commit `version`.
  std::string CommitInfoLine(int64_t version) {
    char name[32];
    std::snprintf(name, sizeof name, "%020lld.json", static_cast<long long>(version));
    std::ifstream in(wh() / "Patient" / "_delta_log" / name);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("\"commitInfo\"") != std::string::npos) return line;
    }
    return "";
  }

  TempDir dir_;
  int exports_ = 0;
};

TEST_F(TombstonesTest, MergeDeletionsLandInTheTombstoneTableThatDuckDbReads) {
  Merge(Export(0, 10, {}, "2024-01-01T00:00:00Z"));
  Merge(Export(10, 1, {2, 5, 99}, "2024-02-01T00:00:00Z"));  // p99 is not in the table: no tombstone
  json rows = DuckDb("SELECT type, id, deletedAt::VARCHAR AS at, tableVersion::INTEGER AS v, transactionTime "
                     "FROM t ORDER BY id",
                     {{"t", TombstoneTableRoot(wh())}});
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  ASSERT_EQ(rows.size(), 2u) << rows.dump();
  EXPECT_EQ(rows[0]["type"], "Patient");
  EXPECT_EQ(rows[0]["id"], "p2");
  EXPECT_EQ(rows[1]["id"], "p5");
  EXPECT_EQ(rows[0]["v"], 1) << "the data table's version that deleted it";
  EXPECT_EQ(rows[0]["transactionTime"], "2024-02-01T00:00:00Z");
  EXPECT_EQ(rows[0]["at"].get<std::string>().substr(0, 10), "2024-02-01") << rows.dump();
  const std::string info = CommitInfoLine(1);
  EXPECT_EQ(info.find("deletedIds"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("numTargetRowsDeleted":2)"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("count":2)"), std::string::npos) << info;
  for (const auto& failure : fhirlake::testing::ParquetReaderFailures(wh())) ADD_FAILURE() << failure;
}

TEST_F(TombstonesTest, ACommitThatDeletesManyRowsStaysSmall) {
  std::vector<int> deleted;
  for (int i = 0; i < 20000; ++i) deleted.push_back(i);
  Merge(Export(0, 20001, {}, "2024-01-01T00:00:00Z"));
  Merge(Export(20001, 1, deleted, "2024-02-01T00:00:00Z"));
  const std::string info = CommitInfoLine(1);
  EXPECT_NE(info.find(R"("numTargetRowsDeleted":20000)"), std::string::npos) << info.substr(0, 500);
  EXPECT_LT(info.size(), 4096u) << "commitInfo holds a count and a file reference, not 20,000 ids";
  EXPECT_EQ(DeletedIds().size(), 20000u);
  json n = DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids FROM t",
                  {{"t", TombstoneTableRoot(wh())}});
  EXPECT_EQ(n[0]["n"], 20000) << n.dump();
  EXPECT_EQ(n[0]["ids"], 20000) << n.dump();
}

TEST_F(TombstonesTest, DeletionVectorMergesRecordTombstonesToo) {
  Merge(Export(0, 10, {}, "2024-01-01T00:00:00Z"), true);
  Merge(Export(10, 1, {3}, "2024-02-01T00:00:00Z"), true);
  EXPECT_EQ(DeletedIds(), std::vector<std::string>{"p3"});
}

TEST_F(TombstonesTest, SinceFiltersByDeletionTime) {
  Merge(Export(0, 10, {}, "2024-01-01T00:00:00Z"));
  Merge(Export(10, 1, {1}, "2024-02-01T00:00:00Z"));
  Merge(Export(11, 1, {2}, "2024-03-01T00:00:00Z"));
  EXPECT_EQ(DeletedIds(), (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(DeletedIds(fhir::ParseFhirTime("2024-02-15T00:00:00Z")), std::vector<std::string>{"p2"});
  const fs::path out = dir_ / "unloaded";
  ASSERT_TRUE(WriteTablesAsNdjson(wh(), {}, out, {}, fhir::ParseFhirTime("2024-02-15T00:00:00Z")).ok());
  const std::string deleted = ReadFile(out / "deleted" / "Bundle.000.ndjson");
  EXPECT_EQ(deleted.find("Patient/p1\""), std::string::npos) << deleted;
  EXPECT_NE(deleted.find(R"("url":"Patient/p2")"), std::string::npos) << deleted;
  EXPECT_NE(deleted.find(R"("lastUpdated":"2024-03-01T00:00:00Z")"), std::string::npos) << deleted;
}

TEST_F(TombstonesTest, OlderCommitsDeletedIdsAreStillRead) {
  Merge(Export(0, 4, {}, "2024-01-01T00:00:00Z"));
  // A merge as earlier versions committed it: the ids in commitInfo.deletedIds (the rows
  // themselves do not matter here).
  delta::Table table(wh() / "Patient");
  auto snap = table.Load();
  ASSERT_TRUE(snap.ok());
  delta::Commit legacy;
  legacy.operation = "MERGE";
  legacy.operation_parameters_json = R"({"mode":"merge"})";
  legacy.commit_info_extra_json =
      json{{"transactionTime", "2024-02-01T00:00:00Z"}, {"deletedIds", {"p0", "p1", "p2"}}}.dump();
  ASSERT_TRUE(table.Write(*snap, legacy).ok());
  Merge(Export(10, 1, {3}, "2024-03-01T00:00:00Z"));
  EXPECT_EQ(DeletedIds(), (std::vector<std::string>{"p0", "p1", "p2", "p3"})) << "old and new, in version order";
  const fs::path out = dir_ / "unloaded";
  ASSERT_TRUE(WriteTablesAsNdjson(wh(), {}, out).ok());
  const std::string deleted = ReadFile(out / "deleted" / "Bundle.000.ndjson");
  EXPECT_EQ(deleted,
            R"({"entry":[{"request":{"method":"DELETE","url":"Patient/p0"}}],"meta":{"lastUpdated":"2024-02-01T00:00:00Z"},"resourceType":"Bundle","type":"transaction"})"
            "\n"
            R"({"entry":[{"request":{"method":"DELETE","url":"Patient/p1"}}],"meta":{"lastUpdated":"2024-02-01T00:00:00Z"},"resourceType":"Bundle","type":"transaction"})"
            "\n"
            R"({"entry":[{"request":{"method":"DELETE","url":"Patient/p2"}}],"meta":{"lastUpdated":"2024-02-01T00:00:00Z"},"resourceType":"Bundle","type":"transaction"})"
            "\n"
            R"({"entry":[{"request":{"method":"DELETE","url":"Patient/p3"}}],"meta":{"lastUpdated":"2024-03-01T00:00:00Z"},"resourceType":"Bundle","type":"transaction"})"
            "\n");
}

TEST_F(TombstonesTest, CompactionMergesTheTombstoneFilesKeepingEveryRow) {
  Merge(Export(0, 20, {}, "2024-01-01T00:00:00Z"));
  for (int i = 0; i < 4; ++i) Merge(Export(100 + i, 1, {i}, "2024-02-0" + std::to_string(i + 1) + "T00:00:00Z"));
  auto before = delta::Table(TombstoneTableRoot(wh())).Load();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->files.size(), 4u);
  auto compacted = CompactTombstones(wh(), {});
  ASSERT_TRUE(compacted.ok()) << compacted.status().message();
  EXPECT_EQ(compacted->files_removed, 4);
  EXPECT_EQ(compacted->files_added, 1);
  EXPECT_EQ(delta::Table(TombstoneTableRoot(wh())).Load()->files.size(), 1u);
  EXPECT_EQ(DeletedIds(), (std::vector<std::string>{"p0", "p1", "p2", "p3"}));
  json n = DuckDb("SELECT count(*)::INTEGER AS n FROM t", {{"t", TombstoneTableRoot(wh())}});
  EXPECT_EQ(n[0]["n"], 4) << n.dump();
}

TEST_F(TombstonesTest, MaintainCompactsTheTombstoneTableToo) {
  Merge(Export(0, 20, {}, "2024-01-01T00:00:00Z"));
  for (int i = 0; i < 3; ++i) Merge(Export(100 + i, 1, {i}, "2024-02-0" + std::to_string(i + 1) + "T00:00:00Z"));
  auto r = fhirlake::testing::RunFhirlake({"maintain", wh().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json report = json::parse(r.out, nullptr, false);
  bool seen = false;
  for (const auto& t : report) {
    if (t.value("table", "") != "_fhirlake/tombstones") continue;
    seen = true;
    EXPECT_EQ(t["compacted"]["filesRemoved"], 3) << t.dump();
  }
  EXPECT_TRUE(seen) << r.out;
  EXPECT_EQ(DeletedIds(), (std::vector<std::string>{"p0", "p1", "p2"}));
}

}  // namespace
}  // namespace fhirlake::load
