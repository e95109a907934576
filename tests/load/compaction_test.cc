#include "fhirlake/load/compaction.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/loader.h"
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

}  // namespace
}  // namespace fhirlake::load
