// Delta add.stats built from the writer's column statistics: Delta's string truncation rules,
// and the nesting, counting and null counts on a small file.
#include "fhirlake/load/file_stats.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "fhirlake/load/json_shredder.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

using nlohmann::json;
using namespace parquet;

TEST(TruncateString, MinKeepsAPrefixOf32Units) {
  EXPECT_EQ(TruncateMinString("short", 32), "short");
  EXPECT_EQ(TruncateMinString(std::string(40, 'a'), 32), std::string(32, 'a'));
  // A supplementary character counts two units and is never split.
  std::string s = std::string(31, 'a') + "\xF0\x9F\x98\x80" + "zz";
  EXPECT_EQ(TruncateMinString(s, 32), std::string(31, 'a') + "\xF0\x9F\x98\x80");
}

TEST(TruncateString, MaxGetsATieBreakerThatKeepsItAnUpperBound) {
  std::string out;
  ASSERT_TRUE(TruncateMaxString("short", false, 32, out));
  EXPECT_EQ(out, "short");
  ASSERT_TRUE(TruncateMaxString(std::string(40, 'a'), false, 32, out));
  EXPECT_EQ(out, std::string(32, 'a') + "\x7F");
  EXPECT_GT(out, std::string(40, 'a'));
  // The next character is not ASCII: the tie-breaker is U+10FFFF.
  std::string accented = std::string(32, 'a') + "\xC3\xA9" + "x";
  ASSERT_TRUE(TruncateMaxString(accented, false, 32, out));
  EXPECT_EQ(out, std::string(32, 'a') + "\xF4\x8F\xBF\xBF");
  EXPECT_GT(out, accented);
  // A value cut before the bound could be built has no max.
  std::string top;
  for (int i = 0; i < 40; ++i) top += "\xF4\x8F\xBF\xBF";  // U+10FFFF, beyond which nothing is bigger
  EXPECT_FALSE(TruncateMaxString(std::string(32, 'a') + top, true, 32, out));
}

std::unique_ptr<SchemaNode> Text(const std::string& name) { return Leaf(name, PhysicalType::kByteArray, LogicalType::kString); }

TEST(DeltaFileStats, NestedAsTheSchemaForTheFirstColumnsAndIdAndLastUpdatedAlways) {
  std::vector<std::unique_ptr<SchemaNode>> meta;
  meta.push_back(Text("versionId"));
  meta.push_back(Leaf("lastUpdated", PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc));
  std::vector<std::unique_ptr<SchemaNode>> cols;
  cols.push_back(Text("status"));
  cols.push_back(Leaf("active", PhysicalType::kBoolean));
  cols.push_back(List("alias", Text("element")));
  cols.push_back(Leaf("count", PhysicalType::kInt32));
  cols.push_back(Text("id"));
  cols.push_back(Group("meta", std::move(meta)));
  cols.push_back(Text("_json"));
  Schema schema(std::move(cols));
  testing::TempDir dir;
  auto writer = FileWriter::Open(dir / "f.parquet", schema);
  ASSERT_TRUE(writer.ok());
  {
    JsonShredder shredder(schema, **writer, {"_json"});
    for (std::string line : {
             R"({"id":"b","status":"final","active":true,"alias":["x"],"count":3,"meta":{"lastUpdated":"2023-05-06T07:08:09.123456Z"}})",
             R"({"id":"a","alias":[],"count":-2,"meta":{"versionId":"1","lastUpdated":"2021-01-01T00:00:00Z"}})",
             R"({"id":"c","status":"amended"})",
         }) {
      simdjson::padded_string padded(line);
      ASSERT_TRUE(shredder.ShredRow(std::string_view(padded.data(), padded.size())).ok());
      ASSERT_TRUE((*writer)->EndRow().ok());
    }
  }
  ASSERT_TRUE((*writer)->Close().ok());
  json stats = json::parse(DeltaFileStats(schema, **writer, {.num_indexed_cols = 3}));
  EXPECT_EQ(stats["numRecords"], 3);
  EXPECT_EQ(stats["minValues"], json::parse(R"({"status":"amended","id":"a","meta":{"lastUpdated":"2021-01-01T00:00:00.000Z"}})"));
  EXPECT_EQ(stats["maxValues"], json::parse(R"({"status":"final","id":"c","meta":{"lastUpdated":"2023-05-06T07:08:09.123Z"}})"));
  // alias: null in the third row only (an empty list is not null); count is not indexed.
  EXPECT_EQ(stats["nullCount"], json::parse(R"({"status":1,"active":2,"alias":1,"id":0,"meta":{"lastUpdated":1}})"));
  EXPECT_EQ(json::parse(WithTightBounds(stats.dump(), false))["tightBounds"], false);
}

}  // namespace
}  // namespace fhirlake::load
