// parquet::CopyRows moves kept rows from one data file to another column by column. Rows of a
// real table schema (Observation: nested groups, lists of lists, DECIMAL as FIXED_LEN_BYTE_ARRAY,
// booleans, integers, timestamps, strings) written by the shredder, copied with rows dropped in
// runs and alone, must give the same file as shredding the kept rows again: every column's
// levels and values, and the writer's statistics, which become Delta's add.stats; and DuckDB
// must read the same rows from both.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/row_copy.h"
#include "tests/support/duckdb.h"
#include "tests/support/random.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::Random;
using fhirlake::testing::TempDir;
using nlohmann::json;

json Coding(Random& r, int i) {
  json c = {{"code", "c" + std::to_string(r.Below(40))}};
  if (r.Below(2)) c["system"] = "http://loinc.org";
  if (r.Below(3) == 0) c["display"] = "display " + std::to_string(i);
  return c;
}

json Observation(Random& r, int i) {
  char id[16];
  std::snprintf(id, sizeof id, "o%05d", i);
  json o = {{"resourceType", "Observation"}, {"id", id}, {"status", r.Below(2) ? "final" : "amended"},
            {"meta", {{"lastUpdated", "2024-0" + std::to_string(1 + r.Below(9)) + "-1" + std::to_string(r.Below(10)) +
                                          "T10:00:00." + std::to_string(100 + r.Below(900)) + "Z"}}}};
  if (i % 97 < 20) return o;  // runs of rows without most elements (level-0 nulls)
  json codings = json::array();
  for (int k = 0, n = r.Below(3); k < n; ++k) codings.push_back(Coding(r, i));
  o["code"] = {{"coding", codings}};
  switch (r.Below(5)) {
    case 0: o["valueQuantity"] = {{"value", (r.Below(200000) - 100000) / 1000.0}, {"unit", "mg"}}; break;
    case 1: o["valueBoolean"] = r.Below(2) == 0; break;
    case 2: o["valueInteger"] = r.Below(1000) - 500; break;
    case 3: o["valueString"] = "text " + std::to_string(r.Below(50)); break;
    default: break;
  }
  if (r.Below(3) == 0) {
    json components = json::array();
    for (int k = 0, n = 1 + r.Below(3); k < n; ++k) {
      json c = {{"code", {{"coding", {Coding(r, i)}}}}};
      if (r.Below(2)) c["valueQuantity"] = {{"value", r.Below(300)}, {"unit", "mm[Hg]"}};
      components.push_back(c);
    }
    o["component"] = components;
  }
  if (r.Below(4) == 0) o["effectiveDateTime"] = "2023-05-0" + std::to_string(1 + r.Below(9)) + "T08:00:00Z";
  if (r.Below(6) == 0) o["note"] = {{{"text", "a note"}}, {{"text", "another"}}};
  return o;
}

// A ParallelFor on plain threads, for the copy of columns on many threads.
class Threads : public parquet::ParallelFor {
 public:
  void Run(size_t n, const std::function<void(size_t)>& work) override {
    std::atomic<size_t> next{0};
    auto run = [&] {
      for (size_t i = next++; i < n; i = next++) work(i);
    };
    std::thread helper(run);
    run();
    helper.join();
  }
};

class Writer {
 public:
  Writer(const fs::path& path, const parquet::Schema& schema, parquet::WriterOptions options)
      : writer_(parquet::FileWriter::Open(path, schema, options).value()),
        shredder_(schema, *writer_, {"_json"}),
        json_leaf_(schema.leaves().size() - 1) {}
  void Shred(const std::string& line) {
    std::string padded = line + std::string(fhir::NdjsonReader::kPadding, '\0');
    Status s = shredder_.ShredRow(std::string_view(padded.data(), line.size()));
    ASSERT_TRUE(s.ok()) << s.message();
    writer_->column(json_leaf_).AddBytes(0, line);
    ASSERT_TRUE(writer_->EndRow().ok());
  }
  parquet::FileWriter& file() { return *writer_; }
  void Close() { ASSERT_TRUE(writer_->Close().ok()); }

 private:
  std::unique_ptr<parquet::FileWriter> writer_;
  JsonShredder shredder_;
  size_t json_leaf_;
};

// Every column of the two files, read back, holds the same levels and values.
void ExpectSameColumns(const fs::path& got_path, const fs::path& want_path) {
  auto got = parquet::FileReader::Open(got_path).value();
  auto want = parquet::FileReader::Open(want_path).value();
  ASSERT_EQ(got->rows(), want->rows());
  ASSERT_EQ(got->column_count(), want->column_count());
  for (size_t c = 0; c < got->column_count(); ++c) {
    auto all = [&](const parquet::FileReader& r) {
      parquet::ColumnValues sum;
      for (size_t g = 0; g < r.row_group_count(); ++g) {
        auto v = r.ReadColumn(g, static_cast<int>(c));
        EXPECT_TRUE(v.ok()) << v.status().message();
        if (!v.ok()) break;
        sum.present.insert(sum.present.end(), v->present.begin(), v->present.end());
        sum.ints.insert(sum.ints.end(), v->ints.begin(), v->ints.end());
        for (size_t k = 0; k < v->ends.size(); ++k) sum.bytes += std::string(v->string(k)) + '\x1f';
        sum.def_levels.insert(sum.def_levels.end(), v->def_levels.begin(), v->def_levels.end());
        sum.rep_levels.insert(sum.rep_levels.end(), v->rep_levels.begin(), v->rep_levels.end());
      }
      return sum;
    };
    const std::string& path = want->column_path(static_cast<int>(c));
    parquet::ColumnValues a = all(*got), b = all(*want);
    EXPECT_EQ(a.present, b.present) << path;
    EXPECT_EQ(a.ints, b.ints) << path;
    EXPECT_EQ(a.bytes, b.bytes) << path;
    EXPECT_EQ(a.def_levels, b.def_levels) << path;
    EXPECT_EQ(a.rep_levels, b.rep_levels) << path;
    if (::testing::Test::HasFailure()) return;
  }
}

void ExpectSameStats(parquet::FileWriter& got, parquet::FileWriter& want) {
  ASSERT_EQ(got.column_count(), want.column_count());
  for (size_t c = 0; c < got.column_count(); ++c) {
    const parquet::ColumnStats& a = got.column(c).stats();
    const parquet::ColumnStats& b = want.column(c).stats();
    const std::string where = got.column(c).leaf().name + " (column " + std::to_string(c) + ")";
    EXPECT_EQ(a.levels, b.levels) << where;
    EXPECT_EQ(a.nulls, b.nulls) << where;
    EXPECT_EQ(a.rows_by_def, b.rows_by_def) << where;
    EXPECT_EQ(a.has_bounds, b.has_bounds) << where;
    EXPECT_EQ(a.min, b.min) << where;
    EXPECT_EQ(a.max, b.max) << where;
    EXPECT_EQ(a.max_cut, b.max_cut) << where;
  }
}

std::string DuckRows(const fs::path& file) {
  json got = DuckDb("SELECT md5(string_agg(to_json(t)::VARCHAR, chr(10) ORDER BY id)) AS h, count(*)::INTEGER AS n "
                    "FROM read_parquet('" + file.string() + "') t");
  EXPECT_TRUE(got.is_array()) << got.dump();
  return got.dump();
}

class RowCopy : public ::testing::TestWithParam<bool> {};  // the copy on two threads or one

TEST_P(RowCopy, KeptRowsCopiedByColumnEqualTheSameRowsShreddedAgain) {
  TempDir dir;
  const parquet::Schema schema = BuildTableSchema("Observation");
  bool fixed = false;
  for (const parquet::SchemaNode* leaf : schema.leaves()) fixed |= leaf->type == parquet::PhysicalType::kFixedLenByteArray;
  ASSERT_TRUE(fixed) << "the schema should have DECIMAL leaves";

  constexpr int kRows = 3000;
  Random r;
  std::vector<std::string> lines;
  for (int i = 0; i < kRows; ++i) lines.push_back(Observation(r, i).dump());
  // Rows to drop: runs (a whole row group's worth, too) and single rows.
  std::vector<uint8_t> keep(kRows, 1);
  for (int i = 0; i < kRows; ++i) {
    if (r.Below(10) == 0 || (i >= 700 && i < 1100) || (i >= 2990)) keep[static_cast<size_t>(i)] = 0;
  }

  parquet::WriterOptions source_options;
  source_options.row_group_bytes = 64u << 10;  // row groups of a few hundred rows
  Writer source(dir.path() / "source.parquet", schema, source_options);
  for (const std::string& line : lines) source.Shred(line);
  source.Close();
  ASSERT_FALSE(HasFailure());

  Threads threads;
  parquet::WriterOptions options;
  options.row_group_bytes = 200000;  // a few row groups, ending inside copies
  if (GetParam()) options.parallel = &threads;
  // copied: the first 100 kept rows shredded, the rest copied, then 50 new rows shredded (a
  // merge's writer gets both). shredded: the same rows, each shredded.
  std::vector<std::string> extra;
  for (int i = 0; i < 50; ++i) extra.push_back(Observation(r, kRows + i).dump());
  auto reader = parquet::FileReader::Open(dir.path() / "source.parquet").value();
  ASSERT_TRUE(parquet::SameColumns(*reader, schema));
  ASSERT_GT(reader->row_group_count(), 5u);
  ASSERT_GT(reader->row_group_rows(0), 150) << "row group 0 holds the 100 rows shredded and some copied";
  Writer copied(dir.path() / "copied.parquet", schema, options);
  Writer shredded(dir.path() / "shredded.parquet", schema, options);
  size_t row = 0, shredded_first = 0;
  for (size_t g = 0; g < reader->row_group_count(); ++g) {
    const auto rows = static_cast<size_t>(reader->row_group_rows(g));
    std::vector<uint8_t> part(keep.begin() + static_cast<std::ptrdiff_t>(row),
                              keep.begin() + static_cast<std::ptrdiff_t>(row + rows));
    if (g == 0) {  // row group 0: its first kept rows shredded, the others copied
      for (size_t k = 0; k < rows && shredded_first < 100; ++k) {
        if (!part[k]) continue;
        copied.Shred(lines[row + k]);
        part[k] = 0;
        ++shredded_first;
      }
    }
    auto n = parquet::CopyRows(*reader, g, part, copied.file());
    ASSERT_TRUE(n.ok()) << n.status().message();
    size_t want = 0;
    for (uint8_t k : part) want += k;
    EXPECT_EQ(*n, want);
    row += rows;
  }
  for (const std::string& line : extra) copied.Shred(line);
  size_t kept = 0;
  for (int i = 0; i < kRows; ++i) {
    if (keep[static_cast<size_t>(i)]) {
      shredded.Shred(lines[static_cast<size_t>(i)]);
      ++kept;
    }
  }
  for (const std::string& line : extra) shredded.Shred(line);
  copied.Close();
  shredded.Close();
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(copied.file().rows(), kept + extra.size());

  ExpectSameColumns(dir.path() / "copied.parquet", dir.path() / "shredded.parquet");
  ExpectSameStats(copied.file(), shredded.file());
  EXPECT_EQ(DuckRows(dir.path() / "copied.parquet"), DuckRows(dir.path() / "shredded.parquet"));
}

INSTANTIATE_TEST_SUITE_P(Threads, RowCopy, ::testing::Bool());

TEST(RowCopy, RefusesAFileOfOtherColumns) {
  TempDir dir;
  const parquet::Schema observation = BuildTableSchema("Observation");
  const parquet::Schema patient = BuildTableSchema("Patient");
  const parquet::Schema text_decimals = BuildTableSchema("Observation", {.decimals_as_text = true});
  Writer source(dir.path() / "source.parquet", observation, {});
  Random r;
  source.Shred(Observation(r, 1).dump());
  source.Close();
  auto reader = parquet::FileReader::Open(dir.path() / "source.parquet").value();
  EXPECT_TRUE(parquet::SameColumns(*reader, observation));
  EXPECT_FALSE(parquet::SameColumns(*reader, patient));
  EXPECT_FALSE(parquet::SameColumns(*reader, text_decimals));
}

}  // namespace
}  // namespace fhirlake::load
