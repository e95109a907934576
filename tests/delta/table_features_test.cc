// Table features (PROTOCOL.md, "Table Features"), append-only tables, commit info and the
// checkpoints fhirlake writes.
#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>

#include "fhirlake/delta/checkpoint.h"
#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/schema.h"
#include "tests/support/duckdb.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::delta {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;
using nlohmann::json;

class TableFeaturesTest : public ::testing::Test {
 protected:
  // A data file of `count` rows with one column `id`.
  AddFile DataFile(const std::string& name, int first, int count) {
    std::vector<std::unique_ptr<parquet::SchemaNode>> cols;
    cols.push_back(parquet::Leaf("id", parquet::PhysicalType::kByteArray, parquet::LogicalType::kString));
    parquet::Schema schema(std::move(cols));
    auto w = parquet::FileWriter::Open(dir_ / name, schema);
    EXPECT_TRUE(w.ok());
    for (int i = first; i < first + count; ++i) {
      (*w)->column(0).AddBytes(0, "p" + std::to_string(i));
      EXPECT_TRUE((*w)->EndRow().ok());
    }
    EXPECT_TRUE((*w)->Close().ok());
    AddFile f;
    f.path = name;
    f.size = static_cast<int64_t>(fs::file_size(dir_ / name));
    f.modification_time = 1;
    f.num_records = count;
    f.stats_json = json{{"numRecords", count}}.dump();
    return f;
  }
  Commit Append(std::vector<AddFile> adds) {
    Commit c;
    c.operation = "WRITE";
    c.operation_parameters_json = R"({"mode":"Append"})";
    c.adds = std::move(adds);
    c.blind_append = true;
    return c;
  }
  Commit Merge(std::vector<AddFile> adds, std::vector<AddFile> removes) {
    Commit c;
    c.operation = "MERGE";
    c.operation_parameters_json = "{}";
    c.adds = std::move(adds);
    c.removes = std::move(removes);
    return c;
  }
  Snapshot Load() {
    auto s = table_.Load();
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : Snapshot{};
  }
  void Create() {
    Commit c = Append({DataFile("a.parquet", 0, 5)});
    c.schema_string = R"({"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}}]})";
    ASSERT_TRUE(table_.Write(Load(), c).ok());
  }
  // Appends a commit written by another engine, as it wrote it.
  void RawCommit(const std::vector<json>& actions) {
    Snapshot s = Load();
    std::ofstream out(dir_ / "_delta_log" / CommitFileName(s.version + 1));
    for (const json& a : actions) out << a.dump() << "\n";
  }
  std::vector<json> Actions(int64_t version) {
    std::vector<json> out;
    std::ifstream in(dir_ / "_delta_log" / CommitFileName(version));
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }
  json Find(int64_t version, const char* kind) {
    for (const json& a : Actions(version)) {
      if (a.contains(kind)) return a[kind];
    }
    return nullptr;
  }

  TempDir dir_;
  Table table_{dir_.path()};
};

TEST_F(TableFeaturesTest, SparkUpgradedTableIsMergedIntoAndKeepsItsFeatures) {
  Create();
  RawCommit({{{"commitInfo", {{"operation", "SET TBLPROPERTIES"}}}},
             {{"protocol", {{"minReaderVersion", 3}, {"minWriterVersion", 7}, {"readerFeatures", {"deletionVectors"}},
                            {"writerFeatures", {"appendOnly", "invariants", "deletionVectors"}}}}},
             {{"metaData", {{"id", "spark-table"}, {"name", "patients"}, {"description", "from Spark"},
                            {"format", {{"provider", "parquet"}, {"options", json::object()}}},
                            {"schemaString", Load().schema_string}, {"partitionColumns", json::array()},
                            {"configuration", {{"delta.enableDeletionVectors", "true"}}}, {"createdTime", 1234}}}}});
  Snapshot s = Load();
  EXPECT_TRUE(s.write_refusal.empty()) << s.write_refusal;
  EXPECT_TRUE(s.deletion_vectors_enabled());
  auto v = table_.Write(s, Merge({DataFile("b.parquet", 0, 5)}, {s.files[0]}));
  ASSERT_TRUE(v.ok()) << v.status().message();
  Snapshot after = Load();
  EXPECT_EQ(after.protocol.min_writer_version, 7);
  EXPECT_EQ(after.protocol.writer_features, (std::vector<std::string>{"appendOnly", "invariants", "deletionVectors"}));
  EXPECT_EQ(after.table_name, "patients");
  EXPECT_FALSE(Find(*v, "commitInfo")["isBlindAppend"].get<bool>());
}

TEST_F(TableFeaturesTest, OwnUpgradeKeepsLegacyFeatures) {
  Create();
  Snapshot s = Load();
  Commit c = Merge({}, {});
  c.enable_deletion_vectors = true;
  auto v = table_.Write(s, c);
  ASSERT_TRUE(v.ok()) << v.status().message();
  json p = Find(*v, "protocol");
  EXPECT_EQ(p["minReaderVersion"], 3);
  EXPECT_EQ(p["minWriterVersion"], 7);
  EXPECT_EQ(p["readerFeatures"], json::array({"deletionVectors"}));
  EXPECT_EQ(p["writerFeatures"], json::array({"appendOnly", "invariants", "deletionVectors"}));
  EXPECT_TRUE(Load().deletion_vectors_enabled());
}

// A reader 2 / writer 5 table (columnMapping implied, mode none) upgraded for deletion vectors
// lists columnMapping at writer 7, and stays writable. (It was refused after the upgrade, so
// fhirlake could neither write nor vacuum a table it had upgraded itself.)
TEST_F(TableFeaturesTest, AnUpgradedWriterFiveTableStaysWritable) {
  Create();
  RawCommit({{{"protocol", {{"minReaderVersion", 2}, {"minWriterVersion", 5}}}}});
  Snapshot legacy = Load();
  ASSERT_TRUE(legacy.write_refusal.empty()) << legacy.write_refusal;
  Commit c = Merge({}, {});
  c.enable_deletion_vectors = true;
  auto v = table_.Write(legacy, c);
  ASSERT_TRUE(v.ok()) << v.status().message();
  json p = Find(*v, "protocol");
  EXPECT_EQ(p["minWriterVersion"], 7);
  EXPECT_NE(std::find(p["writerFeatures"].begin(), p["writerFeatures"].end(), "columnMapping"), p["writerFeatures"].end())
      << p.dump();
  Snapshot upgraded = Load();
  EXPECT_TRUE(upgraded.write_refusal.empty()) << upgraded.write_refusal;
  EXPECT_TRUE(table_.Write(upgraded, Append({DataFile("b.parquet", 5, 2)})).ok());
}

TEST_F(TableFeaturesTest, RefusesUnknownWriterFeatures) {
  Create();
  RawCommit({{{"protocol", {{"minReaderVersion", 3}, {"minWriterVersion", 7}, {"readerFeatures", json::array()},
                            {"writerFeatures", {"rowTracking", "domainMetadata"}}}}}});
  Snapshot s = Load();
  EXPECT_NE(s.write_refusal.find("rowTracking"), std::string::npos);
  auto v = table_.Write(s, Append({DataFile("b.parquet", 5, 1)}));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("refusing to write"), std::string::npos);
}

TEST_F(TableFeaturesTest, AppendOnlyRefusesMergeAtWriterVersionTwo) {
  Create();
  Commit props = Merge({}, {});
  props.operation = "SET TBLPROPERTIES";
  props.set_configuration = {{"delta.appendOnly", "true"}};
  ASSERT_TRUE(table_.Write(Load(), props).ok());
  Snapshot s = Load();
  EXPECT_EQ(s.protocol.min_writer_version, 2);
  EXPECT_TRUE(s.append_only());
  auto v = table_.Write(s, Merge({DataFile("b.parquet", 0, 5)}, {s.files[0]}));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("delta.appendOnly=true"), std::string::npos) << v.status().message();
  EXPECT_TRUE(table_.Write(s, Append({DataFile("c.parquet", 5, 1)})).ok());  // appends still work
  // Rearranging data (dataChange false) is not a change of data.
  Snapshot s2 = Load();
  Commit compact = Merge({DataFile("d.parquet", 0, 6)}, s2.files);
  compact.data_change = false;
  EXPECT_TRUE(table_.Write(s2, compact).ok());
}

TEST_F(TableFeaturesTest, RewrittenMetadataKeepsNameDescriptionAndCreatedTime) {
  Create();
  RawCommit({{{"metaData", {{"id", "t1"}, {"name", "n"}, {"description", "d"},
                            {"format", {{"provider", "parquet"}, {"options", json::object()}}},
                            {"schemaString", Load().schema_string}, {"partitionColumns", json::array()},
                            {"configuration", json::object()}, {"createdTime", 42}}}}});
  Commit c = Merge({}, {});
  c.set_configuration = {{"delta.checkpointInterval", "5"}};
  auto v = table_.Write(Load(), c);
  ASSERT_TRUE(v.ok());
  json m = Find(*v, "metaData");
  EXPECT_EQ(m["id"], "t1");
  EXPECT_EQ(m["name"], "n");
  EXPECT_EQ(m["description"], "d");
  EXPECT_EQ(m["createdTime"], 42);
  EXPECT_EQ(m["configuration"]["delta.checkpointInterval"], "5");
}

TEST_F(TableFeaturesTest, BlindAppendOnlyForCommitsThatReadNothing) {
  Create();
  Snapshot s = Load();
  auto v1 = table_.Write(s, Append({DataFile("b.parquet", 5, 1)}));
  ASSERT_TRUE(v1.ok());
  EXPECT_TRUE(Find(*v1, "commitInfo")["isBlindAppend"].get<bool>());
  Commit merge = Merge({DataFile("c.parquet", 6, 1)}, {});  // a merge that only inserts still read the table
  auto v2 = table_.Write(Load(), merge);
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(Find(*v2, "commitInfo")["isBlindAppend"].get<bool>());
}

TEST_F(TableFeaturesTest, AddPathsAreUriDecodedWhenRead) {
  Create();
  DataFile("a b%.parquet", 0, 2);
  RawCommit({{{"add", {{"path", "a%20b%25.parquet"}, {"partitionValues", json::object()}, {"size", 1},
                       {"modificationTime", 1}, {"dataChange", true}}}}});
  Snapshot s = Load();
  ASSERT_EQ(s.files.size(), 2u);
  EXPECT_EQ(s.files[1].path, "a b%.parquet");
  // Written back encoded.
  auto v = table_.Write(s, Merge({}, {s.files[1]}));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Find(*v, "remove")["path"], "a%20b%25.parquet");
  EXPECT_EQ(Load().files.size(), 1u);
}

TEST_F(TableFeaturesTest, WritesCheckpointEveryTenCommitsThatReadersUse) {
  Create();
  for (int i = 1; i <= 11; ++i) {
    Snapshot s = Load();
    std::vector<AddFile> removes;
    if (i % 3 == 0) removes.push_back(s.files.front());
    Commit c = Merge({DataFile("f" + std::to_string(i) + ".parquet", 10 * i, 2)}, removes);
    c.txn = {{"fhirlake-sync", i}};
    c.commit_info_extra_json = json{{"transactionTime", "2024-01-0" + std::to_string(i % 10) + "T00:00:00Z"}}.dump();
    ASSERT_TRUE(table_.Write(s, c).ok());
  }
  const fs::path log = dir_ / "_delta_log";
  ASSERT_TRUE(fs::exists(log / CheckpointFileName(10)));
  EXPECT_FALSE(fs::exists(log / CheckpointFileName(11)));
  auto last = ReadLastCheckpoint(dir_.path());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->version, 10);
  Snapshot full = Load();
  EXPECT_EQ(full.checkpoint_version, 10);
  EXPECT_EQ(full.log_files_read, 2);

  // DuckDB reads the checkpoint: one protocol, one metaData, a txn, the adds of version 10.
  const std::string file = "'" + (log / CheckpointFileName(10)).string() + "'";
  json counts = DuckDb("SELECT count(add.path)::INTEGER AS adds, count(metaData.id)::INTEGER AS metadata, "
                       "count(protocol.minReaderVersion)::INTEGER AS protocol, count(txn.appId)::INTEGER AS txn, "
                       "count(remove.path)::INTEGER AS removes, "
                       "max(cardinality(add.partitionValues))::INTEGER AS pv FROM read_parquet(" + file + ")");
  ASSERT_TRUE(counts.is_array()) << counts.dump();
  EXPECT_EQ(counts[0]["adds"], static_cast<int>(full.files.size()) - 1);  // file 11 came after
  EXPECT_EQ(counts[0]["metadata"], 1);
  EXPECT_EQ(counts[0]["protocol"], 1);
  EXPECT_EQ(counts[0]["txn"], 1);
  EXPECT_EQ(counts[0]["removes"], 3);
  EXPECT_EQ(counts[0]["pv"], 0);

  // With the commits before the checkpoint gone, the table opens to the same state.
  for (int64_t v = 0; v < 10; ++v) fs::remove(log / CommitFileName(v));
  Snapshot after = Load();
  EXPECT_EQ(after.version, 11);
  ASSERT_EQ(after.files.size(), full.files.size());
  for (size_t i = 0; i < full.files.size(); ++i) EXPECT_EQ(after.files[i].path, full.files[i].path);
  EXPECT_EQ(after.app_versions, full.app_versions);
  EXPECT_EQ(after.table_id, full.table_id);
  EXPECT_EQ(after.last_transaction_time, full.last_transaction_time);
  json rows = DuckDb("SELECT count(*)::INTEGER AS n FROM t", {{"t", dir_.path()}});
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 5 + 11 * 2 - 5 - 2 - 2);  // commits 3, 6 and 9 removed a.parquet, f1 and f2
}

TEST_F(TableFeaturesTest, CheckpointIntervalIsATableProperty) {
  Create();
  Commit props = Merge({}, {});
  props.set_configuration = {{"delta.checkpointInterval", "2"}};
  ASSERT_TRUE(table_.Write(Load(), props).ok());  // version 1
  ASSERT_TRUE(table_.Write(Load(), Append({DataFile("b.parquet", 5, 1)})).ok());  // version 2
  EXPECT_TRUE(fs::exists(dir_ / "_delta_log" / CheckpointFileName(2)));
  Snapshot s = Load();
  EXPECT_EQ(s.checkpoint_version, 2);
  EXPECT_EQ(s.configuration.at("delta.checkpointInterval"), "2");
}

TEST(NativeDeletionVectorTest, NativeFormatIsLittleEndian) {
  // RoaringBitmapArray's native format: magic, bitmap count, then per bitmap its size and a
  // portable 32-bit RoaringBitmap, all little-endian. Rows 1, 5 (high 0) and 2^32 + 3 (high 1).
  auto le32 = [](std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  auto bitmap = [&](std::vector<uint16_t> values) {
    std::string b;
    le32(b, 12346);  // no runs
    le32(b, 1);      // one container
    b.push_back(0), b.push_back(0);  // key 0
    b.push_back(static_cast<char>(values.size() - 1)), b.push_back(0);
    le32(b, 8 + 4 + 4);  // offset of the container
    for (uint16_t v : values) b.push_back(static_cast<char>(v & 0xFF)), b.push_back(static_cast<char>(v >> 8));
    return b;
  };
  std::string bytes;
  le32(bytes, 1681511376);
  le32(bytes, 2);
  for (const auto& b : {bitmap({1, 5}), bitmap({3})}) {
    le32(bytes, static_cast<uint32_t>(b.size()));
    bytes += b;
  }
  auto rows = DecodeRowBitmap(bytes);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, (std::vector<uint64_t>{1, 5, (uint64_t{1} << 32) + 3}));
}

}  // namespace
}  // namespace fhirlake::delta
