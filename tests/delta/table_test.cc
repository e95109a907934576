#include "fhirlake/delta/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <simdjson.h>

#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_writer.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::delta {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::ReadFile;
using fhirlake::testing::TempDir;
using nlohmann::json;

class DeltaTableTest : public ::testing::Test {
 protected:
  // Writes a data file of `count` Patients into the table folder; returns its add action.
  AddFile DataFile(const std::string& name, int first, int count) {
    auto writer = parquet::FileWriter::Open(dir_ / name, schema_);
    EXPECT_TRUE(writer.ok());
    load::JsonShredder shredder(schema_, **writer, {"_json"});
    for (int i = first; i < first + count; ++i) {
      std::string line = json{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)}}.dump();
      simdjson::padded_string padded(line);
      EXPECT_TRUE(shredder.ShredRow(std::string_view(padded.data(), padded.size())).ok());
      (*writer)->column(schema_.leaves().size() - 1).AddBytes(0, line);
      EXPECT_TRUE((*writer)->EndRow().ok());
    }
    EXPECT_TRUE((*writer)->Close().ok());
    return AddFile{name, static_cast<int64_t>(fs::file_size(dir_ / name)), 1, count,
                   json{{"numRecords", count}}.dump(), std::nullopt, {}, {}};
  }
  Commit Write(std::vector<AddFile> adds, std::vector<AddFile> removes = {}) {
    Commit c;
    c.operation = "WRITE";
    c.operation_parameters_json = R"({"mode":"Append"})";
    c.schema_string = SparkSchemaJson(schema_);
    c.adds = std::move(adds);
    c.removes = std::move(removes);
    return c;
  }
  // Rows visible through the log, counted by DuckDB over the active files.
  int VisibleRows(const Snapshot& s) {
    std::string list;
    for (const auto& f : s.files) list += (list.empty() ? "'" : ",'") + (dir_ / f.path).string() + "'";
    json rows = DuckDb("SELECT count(*)::INTEGER AS n FROM read_parquet([" + list + "])");
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    return rows.is_array() ? rows[0]["n"].get<int>() : -1;
  }

  TempDir dir_;
  parquet::Schema schema_ = load::BuildTableSchema("Patient");
  Table table_{dir_.path()};
};

TEST_F(DeltaTableTest, FirstCommitHasProtocolMetadataAndAdds) {
  auto empty = table_.Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->version, -1);
  Commit c = Write({DataFile("a.parquet", 0, 5)});
  c.txn = {{"fhirlake-sync", 7}};
  c.commit_info_extra_json = R"({"transactionTime":"2024-01-01T00:00:00Z"})";
  auto v = table_.Write(*empty, c);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, 0);
  std::vector<json> actions;
  std::ifstream in(dir_ / "_delta_log" / "00000000000000000000.json");
  std::string line;
  while (std::getline(in, line)) actions.push_back(json::parse(line));
  ASSERT_EQ(actions.size(), 5u);
  EXPECT_EQ(actions[0]["commitInfo"]["transactionTime"], "2024-01-01T00:00:00Z");
  EXPECT_EQ(actions[1]["protocol"], (json{{"minReaderVersion", 1}, {"minWriterVersion", 2}}));
  EXPECT_EQ(actions[2]["metaData"]["format"]["provider"], "parquet");
  EXPECT_EQ(actions[2]["metaData"]["partitionColumns"], json::array());
  EXPECT_EQ(actions[3]["txn"]["version"], 7);
  EXPECT_EQ(json::parse(actions[4]["add"]["stats"].get<std::string>())["numRecords"], 5);
  auto snap = table_.Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->version, 0);
  EXPECT_EQ(snap->app_versions.at("fhirlake-sync"), 7);
  EXPECT_EQ(VisibleRows(*snap), 5);
}

TEST_F(DeltaTableTest, RemoveAndAddReplaceFiles) {
  auto v0 = table_.Write(*table_.Load(), Write({DataFile("a.parquet", 0, 5), DataFile("b.parquet", 5, 3)}));
  ASSERT_TRUE(v0.ok());
  auto snap = *table_.Load();
  Commit overwrite = Write({DataFile("c.parquet", 100, 2)}, {snap.files[0]});
  overwrite.schema_string.reset();
  ASSERT_TRUE(table_.Write(snap, overwrite).ok());
  auto after = *table_.Load();
  EXPECT_EQ(after.version, 1);
  ASSERT_EQ(after.files.size(), 2u);
  EXPECT_EQ(after.files[0].path, "b.parquet");
  EXPECT_EQ(after.files[1].path, "c.parquet");
  EXPECT_EQ(VisibleRows(after), 5);
}

TEST_F(DeltaTableTest, ALosingWriterLearnsItLost) {
  auto base = *table_.Load();
  ASSERT_TRUE(table_.Write(base, Write({DataFile("a.parquet", 0, 1)})).ok());
  auto lost = table_.Write(base, Write({DataFile("b.parquet", 1, 1)}));
  ASSERT_FALSE(lost.ok());
  EXPECT_TRUE(Table::IsConflict(lost.status())) << lost.status().message();
  auto snap = *table_.Load();
  EXPECT_EQ(snap.version, 0);
  ASSERT_EQ(snap.files.size(), 1u);
  EXPECT_EQ(snap.files[0].path, "a.parquet");
  size_t log_files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_ / "_delta_log")) ++log_files;
  EXPECT_EQ(log_files, 1u) << "the loser leaves no temporary file";
}

TEST_F(DeltaTableTest, UncommittedDataAndTemporaryFilesStayInvisible) {
  ASSERT_TRUE(table_.Write(*table_.Load(), Write({DataFile("a.parquet", 0, 4)})).ok());
  DataFile("orphan.parquet", 10, 9);  // written, crash before commit
  std::ofstream(dir_ / "_delta_log" / ".00000000000000000001.json.x.tmp") << "{\"add\":{\"path\":\"orphan.parquet\"}}\n";
  auto snap = *table_.Load();
  EXPECT_EQ(snap.version, 0);
  EXPECT_EQ(VisibleRows(snap), 4);
}

TEST_F(DeltaTableTest, RefusesUnsupportedProtocolsAndGaps) {
  fs::create_directories(dir_ / "_delta_log");
  std::ofstream(dir_ / "_delta_log" / "00000000000000000000.json")
      << R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"]}})" << "\n";
  auto refused = table_.Load();
  ASSERT_TRUE(refused.ok()) << refused.status().message();  // readable, but not writable: no writerFeatures
  EXPECT_FALSE(refused->write_refusal.empty());
  std::ofstream(dir_ / "_delta_log" / "00000000000000000000.json")
      << R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["columnMapping"],"writerFeatures":["columnMapping"]}})" << "\n"
      << R"({"metaData":{"id":"x","schemaString":"{}","configuration":{"delta.columnMapping.mode":"name"}}})" << "\n";
  auto unreadable = table_.Load();
  ASSERT_FALSE(unreadable.ok());
  EXPECT_NE(unreadable.status().message().find("does not support"), std::string::npos);
  TempDir other;
  fs::create_directories(other / "_delta_log");
  std::ofstream(other / "_delta_log" / "00000000000000000001.json") << "{}\n";
  auto gap = Table(other.path()).Load();
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.status().message().find("no version 0"), std::string::npos);
}

// A table another engine partitioned needs each add's partition values, which fhirlake does not
// compute: its writes are refused instead of adding files whose partition column reads as null.
// Adds that carry the values (files kept as they were) are accepted.
TEST_F(DeltaTableTest, RefusesToAddUnpartitionedFilesToAPartitionedTable) {
  ASSERT_TRUE(table_.Write(*table_.Load(), Write({DataFile("a.parquet", 0, 2)})).ok());
  std::ofstream(dir_ / "_delta_log" / "00000000000000000001.json")
      << json{{"metaData", {{"id", "x"}, {"format", {{"provider", "parquet"}, {"options", json::object()}}},
                            {"schemaString", SparkSchemaJson(schema_)}, {"partitionColumns", {"gender"}},
                            {"configuration", json::object()}}}}.dump() << "\n";
  auto snap = table_.Load();
  ASSERT_TRUE(snap.ok()) << snap.status().message();
  ASSERT_EQ(snap->partition_columns, std::vector<std::string>{"gender"});
  Commit append = Write({DataFile("b.parquet", 2, 1)});
  append.schema_string.reset();
  auto refused = table_.Write(*snap, append);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("partitioned by gender"), std::string::npos) << refused.status().message();
  append.adds[0].partition_values["gender"] = std::nullopt;
  EXPECT_TRUE(table_.Write(*snap, append).ok());
}

TEST_F(DeltaTableTest, SchemaStringMatchesTheParquetSchema) {
  json s = json::parse(SparkSchemaJson(schema_));
  EXPECT_EQ(s["type"], "struct");
  ASSERT_EQ(s["fields"].size(), schema_.root().children.size());
  std::map<std::string, json> fields;
  for (const auto& f : s["fields"]) fields[f["name"]] = f["type"];
  EXPECT_EQ(fields["id"], "string");
  EXPECT_EQ(fields["active"], "boolean");
  EXPECT_EQ(fields["multipleBirthInteger"], "integer");
  EXPECT_EQ(fields["name"]["type"], "array");
  EXPECT_EQ(fields["name"]["elementType"]["type"], "struct");
  json meta = fields["meta"];
  bool timestamp = false;
  for (const auto& f : meta["fields"]) timestamp = timestamp || (f["name"] == "lastUpdated" && f["type"] == "timestamp");
  EXPECT_TRUE(timestamp);
  std::set<std::string> lower;
  for (const auto& f : s["fields"]) {
    std::string n = f["name"];
    std::transform(n.begin(), n.end(), n.begin(), ::tolower);
    EXPECT_TRUE(lower.insert(n).second) << "duplicate column ignoring case: " << n;
  }
}

}  // namespace
}  // namespace fhirlake::delta
