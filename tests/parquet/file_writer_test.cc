// Files written by parquet::FileWriter (fed by load::JsonShredder) read back by DuckDB.
#include "fhirlake/parquet/file_writer.h"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "fhirlake/load/json_shredder.h"
#include "tests/support/duckdb.h"
#include "tests/support/parquet_readers.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::parquet {
namespace {

using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;
using nlohmann::json;

Schema PatientLikeSchema() {
  std::vector<std::unique_ptr<SchemaNode>> meta;
  meta.push_back(Leaf("versionId", PhysicalType::kByteArray, LogicalType::kString));
  meta.push_back(Leaf("lastUpdated", PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc));
  std::vector<std::unique_ptr<SchemaNode>> name;
  name.push_back(Leaf("family", PhysicalType::kByteArray, LogicalType::kString));
  name.push_back(List("given", Leaf("element", PhysicalType::kByteArray, LogicalType::kString)));
  std::vector<std::unique_ptr<SchemaNode>> quantity;
  quantity.push_back(DecimalText("value"));
  quantity.push_back(Leaf("unit", PhysicalType::kByteArray, LogicalType::kString));
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Group("meta", std::move(meta)));
  cols.push_back(Leaf("active", PhysicalType::kBoolean));
  cols.push_back(Leaf("gender", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Leaf("multipleBirthInteger", PhysicalType::kInt32));
  cols.push_back(List("name", Group("element", std::move(name))));
  cols.push_back(Group("valueQuantity", std::move(quantity)));
  cols.push_back(Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
  return Schema(std::move(cols));
}

// Writes `lines` through the shredder; `_json` gets each line as it is.
void WriteFile(const std::filesystem::path& path, const Schema& schema, const std::vector<std::string>& lines,
               WriterOptions options = {}) {
  auto writer = FileWriter::Open(path, schema, options);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  load::JsonShredder shredder(schema, **writer, {"_json"});
  const size_t json_leaf = schema.leaves().size() - 1;
  for (const auto& line : lines) {
    simdjson::padded_string padded(line);
    Status s = shredder.ShredRow(std::string_view(padded.data(), padded.size()));
    ASSERT_TRUE(s.ok()) << s.message();
    (*writer)->column(json_leaf).AddBytes(0, line);
    ASSERT_TRUE((*writer)->EndRow().ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
}

const std::vector<std::string> kLines = {
    R"({"resourceType":"Patient","id":"a","meta":{"versionId":"3","lastUpdated":"2024-01-02T03:04:05.678Z"},"active":true,"gender":"female","multipleBirthInteger":2,"name":[{"family":"Smith","given":["Ann","B"]},{"family":"Jones"}],"valueQuantity":{"value":72.50,"unit":"kg"},"unknownElement":{"x":[1,2]}})",
    R"({"resourceType":"Patient","id":"b","active":false,"name":[],"gender":7})",
    R"({"resourceType":"Patient","id":"c","meta":{"lastUpdated":"2020-03"},"name":[{"given":[]},{"given":["Solo"]}]})",
};

TEST(ParquetFile, NestedValuesRoundTripThroughDuckDb) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  WriteFile(dir / "p.parquet", schema, kLines);
  json rows = DuckDb("SELECT id, meta.versionId AS v, CAST(meta.lastUpdated AS VARCHAR) AS lu, active, gender, "
                     "multipleBirthInteger AS births, len(name)::INTEGER AS names, name[1].family AS family, "
                     "name[1].given AS given, name[2].given AS given2, valueQuantity.value AS qty, _json "
                     "FROM '" + (dir / "p.parquet").string() + "' ORDER BY id");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["v"], "3");
  EXPECT_EQ(rows[0]["lu"], "2024-01-02 03:04:05.678+00");
  EXPECT_EQ(rows[0]["active"], true);
  EXPECT_EQ(rows[0]["gender"], "female");
  EXPECT_EQ(rows[0]["births"], 2);
  EXPECT_EQ(rows[0]["names"], 2);
  EXPECT_EQ(rows[0]["family"], "Smith");
  EXPECT_EQ(rows[0]["given"], json::array({"Ann", "B"}));
  EXPECT_EQ(rows[0]["given2"], nullptr);
  EXPECT_EQ(rows[0]["qty"], "72.50") << "decimals keep their exact text";
  EXPECT_EQ(rows[1]["active"], false);
  EXPECT_EQ(rows[1]["names"], 0) << "an empty list is present and empty";
  EXPECT_EQ(rows[1]["gender"], nullptr) << "a value of the wrong JSON type is null";
  EXPECT_EQ(rows[1]["v"], nullptr);
  EXPECT_EQ(rows[2]["lu"], "2020-03-01 00:00:00+00");
  EXPECT_EQ(rows[2]["given"], json::array());
  EXPECT_EQ(rows[2]["given2"], json::array({"Solo"}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(rows[i]["_json"], kLines[i]) << "_json is the line, byte for byte";
}

TEST(ParquetFile, ManyRowsAcrossPagesAndRowGroupsWithDictionaries) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  std::vector<std::string> lines;
  for (int i = 0; i < 20000; ++i) {
    lines.push_back(json{{"resourceType", "Patient"},
                         {"id", "p" + std::to_string(i)},
                         {"gender", i % 3 ? "female" : "male"},
                         {"multipleBirthInteger", i},
                         {"name", {{{"family", "F" + std::to_string(i % 50)}, {"given", {"G", std::to_string(i)}}}}}}
                        .dump());
  }
  WriterOptions options;
  options.row_group_bytes = 256u << 10;  // several row groups
  options.column.page_bytes = 16u << 10; // several pages per chunk
  WriteFile(dir / "many.parquet", schema, lines, options);
  std::string file = "'" + (dir / "many.parquet").string() + "'";
  json groups = DuckDb("SELECT count(DISTINCT row_group_id)::INTEGER AS n, bool_or(encodings LIKE '%RLE_DICTIONARY%') AS dict "
                       "FROM parquet_metadata(" + file + ") WHERE path_in_schema = 'gender'");
  ASSERT_TRUE(groups.is_array()) << groups.dump();
  EXPECT_GT(groups[0]["n"].get<int>(), 1);
  EXPECT_EQ(groups[0]["dict"], true);
  json stats = DuckDb("SELECT count(*)::INTEGER AS n, sum(multipleBirthInteger)::INTEGER AS s, "
                      "count(DISTINCT name[1].family)::INTEGER AS f, sum(len(name[1].given))::INTEGER AS g, "
                      "min(id) AS lo, max(id) AS hi FROM " + file);
  ASSERT_TRUE(stats.is_array()) << stats.dump();
  EXPECT_EQ(stats[0]["n"], 20000);
  EXPECT_EQ(stats[0]["s"], 19999 * 20000 / 2);
  EXPECT_EQ(stats[0]["f"], 50);
  EXPECT_EQ(stats[0]["g"], 40000);
  EXPECT_EQ(stats[0]["lo"], "p0");
  EXPECT_EQ(stats[0]["hi"], "p9999");
  // Footer statistics agree with the data.
  json minmax = DuckDb("SELECT min(stats_min_value::INTEGER) AS lo, max(stats_max_value::INTEGER) AS hi, "
                       "sum(stats_null_count)::INTEGER AS nulls FROM parquet_metadata(" + file +
                       ") WHERE path_in_schema = 'multipleBirthInteger'");
  ASSERT_TRUE(minmax.is_array()) << minmax.dump();
  EXPECT_EQ(minmax[0]["lo"], 0);
  EXPECT_EQ(minmax[0]["hi"], 19999);
  EXPECT_EQ(minmax[0]["nulls"], 0);
}

// Rows of several megabytes (inline attachments) end a row group as soon as it reaches its
// target, not only every 256 rows: 250 rows of 18 MB made one 4.5 GB row group, past the 32-bit
// value offsets of a column and the 2 GiB a reader (fhirlake's merge included) takes.
TEST(ParquetFile, LargeRowsEndTheirRowGroupAtTheTarget) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) {
    lines.push_back(json{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)},
                         {"gender", std::string(2u << 20, static_cast<char>('a' + i))}}.dump());
  }
  WriterOptions options;
  options.row_group_bytes = 3u << 20;  // between one row (2 MB twice: gender and _json) and two
  WriteFile(dir / "large.parquet", schema, lines, options);
  std::string file = "'" + (dir / "large.parquet").string() + "'";
  json groups = DuckDb("SELECT count(DISTINCT row_group_id)::INTEGER AS n, max(row_group_num_rows)::INTEGER AS most "
                       "FROM parquet_metadata(" + file + ")");
  ASSERT_TRUE(groups.is_array()) << groups.dump();
  EXPECT_GE(groups[0]["n"].get<int>(), 5) << groups.dump();
  EXPECT_LE(groups[0]["most"].get<int>(), 2) << groups.dump();
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, sum(length(gender))::INTEGER AS bytes FROM " + file);
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 10);
  EXPECT_EQ(rows[0]["bytes"], 10 * (2 << 20));
}

// Runs each item on one of three threads, in whatever order they take them.
class ThreeThreads : public ParallelFor {
 public:
  void Run(size_t n, const std::function<void(size_t)>& work) override {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&] {
        for (size_t i; (i = next++) < n;) work(i);
      });
    }
    for (auto& t : threads) t.join();
    ++runs;
  }
  int runs = 0;
};

// Runs the items on the calling thread in the order given, recording it.
class InOrder : public ParallelFor {
 public:
  void Run(size_t n, const std::function<void(size_t)>& work) override {
    for (size_t i = 0; i < n; ++i) work(i);
  }
};

TEST(ParallelFor, RunCostliestFirstStartsTheBiggestItems) {
  InOrder in_order;
  std::vector<size_t> ran;
  in_order.RunCostliestFirst({3, 9, 1, 9, 0, 5}, [&](size_t i) { ran.push_back(i); });
  EXPECT_EQ(ran, (std::vector<size_t>{1, 3, 5, 0, 2, 4}));  // ties keep their order
  ran.clear();
  in_order.RunCostliestFirst({}, [&](size_t i) { ran.push_back(i); });
  EXPECT_TRUE(ran.empty());
}

std::string FileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Column chunks encoded on several threads (each at offset 0, placed afterwards) make the same
// file, byte for byte, as one thread writing them in place: offsets, statistics and pages.
TEST(ParquetFile, ChunksEncodedInParallelMakeTheSameFile) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  std::vector<std::string> lines;
  for (int i = 0; i < 12000; ++i) {
    json row{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)}, {"gender", i % 3 ? "female" : "male"},
             {"name", {{{"family", "F" + std::to_string(i % 50)}, {"given", {"G", std::to_string(i)}}}}}};
    if (i % 4) row["multipleBirthInteger"] = i;
    if (i % 5 == 0) row["valueQuantity"] = {{"value", i / 7.0}, {"unit", "kg"}};
    lines.push_back(row.dump());
  }
  WriterOptions options;
  options.row_group_bytes = 128u << 10;  // several row groups
  options.column.page_bytes = 16u << 10;
  WriteFile(dir / "one.parquet", schema, lines, options);
  ThreeThreads threads;
  options.parallel = &threads;
  WriteFile(dir / "three.parquet", schema, lines, options);
  EXPECT_GT(threads.runs, 2) << "several row groups went through the threads";
  const std::string one = FileBytes(dir / "one.parquet"), three = FileBytes(dir / "three.parquet");
  ASSERT_GT(one.size(), 1000u);
  EXPECT_TRUE(one == three) << one.size() << " vs " << three.size() << " bytes";
  json n = DuckDb("SELECT count(*)::INTEGER AS n, count(multipleBirthInteger)::INTEGER AS m FROM '" +
                  (dir / "three.parquet").string() + "'");
  ASSERT_TRUE(n.is_array()) << n.dump();
  EXPECT_EQ(n[0]["n"], 12000);
  EXPECT_EQ(n[0]["m"], 9000);
}

// Top-level strings that do not repeat (`_json`, `id`, and here `note`, null in every third
// row) are compressed a page at a time as rows arrive; `gender`, which repeats, keeps its
// dictionary. Every value, null and statistic must read back as written, by DuckDB and by
// arrow-rs and hyparquet.
TEST(ParquetFile, ColumnsWrittenPageByPageReadBackWhole) {
  TempDir dir;
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Leaf("gender", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Leaf("note", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
  Schema schema(std::move(cols));
  std::vector<std::string> lines;
  size_t json_bytes = 0;
  for (int i = 0; i < 30000; ++i) {
    json row{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)}, {"gender", i % 2 ? "female" : "male"}};
    if (i % 3) row["note"] = "note " + std::to_string(i * 7919 % 100003) + std::string(static_cast<size_t>(i % 40), 'x');
    lines.push_back(row.dump());
    json_bytes += lines.back().size();
  }
  WriterOptions options;
  options.row_group_bytes = 512u << 10;  // several row groups, each of several pages
  options.column.page_bytes = 8u << 10;
  WriteFile(dir / "paged.parquet", schema, lines, options);
  const std::string file = "'" + (dir / "paged.parquet").string() + "'";

  json meta = DuckDb("SELECT path_in_schema AS col, count(DISTINCT row_group_id)::INTEGER AS groups, "
                     "bool_or(encodings LIKE '%RLE_DICTIONARY%') AS dict, sum(num_values)::INTEGER AS n, "
                     "sum(stats_null_count)::INTEGER AS nulls, "
                     "bool_and(total_uncompressed_size > total_compressed_size) AS smaller "
                     "FROM parquet_metadata(" + file + ") GROUP BY 1 ORDER BY 1");
  ASSERT_TRUE(meta.is_array() && meta.size() == 4) << meta.dump();
  for (const auto& c : meta) {
    EXPECT_GT(c["groups"].get<int>(), 2) << c.dump();
    EXPECT_EQ(c["n"], 30000) << c.dump();
    EXPECT_EQ(c["dict"], c["col"] == "gender") << c.dump();
    EXPECT_EQ(c["nulls"], c["col"] == "note" ? 10000 : 0) << c.dump();
  }
  json pages = DuckDb("SELECT count(*)::INTEGER AS chunks FROM parquet_metadata(" + file +
                      ") WHERE path_in_schema = '_json' AND total_uncompressed_size > 8 * 1024");
  ASSERT_TRUE(pages.is_array()) << pages.dump();
  EXPECT_GT(pages[0]["chunks"].get<int>(), 2) << "each _json chunk spans several pages";

  json rows = DuckDb("SELECT count(*)::INTEGER AS n, sum(strlen(_json))::INTEGER AS bytes, "
                     "count(note)::INTEGER AS notes, "
                     "sum(CASE WHEN gender = json_extract_string(_json, '$.gender') AND "
                     "note IS NOT DISTINCT FROM json_extract_string(_json, '$.note') THEN 1 ELSE 0 END)::INTEGER AS agree, "
                     "sum(CASE WHEN id = json_extract_string(_json, '$.id') THEN 1 ELSE 0 END)::INTEGER AS ids "
                     "FROM " + file);
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 30000);
  EXPECT_EQ(rows[0]["bytes"].get<size_t>(), json_bytes);
  EXPECT_EQ(rows[0]["notes"], 20000);
  EXPECT_EQ(rows[0]["agree"], 30000) << "each row's columns agree with its own _json";
  EXPECT_EQ(rows[0]["ids"], 30000);
  json some = DuckDb("SELECT id, note, _json FROM " + file + " WHERE id IN ('p0', 'p1', 'p12345', 'p29999') ORDER BY id");
  ASSERT_TRUE(some.is_array() && some.size() == 4) << some.dump();
  const int picked[] = {0, 1, 12345, 29999};  // in id order as strings
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(some[k]["_json"], lines[static_cast<size_t>(picked[k])]) << k;
  EXPECT_EQ(some[0]["note"], nullptr);
  EXPECT_EQ(some[1]["note"], json::parse(lines[1])["note"]);

  auto failures = fhirlake::testing::ParquetReaderFailures(dir.path());
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(fhirlake::testing::ParquetFilesReadLastCall(), 1u);
}

// A dictionary of thousands of values (its hash table grows several times while it is built)
// still maps every value to its own entry.
TEST(ParquetFile, LargeDictionariesKeepEveryValue) {
  TempDir dir;
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Leaf("n", PhysicalType::kInt64));
  cols.push_back(Leaf("code", PhysicalType::kByteArray, LogicalType::kString));
  Schema schema(std::move(cols));
  auto writer = FileWriter::Open(dir / "dict.parquet", schema, {});
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  for (int64_t i = 0; i < 12000; ++i) {
    (*writer)->column(0).AddInt64(0, i);
    (*writer)->column(1).AddBytes(0, "code-" + std::to_string(i * 7 % 3000));  // 3,000 values, 4 times each
    ASSERT_TRUE((*writer)->EndRow().ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
  const std::string file = "'" + (dir / "dict.parquet").string() + "'";
  json meta = DuckDb("SELECT bool_and(encodings LIKE '%RLE_DICTIONARY%') AS dict FROM parquet_metadata(" + file +
                     ") WHERE path_in_schema = 'code'");
  ASSERT_TRUE(meta.is_array()) << meta.dump();
  EXPECT_EQ(meta[0]["dict"], true);
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT code)::INTEGER AS d, "
                     "sum(CASE WHEN code = 'code-' || (n * 7 % 3000)::VARCHAR THEN 1 ELSE 0 END)::INTEGER AS right "
                     "FROM " + file);
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 12000);
  EXPECT_EQ(rows[0]["d"], 3000);
  EXPECT_EQ(rows[0]["right"], 12000);
}

// What a paged column holds while its row group fills: compressed pages, not its text.
TEST(ParquetFile, APagedColumnHoldsCompressedPagesNotItsText) {
  TempDir dir;
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Leaf("code", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
  Schema schema(std::move(cols));
  WriterOptions options;
  options.column.page_bytes = 64u << 10;
  auto writer = FileWriter::Open(dir / "held.parquet", schema, options);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  for (int i = 0; i < 5000; ++i) {
    (*writer)->column(0).AddBytes(0, i % 2 ? "a" : "b");
    (*writer)->column(1).AddBytes(0, json{{"id", i}, {"text", std::string(1000, static_cast<char>('a' + i % 26))}}.dump());
    ASSERT_TRUE((*writer)->EndRow().ok());
  }
  const ColumnWriter& text = (*writer)->column(1);
  EXPECT_GT(text.encoded_bytes(), 5000u * 1000) << "row group sizing still counts the text";
  EXPECT_LT(text.memory_bytes(), text.encoded_bytes() / 4) << "held as compressed pages";
  const ColumnWriter& code = (*writer)->column(0);
  EXPECT_GE(code.memory_bytes(), 5000u * 5) << "a repeating column stays buffered for its dictionary";
  ASSERT_TRUE((*writer)->Close().ok());
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT _json)::INTEGER AS d, "
                     "sum(CASE WHEN code = 'a' THEN 1 ELSE 0 END)::INTEGER AS a FROM '" + (dir / "held.parquet").string() + "'");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 5000);
  EXPECT_EQ(rows[0]["d"], 5000);
  EXPECT_EQ(rows[0]["a"], 2500);
}

TEST(ParquetFile, DecimalsReadBackAsTheSourceTextsValues) {
  TempDir dir;
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
  cols.push_back(Decimal("value", 38, 18));
  cols.push_back(List("values", Decimal("element", 38, 18)));
  cols.push_back(Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
  Schema schema(std::move(cols));
  // Source text → the value DuckDB must read (DECIMAL(38,18) as text); null where it cannot hold it.
  const std::vector<std::pair<std::string, json>> cases = {
      {"72.50", "72.500000000000000000"},
      {"-0.001", "-0.001000000000000000"},
      {"0", "0.000000000000000000"},
      {"1e3", "1000.000000000000000000"},
      {"-2.5E-2", "-0.025000000000000000"},
      {"12345678901234567890.123456789012345678", "12345678901234567890.123456789012345678"},
      {"0.0000000000000000015", "0.000000000000000002"},  // rounded at the 18th fractional digit
      {"123456789012345678901", nullptr},                   // 21 integer digits: does not fit
      {"\"7\"", nullptr},                                  // not a number
  };
  std::vector<std::string> lines;
  for (size_t i = 0; i < cases.size(); ++i) {
    lines.push_back(R"({"id":"r)" + std::to_string(i) + R"(","value":)" + cases[i].first + R"(,"values":[1.5,)" +
                    cases[i].first + "]}");
  }
  WriteFile(dir / "d.parquet", schema, lines);
  json rows = DuckDb("SELECT id, CAST(value AS VARCHAR) AS v, CAST(\"values\"[1] AS VARCHAR) AS first, "
                     "typeof(value) AS t FROM '" + (dir / "d.parquet").string() + "' ORDER BY id");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  ASSERT_EQ(rows.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(rows[i]["v"], cases[i].second) << cases[i].first;
    EXPECT_EQ(rows[i]["first"], "1.500000000000000000");
    EXPECT_EQ(rows[i]["t"], "DECIMAL(38,18)");
  }
  // Footer statistics compare decimals as signed numbers.
  json minmax = DuckDb("SELECT stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata('" + (dir / "d.parquet").string() +
                       "') WHERE path_in_schema = 'value'");
  ASSERT_TRUE(minmax.is_array() && minmax.size() == 1) << minmax.dump();
  EXPECT_EQ(minmax[0]["lo"], "-0.025000000000000000");
  EXPECT_EQ(minmax[0]["hi"], "12345678901234567890.123456789012345678");
}

TEST(ParquetFile, FooterFollowsParquetThrift) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  WriteFile(dir / "f.parquet", schema, kLines);
  json meta = DuckDb("SELECT format_version::INTEGER AS v FROM parquet_file_metadata('" + (dir / "f.parquet").string() + "')");
  ASSERT_TRUE(meta.is_array() && meta.size() == 1) << meta.dump();
  EXPECT_EQ(meta[0]["v"], 1) << "FileMetaData.version";
  json chunks = DuckDb("SELECT max(file_offset)::INTEGER AS o FROM parquet_metadata('" + (dir / "f.parquet").string() + "')");
  ASSERT_TRUE(chunks.is_array()) << chunks.dump();
  EXPECT_EQ(chunks[0]["o"], 0) << "ColumnChunk.file_offset is deprecated and 0";
}

TEST(ParquetFile, MalformedLineLeavesNoTrace) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  auto writer = FileWriter::Open(dir / "x.parquet", schema);
  ASSERT_TRUE(writer.ok());
  load::JsonShredder shredder(schema, **writer, {"_json"});
  for (std::string bad : {R"({"id":"x","name":[{"family":"A"},)", R"(["not","an","object"])", R"({"id":"x","id":"y"})"}) {
    simdjson::padded_string padded(bad);
    EXPECT_FALSE(shredder.ShredRow(std::string_view(padded.data(), padded.size())).ok()) << bad;
  }
  for (size_t i = 0; i < (*writer)->column_count(); ++i) EXPECT_EQ((*writer)->column(i).level_count(), 0u);
  ASSERT_TRUE((*writer)->Close().ok());
  json rows = DuckDb("SELECT count(*)::INTEGER AS n FROM '" + (dir / "x.parquet").string() + "'");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 0);
}

// `_json` keeps the line, so a line is refused when any part of it is not JSON, also parts
// the schema does not read: values of the wrong type, elements it does not have, numbers out
// of a column's range, and anything after the object.
TEST(ParquetFile, LinesThatAreNotJsonAnywhereAreRefused) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  auto writer = FileWriter::Open(dir / "x.parquet", schema);
  ASSERT_TRUE(writer.ok());
  load::JsonShredder shredder(schema, **writer, {"_json"});
  auto shred = [&](const std::string& line) {
    simdjson::padded_string padded(line);
    return shredder.ShredRow(std::string_view(padded.data(), padded.size()));
  };
  for (std::string bad : {
           R"({"id":"x","gender":tru})",                        // wrong type, bad literal
           R"({"id":"x","active":nul})",                        // null misspelt
           R"({"id":"x","multipleBirthInteger":12x})",          // not a number
           R"({"id":"x","multipleBirthInteger":01})",           // a leading zero
           R"({"id":"x","valueQuantity":{"value":1.}})",        // a decimal with no fraction digits
           R"({"id":"x","valueQuantity":{"value":-01.5}})",
           R"({"id":"x","unknownElement":{"a":[1,{"b":fals}]}})",  // deep in an element not in the schema
           R"({"id":"x","unknownElement":"a\qb"})",            // a bad escape
           R"({"id":"x","resourceType":[1,2,}]})",
           R"({"id":"x"} {"id":"y"})",                          // trailing content
           R"({"id":"x"}})",
       }) {
    EXPECT_FALSE(shred(bad).ok()) << bad;
  }
  const std::string deep = R"({"id":"x","unknownElement":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_FALSE(shred(deep).ok()) << "nesting beyond the parser's depth limit";
  Status duplicate = shred(R"({"id":"x","name":[{"family":"A","family":"B"}]})");
  EXPECT_NE(duplicate.message().find("the key 'family' twice"), std::string::npos) << duplicate.message();
  // resourceType is not a column, and a second one (of any type) would make the line's type
  // depend on the reader.
  for (std::string twice : {R"({"resourceType":"Patient","id":"x","resourceType":[1]})",
                            R"({"resourceType":1,"id":"x","resourceType":"Patient"})"}) {
    Status s = shred(twice);
    EXPECT_NE(s.message().find("the key 'resourceType' twice"), std::string::npos) << twice << ": " << s.message();
  }
  for (size_t i = 0; i < (*writer)->column_count(); ++i) EXPECT_EQ((*writer)->column(i).level_count(), 0u);

  for (std::string good : {
           R"({"id":"x","multipleBirthInteger":123456789012345678901234567890})",  // JSON has no size limit
           R"({"id":"x","unknownElement":[1e400,-0.0e-7,null,true,false,"\u00e9",{}]})",
           R"({"id":"x","active":null,"gender":12,"name":"not a list"} )",
       }) {
    ASSERT_TRUE(shred(good).ok()) << good;
    (*writer)->column(schema.leaves().size() - 1).AddBytes(0, good);
    ASSERT_TRUE((*writer)->EndRow().ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, count(json_extract(_json, '$.id'))::INTEGER AS j FROM '" +
                     (dir / "x.parquet").string() + "'");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 3);
  EXPECT_EQ(rows[0]["j"], 3) << "every kept _json is JSON to DuckDB";
}

TEST(ParquetFile, JsonNumberGrammar) {
  for (const char* yes : {"0", "-0", "12", "1.5", "-0.25e+3", "1E9", "123456789012345678901234567890"}) {
    EXPECT_TRUE(load::IsJsonNumber(yes)) << yes;
  }
  for (const char* no : {"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x1", "1.2.3", "--1", "1 "}) {
    EXPECT_FALSE(load::IsJsonNumber(no)) << no;
  }
}

TEST(ParquetFile, UncompressedFilesAreReadableToo) {
  TempDir dir;
  Schema schema = PatientLikeSchema();
  WriterOptions options;
  options.column.compression = Compression::kUncompressed;
  WriteFile(dir / "u.parquet", schema, kLines, options);
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, count(gender)::INTEGER AS genders, "
                     "sum(len(name))::INTEGER AS names FROM '" + (dir / "u.parquet").string() + "'");
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_EQ(rows[0]["n"], 3);
  EXPECT_EQ(rows[0]["genders"], 1);
  EXPECT_EQ(rows[0]["names"], 4);
}

}  // namespace
}  // namespace fhirlake::parquet
