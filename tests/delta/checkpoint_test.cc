#include "fhirlake/delta/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "fhirlake/delta/log_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/file_writer.h"
#include "tests/support/duckdb.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::delta {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;
using nlohmann::json;

const fs::path kGolden = fs::path(FHIRLAKE_TEST_DATA) / "delta-golden";

// Live rows of a snapshot: each data file's row count (from its footer) minus the rows its
// deletion vector names (decoded, and checked against the vector's cardinality).
int64_t LiveRows(const fs::path& root, const Snapshot& s) {
  int64_t rows = 0;
  for (const AddFile& f : s.files) {
    auto reader = parquet::FileReader::Open(root / f.path);
    EXPECT_TRUE(reader.ok()) << f.path << ": " << reader.status().message();
    if (!reader.ok()) return -1;
    rows += (*reader)->rows();
    if (f.deletion_vector) {
      auto deleted = ReadDeletionVector(root, *f.deletion_vector);
      EXPECT_TRUE(deleted.ok()) << f.path << ": " << deleted.status().message();
      if (!deleted.ok()) return -1;
      EXPECT_EQ(static_cast<int64_t>(deleted->size()), f.deletion_vector->cardinality) << f.path;
      rows -= static_cast<int64_t>(deleted->size());
    }
  }
  return rows;
}

std::set<std::string> FileKeys(const Snapshot& s) {
  std::set<std::string> keys;
  for (const AddFile& f : s.files) keys.insert(f.path + (f.deletion_vector ? "#" + f.deletion_vector->UniqueId() : ""));
  return keys;
}

struct GoldenCase {
  const char* table;
  int64_t version;     // the latest version
  int64_t checkpoint;  // the checkpoint the state comes from, or -1
  int64_t rows;        // live rows, from GoldenTables.scala
};

class GoldenTableTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTableTest, ReadsTheStateDeltaWrote) {
  const GoldenCase& c = GetParam();
  const fs::path root = kGolden / c.table;
  auto snap = Table(root).Load();
  ASSERT_TRUE(snap.ok()) << snap.status().message();
  EXPECT_EQ(snap->version, c.version);
  EXPECT_EQ(snap->checkpoint_version, c.checkpoint);
  EXPECT_FALSE(snap->schema_string.empty());
  EXPECT_EQ(LiveRows(root, *snap), c.rows);
  // DuckDB over the same table, with the test script's own log replay and DV decoding.
  json rows = DuckDb("SELECT count(*)::INTEGER AS n FROM t", {{"t", root}});
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"].get<int64_t>(), c.rows);
}

TEST_P(GoldenTableTest, CheckpointStateEqualsJsonReplay) {
  const GoldenCase& c = GetParam();
  if (c.checkpoint < 0) GTEST_SKIP() << "no checkpoint";
  TempDir dir;
  fs::copy(kGolden / c.table, dir.path() / "t", fs::copy_options::recursive);
  auto from_checkpoint = Table(dir.path() / "t").Load();
  ASSERT_TRUE(from_checkpoint.ok()) << from_checkpoint.status().message();
  auto listed = ListLogFiles(dir.path() / "t");
  ASSERT_TRUE(listed.ok());
  for (const auto& f : *listed) {
    if (f.kind != LogFileKind::kCommit) fs::remove(f.path);
  }
  fs::remove(dir.path() / "t" / "_delta_log" / kLastCheckpointName);
  auto from_json = Table(dir.path() / "t").Load();
  ASSERT_TRUE(from_json.ok()) << from_json.status().message();
  EXPECT_EQ(from_json->checkpoint_version, -1);
  EXPECT_EQ(FileKeys(*from_checkpoint), FileKeys(*from_json));
  EXPECT_EQ(from_checkpoint->schema_string, from_json->schema_string);
  EXPECT_EQ(from_checkpoint->configuration, from_json->configuration);
  EXPECT_EQ(from_checkpoint->partition_columns, from_json->partition_columns);
  EXPECT_EQ(from_checkpoint->protocol.writer_features, from_json->protocol.writer_features);
  EXPECT_LE(from_checkpoint->log_files_read, from_json->log_files_read);
}

INSTANTIATE_TEST_SUITE_P(
    Golden, GoldenTableTest,
    ::testing::Values(GoldenCase{"basic-with-inserts-deletes-checkpoint", 13, 10, 41},
                      GoldenCase{"multi-part-checkpoint", 1, 1, 31}, GoldenCase{"only-checkpoint-files", 2, 2, 25},
                      GoldenCase{"dv-partitioned-with-checkpoint", 15, 10, 35},
                      GoldenCase{"log-replay-dv-key-cases", 3, -1, 47}, GoldenCase{"data-reader-nested-struct", 0, -1, 10},
                      GoldenCase{"data-reader-array-complex-objects", 0, -1, 10},
                      GoldenCase{"data-skipping-basic-stats-all-types-checkpoint", 0, -1, 1}),
    [](const ::testing::TestParamInfo<GoldenCase>& info) {
      std::string name = info.param.table;
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

TEST(GoldenCheckpointTest, ReadsTheLogOfFileActionsOnly) {
  // `checkpoint`: 15 commits each adding file i and removing file i-1; a checkpoint at 10.
  auto snap = Table(kGolden / "checkpoint").Load();
  ASSERT_TRUE(snap.ok()) << snap.status().message();
  EXPECT_EQ(snap->version, 14);
  EXPECT_EQ(snap->checkpoint_version, 10);
  ASSERT_EQ(snap->files.size(), 1u);
  EXPECT_EQ(snap->files[0].path, "15");
  EXPECT_EQ(snap->log_files_read, 5);  // the checkpoint and commits 11..14
}

TEST(LogFilesTest, ListsEachVersionsCommitThenItsCheckpointsAndChecksum) {
  TempDir dir;
  const fs::path log = dir.path() / "t" / "_delta_log";
  fs::create_directories(log);
  const std::vector<std::string> names = {
      CheckpointPartFileName(5, 2, 2), CheckpointPartFileName(5, 3, 3), CommitFileName(6), CheckpointFileName(5),
      CheckpointPartFileName(5, 1, 2), CheckpointPartFileName(5, 1, 3), CommitFileName(5), CheckpointPartFileName(5, 2, 3),
      CommitFileName(4), "00000000000000000005.crc", "_last_checkpoint"};
  for (const auto& n : names) std::ofstream(log / n) << "x";
  auto listed = ListLogFiles(dir.path() / "t");
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> order;
  for (const auto& f : *listed) order.push_back(f.path.filename().string());
  EXPECT_EQ(order, (std::vector<std::string>{CommitFileName(4), CommitFileName(5), CheckpointFileName(5),
                                             CheckpointPartFileName(5, 1, 2), CheckpointPartFileName(5, 2, 2),
                                             CheckpointPartFileName(5, 1, 3), CheckpointPartFileName(5, 2, 3),
                                             CheckpointPartFileName(5, 3, 3), "00000000000000000005.crc",
                                             CommitFileName(6)}));
}

TEST(GoldenCheckpointTest, ReadsLastCheckpointHint) {
  auto last = ReadLastCheckpoint(kGolden / "multi-part-checkpoint");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->version, 1);
  EXPECT_EQ(last->parts, 2);
  EXPECT_EQ(last->num_of_add_files, 10);
  EXPECT_FALSE(ReadLastCheckpoint(kGolden / "log-replay-dv-key-cases").has_value());
}

TEST(GoldenCheckpointTest, CheckpointActionsCarryMapsListsAndVectors) {
  std::vector<json> actions;
  Status s = ReadCheckpointActions(kGolden / "dv-partitioned-with-checkpoint" / "_delta_log" / CheckpointFileName(10),
                                   [&](const json& a) {
                                     actions.push_back(a);
                                     return Status::Ok();
                                   });
  ASSERT_TRUE(s.ok()) << s.message();
  int adds = 0, with_dv = 0;
  for (const json& a : actions) {
    if (a.contains("protocol")) {
      EXPECT_EQ(a["protocol"]["readerFeatures"], json::array({"deletionVectors"}));
      EXPECT_EQ(a["protocol"]["minWriterVersion"], 7);
    }
    if (a.contains("metaData")) {
      EXPECT_EQ(a["metaData"]["partitionColumns"], json::array({"part"}));
      EXPECT_EQ(a["metaData"]["configuration"]["delta.enableDeletionVectors"], "true");
      EXPECT_EQ(a["metaData"]["format"]["provider"], "parquet");
    }
    if (a.contains("add")) {
      ++adds;
      EXPECT_TRUE(a["add"]["partitionValues"].contains("part")) << a.dump();
      EXPECT_FALSE(a["add"]["dataChange"].get<bool>());
      if (a["add"].contains("deletionVector")) {
        ++with_dv;
        EXPECT_EQ(a["add"]["deletionVector"]["storageType"], "u");
        EXPECT_TRUE(a["add"]["deletionVector"]["offset"].is_number());
      }
    }
  }
  EXPECT_EQ(adds, 18);  // _last_checkpoint's numOfAddFiles
  EXPECT_GT(with_dv, 0);
}

// A null partition value and an add's tags (Spark writes both) survive a checkpoint that
// fhirlake writes, as the JSON commits had them.
TEST(CheckpointTest, KeepsNullPartitionValuesAndTags) {
  TempDir dir;
  const fs::path root = dir.path() / "t";
  fs::create_directories(root / "_delta_log");
  const json schema = {{"type", "struct"},
                       {"fields", {{{"name", "id"}, {"type", "long"}, {"nullable", true}, {"metadata", json::object()}},
                                   {{"name", "p"}, {"type", "string"}, {"nullable", true}, {"metadata", json::object()}}}}};
  std::ofstream(root / "_delta_log" / CommitFileName(0))
      << json{{"protocol", {{"minReaderVersion", 1}, {"minWriterVersion", 2}}}}.dump() << "\n"
      << json{{"metaData", {{"id", "t"}, {"format", {{"provider", "parquet"}, {"options", json::object()}}},
                            {"schemaString", schema.dump()}, {"partitionColumns", {"p"}},
                            {"configuration", json::object()}, {"createdTime", 1}}}}.dump() << "\n"
      << R"({"add":{"path":"p=__HIVE_DEFAULT_PARTITION__/a.parquet","partitionValues":{"p":null},"size":10,)"
         R"("modificationTime":1,"dataChange":true,"tags":{"INSERTION_TIME":"1700000000000000"}}})" << "\n"
      << R"({"add":{"path":"p=x/b.parquet","partitionValues":{"p":"x"},"size":20,"modificationTime":1,"dataChange":true}})"
      << "\n";
  auto check = [](const Snapshot& s) {
    ASSERT_EQ(s.files.size(), 2u);
    const AddFile& a = s.files[0].path.ends_with("a.parquet") ? s.files[0] : s.files[1];
    const AddFile& b = s.files[0].path.ends_with("a.parquet") ? s.files[1] : s.files[0];
    EXPECT_EQ(a.partition_values, (std::map<std::string, std::optional<std::string>>{{"p", std::nullopt}}));
    EXPECT_EQ(a.tags, (std::map<std::string, std::string>{{"INSERTION_TIME", "1700000000000000"}}));
    EXPECT_EQ(b.partition_values, (std::map<std::string, std::optional<std::string>>{{"p", "x"}}));
    EXPECT_TRUE(b.tags.empty());
  };
  auto from_json = Table(root).Load();
  ASSERT_TRUE(from_json.ok()) << from_json.status().message();
  check(*from_json);
  ASSERT_TRUE(WriteCheckpoint(root, *from_json, 2).ok());
  fs::remove(root / "_delta_log" / CommitFileName(0));
  auto from_checkpoint = Table(root).Load();
  ASSERT_TRUE(from_checkpoint.ok()) << from_checkpoint.status().message();
  EXPECT_EQ(from_checkpoint->checkpoint_version, 0);
  check(*from_checkpoint);
  // What another reader finds in the checkpoint: the key with a null value, and the tag.
  json rows = DuckDb("SELECT add.path AS path, cardinality(add.partitionValues)::INTEGER AS n, "
                     "list_extract(map_values(add.partitionValues), 1) AS p, "
                     "list_extract(map_values(add.tags), 1) AS t FROM read_parquet('" +
                     (root / "_delta_log" / CheckpointFileName(0)).string() + "') WHERE add IS NOT NULL ORDER BY path");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["path"], "p=__HIVE_DEFAULT_PARTITION__/a.parquet") << rows.dump();
  EXPECT_EQ(rows[0]["n"], 1);
  EXPECT_TRUE(rows[0]["p"].is_null()) << rows.dump();
  EXPECT_EQ(rows[0]["t"], "1700000000000000");
  EXPECT_EQ(rows[1]["p"], "x");
  EXPECT_TRUE(rows[1]["t"].is_null());
}

// A checkpoint whose adds carry their statistics only as a struct (Delta with
// delta.checkpoint.writeStatsAsJson=false), here written by DuckDB: the row counts come from
// stats_parsed, and survive a checkpoint that fhirlake writes from that state.
TEST(CheckpointTest, ReadsRowCountsFromStatsParsed) {
  TempDir dir;
  const fs::path root = dir.path() / "t";
  fs::create_directories(root / "_delta_log");
  const std::string schema =
      R"({"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]})";
  json written = DuckDb(
      "COPY (SELECT "
      "CASE WHEN i = 0 THEN {'minReaderVersion': 1, 'minWriterVersion': 2} END AS protocol, "
      "CASE WHEN i = 1 THEN {'id': 't', 'format': {'provider': 'parquet', 'options': MAP {}::MAP(VARCHAR, VARCHAR)}, "
      "'schemaString': '" + schema + "', 'partitionColumns': []::VARCHAR[], "
      "'configuration': MAP {}::MAP(VARCHAR, VARCHAR), 'createdTime': 1::BIGINT} END AS metaData, "
      "CASE WHEN i >= 2 THEN {'path': 'f' || i || '.parquet', 'partitionValues': MAP {}::MAP(VARCHAR, VARCHAR), "
      "'size': 100::BIGINT, 'modificationTime': 1::BIGINT, 'dataChange': false, "
      "'stats_parsed': {'numRecords': (i * 10)::BIGINT, 'minValues': {'id': 1::BIGINT}}} END AS add "
      "FROM range(0, 4) r(i)) TO '" + (root / "_delta_log" / CheckpointFileName(0)).string() + "' (FORMAT parquet)");
  ASSERT_TRUE(written.is_array()) << written.dump();
  auto check = [](const Snapshot& s) {
    ASSERT_EQ(s.files.size(), 2u);
    std::map<std::string, int64_t> rows;
    for (const AddFile& f : s.files) rows[f.path] = f.num_records;
    EXPECT_EQ(rows, (std::map<std::string, int64_t>{{"f2.parquet", 20}, {"f3.parquet", 30}}));
  };
  auto from_duckdb = Table(root).Load();
  ASSERT_TRUE(from_duckdb.ok()) << from_duckdb.status().message();
  EXPECT_EQ(from_duckdb->checkpoint_version, 0);
  check(*from_duckdb);
  // fhirlake's own checkpoint of that state (at version 1, the only checkpoint left).
  Snapshot next = *from_duckdb;
  next.version = 1;
  ASSERT_TRUE(WriteCheckpoint(root, next, 2).ok());
  fs::remove(root / "_delta_log" / CheckpointFileName(0));
  auto from_fhirlake = Table(root).Load();
  ASSERT_TRUE(from_fhirlake.ok()) << from_fhirlake.status().message();
  EXPECT_EQ(from_fhirlake->checkpoint_version, 1);
  check(*from_fhirlake);
}

// The retention properties as Delta reads them: any case, several units summed; text that is
// not an interval keeps the protocol's default.
TEST(RetentionPropertiesTest, AreReadAsDeltaReadsThem) {
  constexpr int64_t kDay = 86400000;
  auto tombstones = [](const std::string& text) {
    Snapshot s;
    s.configuration["delta.deletedFileRetentionDuration"] = text;
    return TombstoneRetentionMillis(s);
  };
  EXPECT_EQ(tombstones("interval 30 days"), 30 * kDay);
  EXPECT_EQ(tombstones("INTERVAL 30 DAYS"), 30 * kDay);
  EXPECT_EQ(tombstones("interval 4 weeks 2 days"), 30 * kDay);
  EXPECT_EQ(tombstones("interval 1 day 12 hours"), kDay + kDay / 2);
  EXPECT_EQ(tombstones("168 hours"), 7 * kDay);
  EXPECT_EQ(tombstones("interval 1 fortnight"), 7 * kDay) << "unknown unit: the default";
  EXPECT_EQ(tombstones("interval 3 days and more"), 7 * kDay);
  EXPECT_EQ(tombstones(""), 7 * kDay);
  EXPECT_EQ(TombstoneRetentionMillis(Snapshot{}), 7 * kDay);
  Snapshot logs;
  logs.configuration["delta.logRetentionDuration"] = "Interval 2 Weeks";
  EXPECT_EQ(LogRetentionMillis(logs), 14 * kDay);
  EXPECT_EQ(LogRetentionMillis(Snapshot{}), 30 * kDay);
}

}  // namespace
}  // namespace fhirlake::delta
