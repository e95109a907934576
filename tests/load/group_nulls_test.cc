// Absent nested elements are written as group nulls (parquet::FileWriter::AddGroupNull), which
// each leaf's column writer expands into levels later. A load of rows with elements absent in
// many patterns — the first and last row, runs, inside lists of objects and lists of lists, a
// whole row group without an element or without a nested part of it — read back by DuckDB must
// give every value of the source JSON, and nulls exactly where the source has none.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/load/loader.h"
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

constexpr int kRows = 1100;  // in several row groups of many rows (see RowGroupsOfManyRows)


std::string Text(const char* what, int i, int k) { return std::string(what) + "-" + std::to_string(i) + "-" + std::to_string(k); }

json Coding(Random& r, int i, int k) {
  switch (r.Below(4)) {
    case 0: return json::object();
    case 1: return {{"code", Text("c", i, k)}};
    case 2: return {{"system", "http://example.org"}, {"code", Text("c", i, k)}, {"display", Text("d", i, k)}};
    default: return {{"display", Text("d", i, k)}};
  }
}

json CodeableConcept(Random& r, int i, int k) {
  switch (r.Below(5)) {
    case 0: return json::object();
    case 1: return {{"text", Text("t", i, k)}};
    case 2: return {{"coding", json::array()}};
    case 3: return {{"coding", {Coding(r, i, k)}}};
    default: return {{"coding", {Coding(r, i, k), Coding(r, i, k + 1), Coding(r, i, k + 2)}}, {"text", Text("t", i, k)}};
  }
}

json HumanName(Random& r, int i, int k) {
  json n = json::object();
  if (r.Below(2)) n["family"] = Text("f", i, k);
  switch (r.Below(4)) {
    case 0: break;
    case 1: n["given"] = json::array(); break;
    case 2: n["given"] = {Text("g", i, k)}; break;
    default: n["given"] = {Text("g", i, k), Text("h", i, k)}; break;
  }
  if (r.Below(3) == 0) n["period"] = {{"start", "2020-01-0" + std::to_string(1 + k % 9)}};
  return n;
}

// Row i: which elements it has depends on i (fixed stretches) and on a seeded draw.
json Patient(Random& r, int i) {
  char id[16];
  std::snprintf(id, sizeof id, "p%05d", i);
  json p = {{"resourceType", "Patient"}, {"id", id}, {"meta", {{"lastUpdated", "2024-01-01T00:00:00Z"}}}};
  if (i == 0 || i == kRows - 1) {  // the first and the last row: present parents, absent children
    p["name"] = {json::object()};
    p["maritalStatus"] = json::object();
    p["contact"] = {{{"relationship", json::array()}}};
    return p;
  }
  if (i >= 256 && i < 512) return p;  // a whole row group without any of them
  if (i >= 512 && i < 768) {          // a whole row group whose nested parts are all absent
    p["name"] = {{{"family", Text("f", i, 0)}}, {{"family", Text("f", i, 1)}}};
    p["maritalStatus"] = {{"text", Text("t", i, 0)}};
    p["contact"] = {{{"gender", "other"}}};
    return p;
  }
  if (i >= 900 && i < 1000) {  // a run of the same shape
    p["name"] = {{{"given", {Text("g", i, 0)}}}};
    return p;
  }
  switch (r.Below(4)) {
    case 0: break;
    case 1: p["name"] = json::array(); break;
    default: {
      json names = json::array();
      for (int k = 0, n = 1 + r.Below(3); k < n; ++k) names.push_back(HumanName(r, i, k));
      p["name"] = names;
    }
  }
  if (r.Below(3)) p["maritalStatus"] = CodeableConcept(r, i, 0);
  if (r.Below(2)) {
    json contacts = json::array();
    for (int k = 0, n = 1 + r.Below(3); k < n; ++k) {
      json c = json::object();
      if (r.Below(2)) c["name"] = HumanName(r, i, 10 + k);
      if (r.Below(2)) {
        json rel = json::array();
        for (int m = 0, n2 = r.Below(3); m < n2; ++m) rel.push_back(CodeableConcept(r, i, 20 + 3 * m));
        c["relationship"] = rel;
      }
      contacts.push_back(c);
    }
    p["contact"] = contacts;
  }
  return p;
}

// DuckDB's value `got` of a column holds `want` (the source JSON): every field the source has,
// the same; every other field of the schema, null (a list the source lacks is null, an empty
// one is empty).
void ExpectSame(const json& got, const json& want, const std::string& where) {
  if (want.is_object()) {
    ASSERT_TRUE(got.is_object()) << where << ": " << got.dump() << " for " << want.dump();
    for (const auto& [key, value] : got.items()) {
      if (want.contains(key)) {
        ExpectSame(value, want[key], where + "." + key);
      } else {
        EXPECT_TRUE(value.is_null()) << where << "." << key << " is " << value.dump() << ", absent in the source";
      }
    }
    return;
  }
  if (want.is_array()) {
    ASSERT_TRUE(got.is_array()) << where << ": " << got.dump() << " for " << want.dump();
    ASSERT_EQ(got.size(), want.size()) << where << ": " << got.dump() << " for " << want.dump();
    for (size_t k = 0; k < want.size(); ++k) ExpectSame(got[k], want[k], where + "[" + std::to_string(k) + "]");
    return;
  }
  EXPECT_EQ(got, want) << where;
}

// Loads the kRows patients into a one-file table dir/wh/Patient; returns them.
std::vector<json> LoadPatients(const fs::path& dir) {
  fs::create_directories(dir / "export");
  std::vector<json> rows;
  Random r;
  std::ofstream out(dir / "export" / "Patient.000.ndjson");
  for (int i = 0; i < kRows; ++i) {
    rows.push_back(Patient(r, i));
    out << rows.back().dump() << "\n";
  }
  out.close();
  LoadOptions o;
  o.export_dir = dir / "export";
  o.warehouse = dir / "wh";
  o.mode = SaveMode::kOverwrite;
  o.recent_file_bytes = 0;       // one file, in line order
  o.writer.row_group_bytes = 32u << 10;  // RowGroupsOfManyRows: several row groups of many rows
  o.jobs = 1;
  auto loaded = Load(o);
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  return rows;
}

TEST(GroupNulls, AbsentNestedElementsReadBackAsTheSourceHasThem) {
  TempDir dir;
  const std::vector<json> rows = LoadPatients(dir.path());
  ASSERT_FALSE(::testing::Test::HasFailure());
  json got = DuckDb("SELECT id, to_json(name)::VARCHAR AS name, to_json(maritalStatus)::VARCHAR AS marital, "
                    "to_json(contact)::VARCHAR AS contact FROM t ORDER BY id",
                    {{"t", dir / "wh" / "Patient"}});
  ASSERT_TRUE(got.is_array()) << got.dump();
  ASSERT_EQ(got.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& want = rows[i];
    ASSERT_EQ(got[i]["id"], want["id"]);
    const std::string where = want["id"].get<std::string>();
    for (const auto& [column, element] : {std::pair{"name", "name"}, {"marital", "maritalStatus"}, {"contact", "contact"}}) {
      const json value = got[i][column].is_null() ? json() : json::parse(got[i][column].get<std::string>());
      if (!want.contains(element)) {
        EXPECT_TRUE(value.is_null()) << where << "." << element << " is " << value.dump() << ", absent in the source";
      } else {
        ExpectSame(value, want[element], where + "." + element);
      }
      if (::testing::Test::HasFailure()) return;  // one row's report is enough to see the pattern
    }
  }
}

TEST(GroupNulls, RowGroupsOfManyRows) {
  // The test above relies on several row groups, each of many rows (group nulls carried within
  // a row group and across its end); check it, so a change of the writer's row-group sizing
  // does not silently leave one row group, or one row per group.
  TempDir dir;
  LoadPatients(dir.path());
  ASSERT_FALSE(::testing::Test::HasFailure());
  std::string file;
  for (const auto& e : fs::directory_iterator(dir / "wh" / "Patient")) {
    if (e.path().extension() == ".parquet") file = e.path().string();
  }
  ASSERT_FALSE(file.empty());
  json groups = DuckDb("SELECT count(DISTINCT row_group_id)::INTEGER AS n FROM parquet_metadata('" + file + "')");
  ASSERT_TRUE(groups.is_array()) << groups.dump();
  EXPECT_GE(groups[0]["n"].get<int>(), 3) << groups.dump();
  EXPECT_LE(groups[0]["n"].get<int>(), kRows / 16) << groups.dump();
}

}  // namespace
}  // namespace fhirlake::load
