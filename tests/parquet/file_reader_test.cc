// parquet::FileReader over files of our own writer (every codec, nulls, dictionary and PLAIN
// pages, many row groups) and over a file DuckDB wrote.
#include "fhirlake/parquet/file_reader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/rle.h"
#include "tests/support/duckdb.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::parquet {
namespace {

using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;

Schema FlatSchema() {
  std::vector<std::unique_ptr<SchemaNode>> meta;
  meta.push_back(Leaf("lastUpdated", PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc));
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Group("meta", std::move(meta)));
  cols.push_back(List("tags", Leaf("element", PhysicalType::kByteArray, LogicalType::kString)));
  cols.push_back(Leaf("flag", PhysicalType::kBoolean));
  cols.push_back(Leaf("count", PhysicalType::kInt32));
  cols.push_back(Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
  return Schema(std::move(cols));
}

struct Row {
  std::string id;
  bool has_meta, has_time;
  int64_t time;
  std::string json;
};

std::vector<Row> MakeRows(size_t n) {
  std::vector<Row> rows;
  for (size_t i = 0; i < n; ++i) {
    // ids repeat a little (dictionary pages), json never does (PLAIN fallback).
    rows.push_back({"id-" + std::to_string(i % (n / 3 + 1)), i % 5 != 0, i % 7 != 0,
                    static_cast<int64_t>(1'700'000'000'000'000 + i * 1000), std::string(i % 50, 'x') + std::to_string(i)});
  }
  return rows;
}

void Write(const std::filesystem::path& path, const Schema& schema, const std::vector<Row>& rows, WriterOptions o) {
  auto w = FileWriter::Open(path, schema, o);
  ASSERT_TRUE(w.ok());
  for (const Row& r : rows) {
    (*w)->column(0).AddBytes(0, r.id);
    if (!r.has_meta) {
      (*w)->column(1).AddNull(0, 0);
    } else if (!r.has_time) {
      (*w)->column(1).AddNull(0, 1);
    } else {
      (*w)->column(1).AddInt64(0, r.time);
    }
    (*w)->column(2).AddNull(0, 0);
    (*w)->column(3).AddBool(0, r.time % 2000 == 0);
    (*w)->column(4).AddInt32(0, static_cast<int32_t>(r.json.size()));
    (*w)->column(5).AddBytes(0, r.json);
    ASSERT_TRUE((*w)->EndRow().ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
}

class FileReaderTest : public ::testing::TestWithParam<Compression> {
 protected:
  // The parameter's codec, many pages per chunk and several row groups.
  static WriterOptions SmallPages() {
    WriterOptions o;
    o.column.compression = GetParam();
    o.column.page_bytes = 4096;
    o.row_group_bytes = 64 << 10;
    return o;
  }
};

TEST_P(FileReaderTest, ReadsWhatTheWriterWrote) {
  TempDir dir;
  Schema schema = FlatSchema();
  auto rows = MakeRows(5000);
  Write(dir.path() / "t.parquet", schema, rows, SmallPages());

  auto reader = FileReader::Open(dir.path() / "t.parquet");
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ((*reader)->rows(), 5000);
  EXPECT_GT((*reader)->row_group_count(), 2u);
  const int id = (*reader)->FindColumn("id"), time = (*reader)->FindColumn("meta.lastUpdated");
  const int flag = (*reader)->FindColumn("flag"), count = (*reader)->FindColumn("count");
  const int json = (*reader)->FindColumn("_json");
  EXPECT_EQ((*reader)->FindColumn("meta"), -1);
  EXPECT_EQ((*reader)->FindColumn("nope"), -1);
  ASSERT_GE(id, 0);
  ASSERT_GE(time, 0);
  ASSERT_GE(json, 0);
  auto tags = (*reader)->ReadColumn(0, (*reader)->FindColumn("tags.list.element"));
  ASSERT_TRUE(tags.ok()) << tags.status().message();
  EXPECT_EQ(static_cast<int64_t>(tags->size()), (*reader)->row_group_rows(0)) << "a null list is one slot per row";
  EXPECT_EQ(tags->def_levels.size(), tags->size());

  size_t at = 0;
  for (size_t g = 0; g < (*reader)->row_group_count(); ++g) {
    auto ids = (*reader)->ReadColumn(g, id);
    auto times = (*reader)->ReadColumn(g, time);
    auto flags = (*reader)->ReadColumn(g, flag);
    auto counts = (*reader)->ReadColumn(g, count);
    auto jsons = (*reader)->ReadColumn(g, json);
    ASSERT_TRUE(ids.ok() && times.ok() && flags.ok() && counts.ok() && jsons.ok()) << jsons.status().message();
    ASSERT_EQ(static_cast<int64_t>(ids->size()), (*reader)->row_group_rows(g));
    for (size_t i = 0; i < ids->size(); ++i, ++at) {
      const Row& r = rows[at];
      ASSERT_TRUE(ids->present[i]);
      ASSERT_EQ(ids->string(i), r.id) << at;
      ASSERT_EQ(times->present[i], r.has_meta && r.has_time) << at;
      if (times->present[i]) {
        ASSERT_EQ(times->ints[i], r.time) << at;
      }
      ASSERT_EQ(flags->ints[i], r.time % 2000 == 0 ? 1 : 0) << at;
      ASSERT_EQ(counts->ints[i], static_cast<int64_t>(r.json.size())) << at;
      ASSERT_EQ(jsons->string(i), r.json) << at;
    }
  }
  EXPECT_EQ(at, rows.size());
}

TEST_P(FileReaderTest, WalksAColumnAPageAtATime) {
  TempDir dir;
  Schema schema = FlatSchema();
  auto rows = MakeRows(3000);
  Write(dir.path() / "t.parquet", schema, rows, SmallPages());
  auto reader = FileReader::Open(dir.path() / "t.parquet");
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  const int json = (*reader)->FindColumn("_json"), time = (*reader)->FindColumn("meta.lastUpdated");

  size_t at = 0, pages = 0, time_slots = 0;
  for (size_t g = 0; g < (*reader)->row_group_count(); ++g) {
    size_t in_group = 0;
    Status s = (*reader)->ForEachPage(g, json, [&](const PageValues& page) {
      ++pages;
      EXPECT_TRUE(page.reps.empty());
      EXPECT_EQ(page.strings.size(), page.size()) << "every row has _json";
      for (size_t i = 0; i < page.size(); ++i, ++at, ++in_group) {
        EXPECT_TRUE(page.present(i));
        if (at < rows.size()) {
          EXPECT_EQ(page.strings[i], rows[at].json) << at;
        }
      }
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(static_cast<int64_t>(in_group), (*reader)->row_group_rows(g));
    // An optional column: its pages give each slot's definition level, values for the present.
    ASSERT_TRUE((*reader)->ForEachPage(g, time, [&](const PageValues& page) {
                  size_t next = 0;
                  for (size_t i = 0; i < page.size(); ++i, ++time_slots) {
                    const Row& r = rows[time_slots];
                    EXPECT_EQ(page.defs[i], r.has_meta ? (r.has_time ? 2u : 1u) : 0u) << time_slots;
                    if (page.present(i)) {
                      EXPECT_EQ(page.ints[next++], r.time) << time_slots;
                    }
                  }
                  EXPECT_EQ(next, page.ints.size());
                  return Status::Ok();
                }).ok());
  }
  EXPECT_EQ(at, rows.size());
  EXPECT_EQ(time_slots, rows.size());
  EXPECT_GT(pages, 2 * (*reader)->row_group_count()) << "the walk sees each page, not each chunk";

  // An error from the visitor ends the walk and is what the walk returns.
  size_t visits = 0;
  Status stopped = (*reader)->ForEachPage(0, json, [&](const PageValues&) {
    ++visits;
    return Cancelled("enough");
  });
  EXPECT_EQ(stopped.code(), StatusCode::kCancelled);
  EXPECT_EQ(visits, 1u);
}

INSTANTIATE_TEST_SUITE_P(Codecs, FileReaderTest,
                         ::testing::Values(Compression::kUncompressed, Compression::kSnappy, Compression::kZstd));

TEST(FileReader, ReadsAFileDuckDbWrote) {
  TempDir dir;
  const auto path = dir.path() / "duck.parquet";
  auto r = DuckDb("COPY (SELECT CASE WHEN i % 4 = 0 THEN NULL ELSE 'p' || (i % 100)::VARCHAR END AS id, "
                  "i::BIGINT AS n, {'lastUpdated': TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i)} AS meta "
                  "FROM range(3000) t(i)) TO '" + path.string() + "' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 1000)");
  ASSERT_FALSE(r.is_object() && r.contains("error")) << r.dump();
  auto reader = FileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ((*reader)->rows(), 3000);
  int64_t i = 0;
  for (size_t g = 0; g < (*reader)->row_group_count(); ++g) {
    auto ids = (*reader)->ReadColumn(g, (*reader)->FindColumn("id"));
    auto ns = (*reader)->ReadColumn(g, (*reader)->FindColumn("n"));
    auto times = (*reader)->ReadColumn(g, (*reader)->FindColumn("meta.lastUpdated"));
    ASSERT_TRUE(ids.ok() && ns.ok()) << ids.status().message() << ns.status().message();
    ASSERT_TRUE(times.ok()) << times.status().message();
    for (size_t k = 0; k < ids->size(); ++k, ++i) {
      ASSERT_EQ(ids->present[k], i % 4 != 0) << i;
      if (i % 4 != 0) {
        ASSERT_EQ(ids->string(k), "p" + std::to_string(i % 100)) << i;
      }
      ASSERT_EQ(ns->ints[k], i);
      ASSERT_EQ(times->ints[k], 1'704'067'200'000'000 + i * 1'000'000) << i;
    }
  }
  EXPECT_EQ(i, 3000);
}

TEST(FileReader, RefusesDamagedFiles) {
  TempDir dir;
  Schema schema = FlatSchema();
  Write(dir.path() / "t.parquet", schema, MakeRows(100), {});
  std::string bytes;
  {
    std::ifstream in(dir.path() / "t.parquet", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(dir.path() / "short.parquet", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto shortened = FileReader::Open(dir.path() / "short.parquet");
  ASSERT_FALSE(shortened.ok());
  EXPECT_NE(shortened.status().message().find("does not end with the Parquet footer"), std::string::npos);

  // A column chunk whose path_in_schema names no leaf of the schema (the footer's last
  // "lastUpdated" is the chunk's, after the schema's).
  std::string renamed = bytes;
  const size_t last = renamed.rfind("lastUpdated");
  ASSERT_NE(last, std::string::npos);
  ASSERT_GT(last, renamed.find("lastUpdated"));
  renamed[last + 10] = 'x';
  std::ofstream(dir.path() / "renamed.parquet", std::ios::binary) << renamed;
  auto other_path = FileReader::Open(dir.path() / "renamed.parquet");
  ASSERT_FALSE(other_path.ok());
  EXPECT_NE(other_path.status().message().find("path differs from the schema"), std::string::npos)
      << other_path.status().message();

  // A page body damaged in the middle of the file: the footer opens, the column read fails.
  std::string damaged = bytes;
  for (size_t i = 40; i < 80; ++i) damaged[i] = static_cast<char>(0xFF);
  std::ofstream(dir.path() / "bad.parquet", std::ios::binary) << damaged;
  auto bad = FileReader::Open(dir.path() / "bad.parquet");
  ASSERT_TRUE(bad.ok()) << bad.status().message();
  bool failed = false;
  for (int c : {0, 1, 3, 4, 5}) failed |= !(*bad)->ReadColumn(0, c).ok();
  EXPECT_TRUE(failed);
}

// A chunk that claims more values than the reader's limit is refused before anything is
// allocated for it, with a message naming the limit; within the limit the same file reads.
TEST(FileReader, RefusesChunksThatClaimMoreThanItsLimits) {
  TempDir dir;
  Write(dir.path() / "t.parquet", FlatSchema(), MakeRows(100), {});
  ReadLimits small;
  small.max_chunk_values = 99;
  auto reader = FileReader::Open(dir.path() / "t.parquet", small);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  auto ids = (*reader)->ReadColumn(0, 0);
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("claims 100 values in one chunk; this reader's limit is 99"), std::string::npos)
      << ids.status().message();

  ReadLimits tiny_pages;
  tiny_pages.max_page_bytes = 16;
  auto paged = FileReader::Open(dir.path() / "t.parquet", tiny_pages);
  ASSERT_TRUE(paged.ok());
  auto jsons = (*paged)->ReadColumn(0, 5);
  ASSERT_FALSE(jsons.ok());
  EXPECT_NE(jsons.status().message().find("this reader's limit is 16"), std::string::npos) << jsons.status().message();

  small.max_chunk_values = 100;
  auto enough = FileReader::Open(dir.path() / "t.parquet", small);
  ASSERT_TRUE(enough.ok());
  auto read = (*enough)->ReadColumn(0, 0);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->size(), 100u);
}

TEST(Rle, DecodesWhatItEncodes) {
  for (int width : {1, 2, 3, 7, 8, 13, 20}) {
    std::vector<uint32_t> values;
    for (uint32_t i = 0; i < 1000; ++i) values.push_back(i % 37 < 20 ? 1 : (i * 2654435761u) & ((1u << width) - 1));
    std::string encoded;
    EncodeRleHybrid(values, width, encoded);
    std::vector<uint32_t> back;
    ASSERT_TRUE(DecodeRleHybrid(encoded, width, values.size(), back).ok()) << width;
    EXPECT_EQ(back, values) << width;
    EXPECT_FALSE(DecodeRleHybrid(std::string_view(encoded).substr(0, encoded.size() / 2), width, values.size(), back).ok());
  }
}

TEST(FileReaderNestedTest, ReadsListsAndMapsWithTheirLevels) {
  // optional group m (MAP) { repeated group key_value { required key; optional value } } and
  // optional group l (LIST) { repeated group list { optional element } }, as Delta checkpoints.
  TempDir dir;
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(StringMap("m"));
  cols.push_back(List("l", Leaf("element", PhysicalType::kInt64)));
  Schema schema(std::move(cols));
  {
    auto w = FileWriter::Open(dir.path() / "n.parquet", schema);
    ASSERT_TRUE(w.ok());
    // row 0: m = {a: "1", b: null}, l = [7, null, 9]; row 1: m = {}, l = null; row 2: m = null, l = [].
    (*w)->column(0).AddBytes(0, "a"), (*w)->column(1).AddBytes(0, "1");
    (*w)->column(0).AddBytes(1, "b"), (*w)->column(1).AddNull(1, 2);
    (*w)->column(2).AddInt64(0, 7), (*w)->column(2).AddNull(1, 2), (*w)->column(2).AddInt64(1, 9);
    ASSERT_TRUE((*w)->EndRow().ok());
    (*w)->column(0).AddNull(0, 1), (*w)->column(1).AddNull(0, 1), (*w)->column(2).AddNull(0, 0);
    ASSERT_TRUE((*w)->EndRow().ok());
    (*w)->column(0).AddNull(0, 0), (*w)->column(1).AddNull(0, 0), (*w)->column(2).AddNull(0, 1);
    ASSERT_TRUE((*w)->EndRow().ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  auto r = FileReader::Open(dir.path() / "n.parquet");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const int key = (*r)->FindColumn("m.key_value.key"), value = (*r)->FindColumn("m.key_value.value");
  const int element = (*r)->FindColumn("l.list.element");
  EXPECT_EQ((*r)->repeated_def(key), 2);
  EXPECT_EQ((*r)->repeated_def(element), 2);
  auto keys = (*r)->ReadColumn(0, key);
  auto values = (*r)->ReadColumn(0, value);
  auto elements = (*r)->ReadColumn(0, element);
  ASSERT_TRUE(keys.ok() && values.ok() && elements.ok()) << keys.status().message() << elements.status().message();
  EXPECT_EQ(keys->rep_levels, (std::vector<uint8_t>{0, 1, 0, 0}));
  EXPECT_EQ(keys->def_levels, (std::vector<uint8_t>{2, 2, 1, 0}));
  EXPECT_EQ(keys->string(0), "a");
  EXPECT_EQ(keys->string(1), "b");
  EXPECT_TRUE(values->present[0]);
  EXPECT_FALSE(values->present[1]);
  EXPECT_EQ(values->string(0), "1");
  EXPECT_EQ(elements->rep_levels, (std::vector<uint8_t>{0, 1, 1, 0, 0}));
  EXPECT_EQ(elements->def_levels, (std::vector<uint8_t>{3, 2, 3, 0, 1}));
  EXPECT_EQ(elements->ints[0], 7);
  EXPECT_EQ(elements->ints[2], 9);
}

}  // namespace
}  // namespace fhirlake::parquet
