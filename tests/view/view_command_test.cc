// `fhirlake view run` and `fhirlake view test` as users run them: over generated NDJSON and
// over the warehouse `fhirlake load` wrote, with Parquet output read back by DuckDB.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/sample_generator.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kData = FHIRLAKE_TEST_DATA_DIR;

// Numbers as doubles, so 100 (NDJSON) and 100.0 (a DECIMAL column) compare equal.
json Num(const json& v) { return v.is_number() ? json(v.get<double>()) : v; }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

class ViewCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fhir::GenerateSample(src(), {20, 3, 100000}).ok()); }
  fs::path src() const { return dir_ / "export"; }
  fs::path wh() const { return dir_ / "warehouse"; }
  fs::path view() const { return kData / "views" / "observation_values.json"; }

  // The rows the observation view must give, computed from the NDJSON independently: one per
  // Observation, or one per component when it has components.
  json ExpectedRows() {
    json rows = json::array();
    for (const auto& entry : fs::directory_iterator(src())) {
      if (entry.path().filename().string().rfind("Observation.", 0) != 0) continue;
      std::ifstream in(entry.path());
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        json r = json::parse(line);
        json base = {{"id", r["id"]}};
        base["value"] = r.contains("valueQuantity") ? r["valueQuantity"]["value"] : json();
        if (!r.contains("component")) {
          base["component_value"] = nullptr;
          rows.push_back(base);
        }
        for (const auto& c : r.value("component", json::array())) {
          json row = base;
          row["component_value"] = c["valueQuantity"]["value"];
          rows.push_back(row);
        }
      }
    }
    return rows;
  }

  TempDir dir_;
};

TEST_F(ViewCommandTest, RunsOverNdjsonAsCsv) {
  auto r = RunFhirlake({"view", "run", view().string(), "--ndjson", src().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "id,patient_id,effective,code,display,value,unit,component_code,component_value");
  EXPECT_EQ(lines.size() - 1, ExpectedRows().size());
}

TEST_F(ViewCommandTest, NdjsonOutputHoldsTheFlattenedValues) {
  fs::path out = dir_ / "rows.ndjson";
  auto r = RunFhirlake({"view", "run", view().string(), "--ndjson", src().string(), "--format", "ndjson",
                        "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> got;
  for (const auto& line : Lines(text.str())) {
    json row = json::parse(line);
    got.push_back(json({{"id", row["id"]}, {"value", row["value"]}, {"component_value", row["component_value"]}}).dump());
    EXPECT_TRUE(row["patient_id"].is_string()) << line;
    EXPECT_EQ(row["patient_id"].get<std::string>().find('/'), std::string::npos) << "a key, not a reference";
  }
  std::vector<std::string> want;
  for (const auto& row : ExpectedRows()) want.push_back(row.dump());
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_F(ViewCommandTest, WarehouseGivesTheSameRowsAsTheExport) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Observation"}).exit_code, 0);
  auto from_wh = RunFhirlake({"view", "run", view().string(), "--warehouse", wh().string(), "--format", "ndjson"});
  auto from_ndjson = RunFhirlake({"view", "run", view().string(), "--ndjson", src().string(), "--format", "ndjson"});
  ASSERT_EQ(from_wh.exit_code, 0) << from_wh.err;
  ASSERT_EQ(from_ndjson.exit_code, 0) << from_ndjson.err;
  auto a = Lines(from_wh.out), b = Lines(from_ndjson.out);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
}

TEST_F(ViewCommandTest, ParquetOutputHasTypedColumnsDuckDbReads) {
  fs::path out = dir_ / "rows.parquet";
  auto r = RunFhirlake({"view", "run", view().string(), "--ndjson", src().string(), "--format", "parquet",
                        "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids, "
                     "typeof(any_value(value)) AS value_type, typeof(any_value(id)) AS id_type, "
                     "round(sum(coalesce(value, 0) + coalesce(component_value, 0)), 3)::DOUBLE AS total "
                     "FROM read_parquet('" + out.string() + "')");
  ASSERT_TRUE(rows.is_array() && rows.size() == 1) << rows.dump();
  json expected = ExpectedRows();
  double total = 0;
  std::set<std::string> ids;
  for (const auto& row : expected) {
    if (row["value"].is_number()) total += row["value"].get<double>();
    if (row["component_value"].is_number()) total += row["component_value"].get<double>();
    ids.insert(row["id"].get<std::string>());
  }
  EXPECT_EQ(rows[0]["n"], expected.size());
  EXPECT_EQ(rows[0]["ids"], ids.size());
  EXPECT_EQ(rows[0]["value_type"], "DECIMAL(38,18)");
  EXPECT_EQ(rows[0]["id_type"], "VARCHAR");
  EXPECT_NEAR(rows[0]["total"].get<double>(), total, 1e-3);
}

// Decimal columns are Parquet DECIMAL(38,18), as the warehouse stores FHIR decimals: DuckDB
// reads the values as written, in a `view run` Parquet file and in a materialised view table.
TEST_F(ViewCommandTest, DecimalColumnsAreParquetDecimalsWithTheirExactValues) {
  const std::vector<std::pair<std::string, std::string>> values = {
      {"0.1", "0.100000000000000000"},       {"-2.5", "-2.500000000000000000"},
      {"12345.6789", "12345.678900000000000000"}, {"0.000001", "0.000001000000000000"},
      {"3.14159265358979", "3.141592653589790000"}, {"1e-18", "0.000000000000000001"},
      {"98765432101234", "98765432101234.000000000000000000"}};
  fs::path in = dir_ / "decimals";
  fs::create_directories(in);
  {
    std::ofstream out(in / "Observation.000.ndjson");
    for (size_t i = 0; i < values.size(); ++i) {
      out << R"({"resourceType":"Observation","id":"d)" << i
          << R"(","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},"status":"final","code":{"text":"x"},"valueQuantity":{"value":)"
          << values[i].first << "}}\n";
    }
  }
  auto check = [&](const std::string& from, const std::string& what) {
    json rows = DuckDb("SELECT id, typeof(value) AS t, value::VARCHAR AS v FROM " + from + " ORDER BY id");
    ASSERT_TRUE(rows.is_array()) << what << ": " << rows.dump();
    ASSERT_EQ(rows.size(), values.size()) << what;
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(rows[i]["t"], "DECIMAL(38,18)") << what;
      EXPECT_EQ(rows[i]["v"], values[i].second) << what << " from " << values[i].first;
    }
  };
  fs::path out = dir_ / "decimals.parquet";
  auto r = RunFhirlake({"view", "run", view().string(), "--ndjson", in.string(), "--format", "parquet", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  check("read_parquet('" + out.string() + "')", "view run");
  ASSERT_EQ(RunFhirlake({"load", in.string(), wh().string(), "--mode", "overwrite"}).exit_code, 0);
  auto m = RunFhirlake({"view", "materialize", view().string(), "--warehouse", wh().string()});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  json rows = DuckDb("SELECT id, typeof(value) AS t, value::VARCHAR AS v FROM v ORDER BY id",
                     {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  ASSERT_EQ(rows.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(rows[i]["t"], "DECIMAL(38,18)");
    EXPECT_EQ(rows[i]["v"], values[i].second) << "materialised, from " << values[i].first;
  }
}

TEST_F(ViewCommandTest, MaterializedViewIsADeltaTableAndARefreshWithoutChangesIsANoOp) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Observation"}).exit_code, 0);
  auto first = RunFhirlake({"view", "materialize", view().string(), "--warehouse", wh().string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("version 0;"), std::string::npos) << first.out;
  auto again = RunFhirlake({"view", "materialize", view().string(), "--warehouse", wh().string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("version 0; recomputed 0 of"), std::string::npos) << "nothing changed: " << again.out;
  json rows = DuckDb("SELECT count(*)::INTEGER AS n, typeof(any_value(value)) AS t FROM v",
                     {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(rows.is_array() && rows.size() == 1) << rows.dump();
  EXPECT_EQ(rows[0]["n"], ExpectedRows().size()) << "the second refresh added no rows";
  EXPECT_EQ(rows[0]["t"], "DECIMAL(38,18)");
}

// Observations split over two loads (two data files); a merge of updates and deletions that
// touches only the second; the refresh recomputes only the rewritten file and equals a full
// recompute.
TEST_F(ViewCommandTest, IncrementalRefreshAfterUpdatesAndDeletesEqualsAFullRecompute) {
  std::vector<std::string> lines;
  for (const auto& entry : fs::directory_iterator(src()))
    if (entry.path().filename().string().rfind("Observation.", 0) == 0) {
      std::ifstream in(entry.path());
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    }
  ASSERT_GT(lines.size(), 20u);
  const size_t half = lines.size() / 2;
  for (const char* part : {"a", "b", "changes"}) fs::create_directories(dir_ / part);
  {
    std::ofstream a(dir_ / "a" / "Observation.000.ndjson"), b(dir_ / "b" / "Observation.000.ndjson");
    for (size_t i = 0; i < lines.size(); ++i) (i < half ? a : b) << lines[i] << '\n';
  }
  ASSERT_EQ(RunFhirlake({"load", (dir_ / "a").string(), wh().string(), "--mode", "overwrite"}).exit_code, 0);
  ASSERT_EQ(RunFhirlake({"load", (dir_ / "b").string(), wh().string(), "--mode", "append"}).exit_code, 0);
  auto first = RunFhirlake({"view", "materialize", view().string(), "--warehouse", wh().string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("recomputed 2 of 2"), std::string::npos) << first.out;

  // Update two Observations of the second half (a new value, a later lastUpdated), delete one.
  json updated = json::parse(lines[half]);
  updated["meta"]["lastUpdated"] = "2035-01-01T00:00:00Z";
  updated["valueQuantity"] = {{"value", 12345.5}, {"unit", "kg"}};
  updated.erase("component");
  updated.erase("valueCodeableConcept");
  json deleted = json::parse(lines[half + 1]);
  {
    std::ofstream changes(dir_ / "changes" / "Observation.000.ndjson");
    changes << updated.dump() << '\n';
    fs::create_directories(dir_ / "changes" / "deleted");
    std::ofstream del(dir_ / "changes" / "deleted" / "deleted.ndjson");
    del << json({{"resourceType", "Bundle"}, {"type", "transaction"},
                 {"entry", {{{"request", {{"method", "DELETE"},
                                          {"url", "Observation/" + deleted["id"].get<std::string>()}}}}}}}).dump()
        << '\n';
  }
  auto merged = RunFhirlake({"load", (dir_ / "changes").string(), wh().string(), "--mode", "merge"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  auto refresh = RunFhirlake({"view", "materialize", view().string(), "--warehouse", wh().string()});
  ASSERT_EQ(refresh.exit_code, 0) << refresh.err;
  EXPECT_NE(refresh.out.find("recomputed 1 of 2"), std::string::npos) << "only the rewritten file: " << refresh.out;

  auto full = RunFhirlake({"view", "run", view().string(), "--warehouse", wh().string(), "--format", "ndjson"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  json rows = DuckDb("SELECT to_json(v)::VARCHAR AS row FROM v", {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(rows.is_array()) << rows.dump();
  std::vector<std::string> got, want;
  for (const auto& r : rows) {
    json row = json::parse(r["row"].get<std::string>());
    got.push_back(json({{"id", row["id"]}, {"value", Num(row["value"])}, {"component_value", Num(row["component_value"])}}).dump());
  }
  for (const auto& line : Lines(full.out)) {
    json row = json::parse(line);
    want.push_back(json({{"id", row["id"]}, {"value", Num(row["value"])}, {"component_value", Num(row["component_value"])}}).dump());
  }
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(std::count_if(want.begin(), want.end(), [&](const std::string& r) {
              return r.find(deleted["id"].get<std::string>() + "\"") != std::string::npos; }), 0);
  EXPECT_EQ(std::count_if(want.begin(), want.end(), [](const std::string& r) {
              return r.find("12345.5") != std::string::npos; }), 1);
}

TEST_F(ViewCommandTest, InvalidViewIsAUsageError) {
  fs::path bad = dir_ / "bad.json";
  std::ofstream(bad) << R"({"resourceType":"ViewDefinition","select":[{"column":[{"name":"id","path":"id"}]}]})";
  auto r = RunFhirlake({"view", "run", bad.string(), "--ndjson", src().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("resource"), std::string::npos) << r.err;
}

// A validator for the part of JSON Schema draft-07 that test-report.schema.json uses: type,
// properties, required, patternProperties ".*", additionalProperties false, items, minItems.
void Validate(const json& schema, const json& doc, const std::string& at, std::vector<std::string>& errors) {
  if (schema.contains("type")) {
    std::string type = schema["type"];
    bool ok = (type == "object" && doc.is_object()) || (type == "array" && doc.is_array()) ||
              (type == "string" && doc.is_string()) || (type == "boolean" && doc.is_boolean());
    if (!ok) {
      errors.push_back(at + ": not " + type);
      return;
    }
  }
  if (doc.is_object()) {
    for (const auto& name : schema.value("required", json::array()))
      if (!doc.contains(name.get<std::string>())) errors.push_back(at + ": missing " + name.get<std::string>());
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      const json props = schema.value("properties", json::object());
      const json patterns = schema.value("patternProperties", json::object());
      if (props.contains(it.key())) {
        Validate(props[it.key()], it.value(), at + "." + it.key(), errors);
      } else if (patterns.contains(".*")) {
        Validate(patterns[".*"], it.value(), at + "." + it.key(), errors);
      } else if (schema.value("additionalProperties", true) == false) {
        errors.push_back(at + ": unexpected " + it.key());
      }
    }
  }
  if (doc.is_array()) {
    if (schema.contains("minItems") && doc.size() < schema["minItems"].get<size_t>()) errors.push_back(at + ": too few items");
    if (schema.contains("items"))
      for (size_t i = 0; i < doc.size(); ++i) Validate(schema["items"], doc[i], at + "[" + std::to_string(i) + "]", errors);
  }
}

TEST(ViewTestCommand, PassesTheSuiteAndWritesAReportTheSchemaAccepts) {
  TempDir dir;
  fs::path report = dir.path() / "results.json";
  auto r = RunFhirlake({"view", "test", (kData / "sql-on-fhir").string(), "--report", report.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("134/134 passed"), std::string::npos) << r.out;
  std::ifstream in(report), schema_in(kData / "sql-on-fhir" / "test-report.schema.json");
  json doc = json::parse(in), schema = json::parse(schema_in);
  std::vector<std::string> errors;
  Validate(schema, doc, "report", errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(doc.size(), 22u);
  EXPECT_EQ(doc["basic.json"]["tests"][0]["name"], "basic attribute");
  EXPECT_EQ(doc["basic.json"]["tests"][0]["result"]["passed"], true);
}

}  // namespace
}  // namespace fhirlake::testing
