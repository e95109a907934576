#include "fhirlake/load/compaction.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/row_copy.h"
#include "tests/support/duckdb.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;
using nlohmann::json;

class CompactionTest : public ::testing::Test {
 protected:
  // Loads Patients [first, first + count) with meta.lastUpdated `stamp`.
  void LoadPatients(int first, int count, const std::string& stamp, bool dvs) {
    const fs::path exp = dir_ / ("export-" + std::to_string(loads_++));
    fs::create_directories(exp);
    std::ofstream out(exp / "Patient.000.ndjson");
    for (int i = first; i < first + count; ++i) {
      out << json{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)}, {"meta", {{"lastUpdated", stamp}}},
                  {"gender", i % 2 ? "male" : "female"}}.dump()
          << "\n";
    }
    out.close();
    LoadOptions o;
    o.export_dir = exp;
    o.warehouse = dir_ / "wh";
    o.mode = SaveMode::kMerge;
    o.deletion_vectors = dvs;
    auto r = Load(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  json Rows() {
    // The typed columns too: compaction copies them a column at a time, not from `_json`.
    return DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids, "
                  "sum(hash(_json))::VARCHAR AS h, sum(hash(id, gender, meta))::VARCHAR AS typed, "
                  "count(gender)::INTEGER AS genders FROM t", {{"t", dir_ / "wh" / "Patient"}});
  }

  TempDir dir_;
  int loads_ = 0;
};

TEST_F(CompactionTest, RewritesSmallFilesAndPurgesDeletionVectorsKeepingEveryRow) {
  LoadPatients(0, 200, "2024-01-01T00:00:00Z", false);
  LoadPatients(150, 100, "2024-02-01T00:00:00Z", true);  // 50 updates by deletion vector, 50 new
  LoadPatients(10, 20, "2024-03-01T00:00:00Z", true);
  const fs::path root = dir_ / "wh" / "Patient";
  auto before = delta::Table(root).Load();
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->files.size(), 3u);
  bool had_dv = false;
  for (const auto& f : before->files) had_dv = had_dv || f.deletion_vector.has_value();
  ASSERT_TRUE(had_dv);
  json rows_before = Rows();
  ASSERT_TRUE(rows_before.is_array()) << rows_before.dump();
  EXPECT_EQ(rows_before[0]["n"], 250);

  CompactionPolicy policy;
  policy.purge_deletion_vectors = true;
  auto result = Compact(root, "Patient", policy);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->rows, 250);
  EXPECT_EQ(result->files_added, 1);
  auto after = delta::Table(root).Load();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->files.size(), 1u);
  EXPECT_FALSE(after->files[0].deletion_vector.has_value());
  EXPECT_EQ(after->files[0].num_records, 250);
  EXPECT_EQ(Rows(), rows_before) << "every row kept, byte for byte";
  EXPECT_FALSE(after->deletion_vectors_enabled()) << "later merges copy on write";

  // The commit rearranges data: dataChange false on both sides.
  std::ifstream in(root / "_delta_log" / (std::string(20 - std::to_string(result->version).size(), '0') +
                                          std::to_string(result->version) + ".json"));
  std::string line;
  int actions = 0;
  while (std::getline(in, line)) {
    json a = json::parse(line);
    for (const char* kind : {"add", "remove"}) {
      if (a.contains(kind)) {
        EXPECT_FALSE(a[kind]["dataChange"].get<bool>());
        ++actions;
      }
    }
  }
  EXPECT_EQ(actions, static_cast<int>(before->files.size()) + 1);
  // Nothing left to do.
  auto again = Compact(root, "Patient", policy);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, -1);
}

// A data file whose physical columns are not the table's (here written by DuckDB, as another
// engine writing to the table might) cannot be copied a column at a time: its rows are
// shredded again from `_json`, next to a file of the table's own that is copied.
TEST_F(CompactionTest, AFileOfOtherColumnsIsShreddedAgainFromItsJson) {
  LoadPatients(0, 120, "2024-01-01T00:00:00Z", false);
  LoadPatients(120, 80, "2024-02-01T00:00:00Z", false);
  const fs::path root = dir_ / "wh" / "Patient";
  auto before = delta::Table(root).Load();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->files.size(), 2u);
  json rows_before = Rows();
  ASSERT_TRUE(rows_before.is_array()) << rows_before.dump();
  ASSERT_EQ(rows_before[0]["n"], 200);

  // The second load's file, replaced by DuckDB's copy of its rows with one column of another
  // physical type (an engine's own choice: 64-bit where the table has 32).
  const delta::AddFile& second = before->files[1];
  const fs::path foreign = root / "part-written-by-duckdb.parquet";
  json copied = DuckDb("COPY (SELECT * REPLACE (CAST(multipleBirthInteger AS BIGINT) AS multipleBirthInteger) FROM t "
                       "WHERE meta.lastUpdated >= TIMESTAMPTZ '2024-02-01 00:00:00+00') TO '" +
                           foreign.string() + "' (FORMAT parquet)",
                       {{"t", root}});
  ASSERT_FALSE(copied.contains("error")) << copied.dump();
  const parquet::Schema schema = BuildTableSchema("Patient", TableSchemaOptions{});
  auto reader = parquet::FileReader::Open(foreign);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ASSERT_EQ((*reader)->rows(), 80);
  ASSERT_FALSE(parquet::SameColumns(**reader, schema)) << "DuckDB wrote the table's own columns: nothing to test";
  delta::Commit swap;
  swap.operation = "WRITE";
  swap.operation_parameters_json = R"({"mode":"Append"})";
  swap.removes = {second};
  swap.adds = {delta::AddFile{foreign.filename().string(), static_cast<int64_t>(fs::file_size(foreign)), 0, 80, "", {}, {}, {}}};
  ASSERT_TRUE(delta::Table(root).Write(*before, swap).ok());
  EXPECT_EQ(Rows(), rows_before);

  auto result = Compact(root, "Patient", CompactionPolicy{});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->rows, 200);
  EXPECT_EQ(result->files_removed, 2);
  auto after = delta::Table(root).Load();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->files.size(), 1u);
  auto written = parquet::FileReader::Open(root / after->files[0].path);
  ASSERT_TRUE(written.ok());
  EXPECT_TRUE(parquet::SameColumns(**written, schema));
  EXPECT_EQ(Rows(), rows_before) << "every row kept, its typed columns as shredded from _json";
}

}  // namespace
}  // namespace fhirlake::load
