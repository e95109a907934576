// Table schemas derived from the FHIR model, filled from generated resources, read by DuckDB.
#include "fhirlake/load/table_schema.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <simdjson.h>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/fhir/sample_generator.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/parquet/file_writer.h"
#include "tests/support/duckdb.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;
using nlohmann::json;
using parquet::LogicalType;
using parquet::PhysicalType;

const parquet::SchemaNode* FindLeaf(const parquet::Schema& s, const std::string& dotted) {
  for (const auto* leaf : s.leaves()) {
    std::string path;
    for (const auto& p : leaf->path) path += (path.empty() ? "" : ".") + p;
    if (path == dotted) return leaf;
  }
  return nullptr;
}

TEST(TableSchema, PatientColumnsFollowTheModel) {
  parquet::Schema s = BuildTableSchema("Patient");
  EXPECT_EQ(s.root().children.front()->name, "id");
  EXPECT_EQ(s.root().children.back()->name, "_json");
  EXPECT_LT(s.leaves().size(), 1500u) << "the extension cut keeps tables manageable";
  const auto* lu = FindLeaf(s, "meta.lastUpdated");
  ASSERT_NE(lu, nullptr);
  EXPECT_EQ(lu->logical, LogicalType::kTimestampMicrosUtc);
  ASSERT_NE(FindLeaf(s, "name.list.element.family"), nullptr);
  ASSERT_NE(FindLeaf(s, "name.list.element.given.list.element"), nullptr);
  EXPECT_EQ(FindLeaf(s, "active")->type, PhysicalType::kBoolean);
  EXPECT_EQ(FindLeaf(s, "multipleBirthInteger")->type, PhysicalType::kInt32);
  EXPECT_NE(FindLeaf(s, "birthDate"), nullptr);
  EXPECT_NE(FindLeaf(s, "_birthDate.extension.list.element.valueDateTime"), nullptr);
  EXPECT_NE(FindLeaf(s, "extension.list.element.extension.list.element.valueCoding.code"), nullptr);
  EXPECT_EQ(FindLeaf(s, "contained"), nullptr);
  EXPECT_EQ(FindLeaf(s, "name.list.element.extension.list.element.url"), nullptr) << "no extensions below the root";
}

TEST(TableSchema, DepthIsConfigurableAndDecimalsAreTyped) {
  parquet::Schema deep = BuildTableSchema("Observation", {4});
  parquet::Schema shallow = BuildTableSchema("Observation", {2});
  EXPECT_GT(deep.leaves().size(), shallow.leaves().size());
  const auto* value = FindLeaf(shallow, "valueQuantity.value");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->logical, parquet::LogicalType::kDecimal);
  EXPECT_EQ(value->precision, kDecimalPrecision);
  EXPECT_EQ(value->scale, kDecimalScale);
  EXPECT_NE(FindLeaf(shallow, "component.list.element.valueQuantity.value"), nullptr);
}

// What a write with one schema would drop from a table with another: nested fields through
// arrays, whole branches, nothing for a superset.
TEST(TableSchema, ColumnsMissingFromASmallerSchema) {
  const std::string deep = delta::SparkSchemaJson(BuildTableSchema("Observation", {4}));
  const std::string shallow = delta::SparkSchemaJson(BuildTableSchema("Observation", {2}));
  EXPECT_TRUE(ColumnsMissingFrom(shallow, deep).empty()) << "a deeper schema keeps every column";
  const auto missing = ColumnsMissingFrom(deep, shallow);
  ASSERT_FALSE(missing.empty());
  for (const auto& path : missing) EXPECT_EQ(std::count(path.begin(), path.end(), '.') >= 1, true) << path;
  const std::string with_site =
      R"({"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}},)"
      R"({"name":"site","type":{"type":"array","elementType":{"type":"struct","fields":[)"
      R"({"name":"code","type":"string","nullable":true,"metadata":{}}]},"containsNull":true},"nullable":true,"metadata":{}}]})";
  const std::string without = R"({"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}}]})";
  EXPECT_EQ(ColumnsMissingFrom(with_site, without), (std::vector<std::string>{"site", "site.code"}));
  EXPECT_TRUE(ColumnsMissingFrom(without, with_site).empty());
  EXPECT_TRUE(ColumnsMissingFrom("not json", without).empty());
}

// The schema string is written directly, not through a json tree; a table's log holds the
// string as nlohmann dumped it before, and compaction compares the two byte for byte.
TEST(TableSchema, SchemaStringIsCanonicalJson) {
  for (const char* type : {"Observation", "Patient", "MadeUpResource"}) {
    const std::string schema = delta::SparkSchemaJson(BuildTableSchema(type));
    json parsed = json::parse(schema);
    EXPECT_EQ(parsed.dump(), schema) << type;
    EXPECT_EQ(parsed["type"], "struct");
  }
  const std::string observation = delta::SparkSchemaJson(BuildTableSchema("Observation"));
  EXPECT_NE(observation.find(R"({"metadata":{},"name":"value","nullable":true,"type":"decimal()" +
                             std::to_string(kDecimalPrecision) + "," + std::to_string(kDecimalScale) + ")\"}"),
            std::string::npos);
  EXPECT_NE(observation.find(R"({"containsNull":true,"elementType":{"fields":[)"), std::string::npos);
}

TEST(TableSchema, TablesWithTextDecimalsKeepThem) {
  parquet::Schema legacy = BuildTableSchema("Observation", {.max_depth = 3, .decimals_as_text = true});
  const auto* value = FindLeaf(legacy, "valueQuantity.value");
  ASSERT_NE(value, nullptr);
  EXPECT_TRUE(value->number_as_text);
  EXPECT_TRUE(HasTextDecimals(R"({"type":"struct","fields":[{"name":"value","type":"string"}]})"));
  EXPECT_FALSE(HasTextDecimals(R"j({"type":"struct","fields":[{"name":"value","type":"decimal(38,18)"}]})j"));
  EXPECT_FALSE(HasTextDecimals("")) << "a new table";
}

TEST(TableSchema, UnknownTypesGetIdMetaAndJson) {
  parquet::Schema s = BuildTableSchema("MadeUpResource");
  EXPECT_NE(FindLeaf(s, "id"), nullptr);
  EXPECT_NE(FindLeaf(s, "meta.lastUpdated"), nullptr);
  EXPECT_NE(FindLeaf(s, "_json"), nullptr);
}

// Writes one type's generated NDJSON to Parquet; returns the lines.
std::vector<std::string> WriteType(const std::filesystem::path& src, const std::string& type,
                                   const std::filesystem::path& out) {
  parquet::Schema schema = BuildTableSchema(type);
  auto writer = parquet::FileWriter::Open(out, schema);
  EXPECT_TRUE(writer.ok());
  JsonShredder shredder(schema, **writer, {"_json"});
  auto reader = fhir::NdjsonReader::Open(src / (type + ".000.ndjson"));
  EXPECT_TRUE(reader.ok());
  std::vector<std::string> lines;
  std::string_view line;
  while (reader->Next(line)) {
    EXPECT_TRUE(shredder.ShredRow(line).ok()) << line;
    (*writer)->column(schema.leaves().size() - 1).AddBytes(0, line);
    EXPECT_TRUE((*writer)->EndRow().ok());
    lines.emplace_back(line);
  }
  EXPECT_TRUE((*writer)->Close().ok());
  return lines;
}

TEST(TableSchema, GeneratedResourcesAreQueryableInDuckDb) {
  TempDir dir;
  ASSERT_TRUE(fhir::GenerateSample(dir / "src", {40, 11, 100000}).ok());
  auto patients = WriteType(dir / "src", "Patient", dir / "patient.parquet");
  auto observations = WriteType(dir / "src", "Observation", dir / "observation.parquet");

  json p = DuckDb("SELECT id, name[1].family AS family, len(name[1].given)::INTEGER AS given, "
                  "extension[1].extension[1].valueCoding.code AS race, _birthDate.extension[1].valueDateTime AS birth_time, "
                  "CAST(meta.lastUpdated AS VARCHAR) AS lu, _json FROM '" + (dir / "patient.parquet").string() + "'");
  ASSERT_TRUE(p.is_array()) << p.dump();
  ASSERT_EQ(p.size(), patients.size());
  simdjson::dom::parser parser;
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i]["_json"], patients[i]);
    auto src = json::parse(patients[i]);
    EXPECT_EQ(p[i]["id"], src["id"]);
    EXPECT_EQ(p[i]["family"], src["name"][0]["family"]);
    EXPECT_EQ(p[i]["given"], src["name"][0]["given"].size());
    EXPECT_EQ(p[i]["race"], src["extension"][0]["extension"][0]["valueCoding"]["code"]);
    EXPECT_EQ(p[i]["birth_time"], src["_birthDate"]["extension"][0]["valueDateTime"]);
    std::string lu = src["meta"]["lastUpdated"];  // 2023-05-06T07:08:09.000Z → 2023-05-06 07:08:09+00
    EXPECT_EQ(p[i]["lu"], lu.substr(0, 10) + " " + lu.substr(11, 8) + "+00");
  }
  json o = DuckDb("SELECT CAST(valueQuantity.value AS VARCHAR) AS v, "
                  "valueQuantity.value = CAST(json_extract(_json, '$.valueQuantity.value')::VARCHAR AS DECIMAL(38,18)) AS same, "
                  "len(component)::INTEGER AS parts, "
                  "component[1].valueQuantity.value AS systolic, valueCodeableConcept.coding[1].code AS smoking, _json "
                  "FROM '" + (dir / "observation.parquet").string() + "'");
  ASSERT_TRUE(o.is_array()) << o.dump();
  ASSERT_EQ(o.size(), observations.size());
  size_t quantities = 0, panels = 0, concepts = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    const std::string& line = observations[i];
    EXPECT_EQ(o[i]["_json"], line);
    if (!o[i]["v"].is_null()) {
      ++quantities;
      // DECIMAL(38,18) holding the source text's value, e.g. 36.50 → 36.500000000000000000.
      EXPECT_EQ(o[i]["same"], true) << o[i]["v"] << " is not the value in " << line;
    }
    if (!o[i]["parts"].is_null()) {
      ++panels;
      EXPECT_EQ(o[i]["parts"], 2);
    }
    if (!o[i]["smoking"].is_null()) ++concepts;
  }
  EXPECT_GT(quantities, 0u);
  EXPECT_GT(panels, 0u);
  EXPECT_GT(concepts, 0u);
}

}  // namespace
}  // namespace fhirlake::load
