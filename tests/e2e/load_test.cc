// fhirlake load as users run it, with the tables read back through the Delta log by DuckDB.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/sample_generator.h"
#include "fhirlake/load/compaction.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/load/tombstones.h"
#include "tests/support/duckdb.h"
#include "tests/support/parquet_readers.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fhir::GenerateSample(src(), {25, 3, 100000}).ok()); }
  // Every Parquet file a commit of the test added (live or removed) and every checkpoint is
  // read whole by arrow-rs and hyparquet too.
  void TearDown() override {
    for (const auto& failure : ParquetReaderFailures(wh())) ADD_FAILURE() << failure;
  }
  fs::path src() const { return dir_ / "export"; }
  fs::path wh() const { return dir_ / "warehouse"; }

  // Runs DuckDB with `select` over `t`, the table as the test reader sees it (its own log
  // replay and deletion vectors).
  json Query(const std::string& type, const std::string& select) {
    json rows = DuckDb("SELECT " + select + " FROM t", {{"t", wh() / type}});
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    return rows.is_array() ? rows : json::array();
  }
  int Rows(const std::string& type) {
    json r = Query(type, "count(*)::INTEGER AS n");
    return r.empty() ? 0 : r[0]["n"].get<int>();
  }
  int64_t Version(const std::string& type) { return delta::Table(wh() / type).Load()->version; }
  // Generates 400 patients' data under `big/` and returns the options of an overwrite of its
  // Observations with two jobs and 64 KB batches (so a helper writes files of its own).
  load::LoadOptions TwoJobObservationLoad() {
    fs::create_directories(dir_ / "big");
    EXPECT_TRUE(fhir::GenerateSample(dir_ / "big", {400, 7, 100000}).ok());
    load::LoadOptions o;
    o.export_dir = dir_ / "big";
    o.warehouse = wh();
    o.mode = load::SaveMode::kOverwrite;
    o.types = {"Observation"};
    o.jobs = 2;
    o.write_batch_bytes = 64u << 10;
    return o;
  }
  std::vector<std::string> Lines(const fs::path& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
  }
  // Writes dir_/change/Observation.000.ndjson: every `every`-th of `lines` amended with a newer
  // meta.lastUpdated. Returns the rows the table should hold after merging it (the other lines
  // as they are, and the amended ones); `updated` counts the amended.
  std::multiset<std::string> WriteUpdates(const std::vector<std::string>& lines, size_t every, size_t& updated) {
    fs::create_directories(dir_ / "change");
    std::multiset<std::string> want;
    std::ofstream change(dir_ / "change" / "Observation.000.ndjson");
    updated = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i % every != 0) {
        want.insert(lines[i]);
        continue;
      }
      json r = json::parse(lines[i]);
      r["status"] = "amended";
      r["meta"]["lastUpdated"] = "2030-01-01T00:00:00Z";
      change << r.dump() << "\n";
      want.insert(r.dump());
      ++updated;
    }
    return want;
  }

  TempDir dir_;
};

TEST_F(LoadTest, OverwriteLoadsEveryTypeLosslessly) {
  auto r = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& e : fs::directory_iterator(src())) {
    std::string type = e.path().filename().string();
    type = type.substr(0, type.find('.'));
    auto lines = Lines(e.path());
    EXPECT_EQ(Rows(type), static_cast<int>(lines.size())) << type;
    json back = Query(type, "_json, id");
    std::multiset<std::string> got, want(lines.begin(), lines.end());
    for (const auto& row : back) {
      got.insert(row["_json"].get<std::string>());
      EXPECT_NE(row["_json"].get<std::string>().find("\"id\":\"" + row["id"].get<std::string>() + "\""), std::string::npos);
    }
    EXPECT_TRUE(got == want) << type << ": _json must round-trip byte for byte";
  }
  json names = Query("Patient", "count(name[1].family)::INTEGER AS families, sum(len(name))::INTEGER AS names");
  EXPECT_EQ(names[0]["families"], 25);
  EXPECT_EQ(names[0]["names"], 25);
  json log = json::parse(Lines(wh() / "Patient" / "_delta_log" / "00000000000000000000.json")[0]);
  EXPECT_EQ(log["commitInfo"]["numOutputRows"], 25);
}

TEST_F(LoadTest, AppendAddsAndOverwriteReplaces) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "append", "--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(Rows("Patient"), 50);
  EXPECT_EQ(Version("Patient"), 1);
  EXPECT_FALSE(fs::exists(wh() / "Observation")) << "--types limits the load";
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(Rows("Patient"), 25);
  EXPECT_EQ(Version("Patient"), 2);
}

// A merge or append with a schema that lacks some of the table's columns (a smaller
// --max-depth) is refused, and the table keeps its schema and rows; an overwrite replaces both.
TEST_F(LoadTest, AWriteThatWouldDropColumnsIsRefused) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--types", "Observation", "--max-depth", "4"}).exit_code, 0);
  for (const std::string mode : {"merge", "append"}) {
    auto r = RunFhirlake({"load", src().string(), wh().string(), "--types", "Observation", "--max-depth", "2", "--mode", mode});
    EXPECT_NE(r.exit_code, 0) << mode;
    EXPECT_NE(r.err.find("columns this load's schema lacks"), std::string::npos) << mode << ": " << r.err;
    EXPECT_FALSE(fs::exists(wh() / "Observation" / "_delta_log" / "00000000000000000001.json")) << mode;
  }
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--types", "Observation", "--max-depth", "4"}).exit_code, 0)
      << "the same depth merges";
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--types", "Observation", "--max-depth", "2", "--mode",
                         "overwrite"}).exit_code, 0);
}

TEST_F(LoadTest, LargeLoadsAreSplitIntoFilesOfTheTargetSize) {
  fs::create_directories(dir_ / "big");
  ASSERT_TRUE(fhir::GenerateSample(dir_ / "big", {400, 7, 100000}).ok());
  auto r = RunFhirlake({"load", (dir_ / "big").string(), wh().string(), "--types", "Observation", "--target-file-mb",
                        "1", "--row-group-mb", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto snap = delta::Table(wh() / "Observation").Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_GT(snap->files.size(), 1u) << "a load bigger than the target writes several files";
  EXPECT_EQ(snap->version, 0) << "in one commit";
  int64_t records = 0;
  for (const auto& f : snap->files) records += f.num_records;
  const int lines = static_cast<int>(Lines(dir_ / "big" / "Observation.000.ndjson").size());
  EXPECT_EQ(records, lines);
  json back = DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids FROM t", {{"t", wh() / "Observation"}});
  EXPECT_EQ(back[0]["n"], lines) << back.dump();
  EXPECT_EQ(back[0]["ids"], lines);
}

// With two jobs and one type, the type's lines are split between the loading thread and a
// helper, each writing files of its own, and one commit adds them all.
TEST_F(LoadTest, OneLargeTypeIsWrittenByEveryJobInOneCommit) {
  load::LoadOptions o = TwoJobObservationLoad();
  const auto lines = Lines(dir_ / "big" / "Observation.000.ndjson");
  auto r = load::Load(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tables.size(), 1u);
  EXPECT_EQ(r->tables[0].rows, lines.size());
  auto snap = delta::Table(wh() / "Observation").Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->version, 0) << "in one commit";
  EXPECT_GE(snap->files.size(), 2u) << "the helper writes files of its own";
  int64_t records = 0;
  for (const auto& f : snap->files) {
    EXPECT_GT(f.num_records, 0) << f.path;
    records += f.num_records;
  }
  EXPECT_EQ(records, static_cast<int64_t>(lines.size()));
  json back = Query("Observation", "count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids");
  EXPECT_EQ(back[0]["n"], lines.size()) << back.dump();
  EXPECT_EQ(back[0]["ids"], lines.size());
  std::multiset<std::string> got, want(lines.begin(), lines.end());
  for (const auto& row : Query("Observation", "_json")) got.insert(row["_json"].get<std::string>());
  EXPECT_TRUE(got == want) << "every line once, byte for byte";

  // One job: one thread, one file.
  o.jobs = 1;
  ASSERT_TRUE(load::Load(o).ok());
  auto single = delta::Table(wh() / "Observation").Load();
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->files.size(), 1u);
  EXPECT_EQ(Rows("Observation"), static_cast<int>(lines.size()));
}

// With small_file_bytes (what sync sets when its maintenance compacts), the files the threads
// end with short of the target size are joined before the commit: the compaction after the
// load finds nothing to merge, and no replaced copies are left for the retention to keep.
// (RecencyLayoutTest.JoinSmallFilesJoinsEachTiersShortFilesOnly: files of the target size stay.)
TEST_F(LoadTest, TheThreadsSmallFilesAreJoinedBeforeTheCommit) {
  load::LoadOptions o = TwoJobObservationLoad();  // without joining: a file per thread (above)
  o.small_file_bytes = 32u << 20;
  const auto lines = Lines(dir_ / "big" / "Observation.000.ndjson");
  auto r = load::Load(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tables[0].rows, lines.size());
  // The table is smaller than a target file and its input than a recent file: one file.
  auto snap = delta::Table(wh() / "Observation").Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->version, 0);
  EXPECT_EQ(snap->files.size(), 1u) << "both threads' files joined";
  size_t parquet_files = 0;
  for (const auto& e : fs::directory_iterator(wh() / "Observation")) parquet_files += e.path().extension() == ".parquet";
  EXPECT_EQ(parquet_files, 1u) << "the joined files are removed";
  std::multiset<std::string> got, want(lines.begin(), lines.end());
  for (const auto& row : Query("Observation", "_json")) got.insert(row["_json"].get<std::string>());
  EXPECT_TRUE(got == want) << "every line once, byte for byte";
  auto compacted = load::Compact(wh() / "Observation", "Observation", load::CompactionPolicy{});
  ASSERT_TRUE(compacted.ok()) << compacted.status().message();
  EXPECT_EQ(compacted->version, -1) << "nothing left for the compaction";
}

// A copy-on-write merge plans its files on every job and copies the kept rows of the files it
// rewrites column by column (parquet::CopyRows): with two jobs and megabytes to copy, on a
// thread of its own into files of its own while the incoming lines are written; the one commit
// holds every row once, the updated ones in their new version.
TEST_F(LoadTest, AMergeCopiesKeptRowsOnAThreadOfTheirOwn) {
  load::LoadOptions o = TwoJobObservationLoad();  // several files, which the merge plans on both threads
  const auto lines = Lines(dir_ / "big" / "Observation.000.ndjson");
  ASSERT_TRUE(load::Load(o).ok());
  auto before = delta::Table(wh() / "Observation").Load();
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->files.size(), 2u);

  // Every 50th resource updated: rows of every file change, so every file is rewritten.
  size_t updated = 0;
  const std::multiset<std::string> want = WriteUpdates(lines, 50, updated);
  o.export_dir = dir_ / "change";
  o.mode = load::SaveMode::kMerge;
  o.copy_thread_bytes = 0;  // the table has 1.2 MB; the default threshold is 4 MB
  auto r = load::Load(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tables.size(), 1u);
  EXPECT_EQ(r->tables[0].updated, updated);
  EXPECT_EQ(r->tables[0].inserted, 0u);
  EXPECT_EQ(r->tables[0].rows, updated) << "incoming rows, not the copied ones";
  auto after = delta::Table(wh() / "Observation").Load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, 1);
  // The copier's files hold the kept rows; the incoming rows have files of their own.
  int64_t kept_rows = 0, incoming_rows = 0;
  for (const auto& f : after->files) (f.num_records == static_cast<int64_t>(updated) ? incoming_rows : kept_rows) += f.num_records;
  EXPECT_EQ(incoming_rows, static_cast<int64_t>(updated)) << "the incoming rows are in a file of their own";
  EXPECT_EQ(kept_rows, static_cast<int64_t>(lines.size() - updated));
  json commit = json::parse(Lines(wh() / "Observation" / "_delta_log" / "00000000000000000001.json")[0]);
  EXPECT_EQ(commit["commitInfo"]["numCopiedRows"], lines.size() - updated) << commit.dump();
  json back = Query("Observation", "count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids, "
                                   "count(*) FILTER (WHERE status = 'amended')::INTEGER AS amended");
  EXPECT_EQ(back[0]["n"], lines.size()) << back.dump();
  EXPECT_EQ(back[0]["ids"], lines.size());
  EXPECT_EQ(back[0]["amended"], updated);
  std::multiset<std::string> got;
  for (const auto& row : Query("Observation", "_json")) got.insert(row["_json"].get<std::string>());
  EXPECT_TRUE(got == want) << "every kept row once, byte for byte, and the updates";
}

// Kept rows of a file whose columns are not the table's current ones (here written with a
// shallower schema) cannot be copied column by column: they are shredded again from `_json`
// into the new schema, and the merge loses none.
TEST_F(LoadTest, AMergeReshredsTheKeptRowsOfAFileOfOtherColumns) {
  const auto lines = Lines(src() / "Observation.000.ndjson");
  ASSERT_GT(lines.size(), 20u);
  load::LoadOptions o;
  o.export_dir = src();
  o.warehouse = wh();
  o.types = {"Observation"};
  o.mode = load::SaveMode::kOverwrite;
  o.schema.max_depth = 2;
  ASSERT_TRUE(load::Load(o).ok());
  size_t updated = 0;
  const std::multiset<std::string> want = WriteUpdates(lines, 7, updated);
  o.export_dir = dir_ / "change";
  o.mode = load::SaveMode::kMerge;
  o.schema.max_depth = 3;
  auto r = load::Load(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto actions = Lines(wh() / "Observation" / "_delta_log" / "00000000000000000001.json");
  json commit = json::parse(actions[0]);
  EXPECT_EQ(commit["commitInfo"]["numCopiedRows"], lines.size() - updated) << commit.dump();
  bool schema_changed = false;
  for (const auto& action : actions) schema_changed |= json::parse(action).contains("metaData");
  EXPECT_TRUE(schema_changed);
  std::multiset<std::string> got;
  for (const auto& row : Query("Observation", "_json")) got.insert(row["_json"].get<std::string>());
  EXPECT_TRUE(got == want) << "every kept row once, byte for byte, and the updates";
  json deep = Query("Observation", "count(*) FILTER (WHERE status = 'amended')::INTEGER AS amended");
  EXPECT_EQ(deep[0]["amended"], updated);
}

// A table written when decimals were stored as text keeps text decimals through merges (its
// files stay readable together), and an overwrite moves it to DECIMAL(38,18) with the values
// of the source texts.
TEST_F(LoadTest, TextDecimalTablesMergeAsTextUntilOverwritten) {
  auto obs = [](const std::string& id, const std::string& value, const std::string& updated) {
    return R"({"resourceType":"Observation","id":")" + id + R"(","meta":{"lastUpdated":")" + updated +
           R"("},"status":"final","code":{"text":"x"},"valueQuantity":{"value":)" + value + R"(,"unit":"kg"}})";
  };
  fs::create_directories(dir_ / "first");
  fs::create_directories(dir_ / "second");
  std::ofstream(dir_ / "first" / "Observation.000.ndjson")
      << obs("o1", "72.50", "2024-01-01T00:00:00Z") << "\n"
      << obs("o2", "-0.001", "2024-01-01T00:00:00Z") << "\n"
      << obs("o3", "1e2", "2024-01-01T00:00:00Z") << "\n";
  std::ofstream(dir_ / "second" / "Observation.000.ndjson")
      << obs("o2", "5.125", "2025-01-01T00:00:00Z") << "\n"
      << obs("o4", "0.5", "2025-01-01T00:00:00Z") << "\n";
  load::LoadOptions o;
  o.export_dir = dir_ / "first";
  o.warehouse = wh();
  o.mode = load::SaveMode::kOverwrite;
  o.schema.decimals_as_text = true;  // as tables were written before decimals were typed
  ASSERT_TRUE(load::Load(o).ok());

  auto merged = RunFhirlake({"load", (dir_ / "second").string(), wh().string()});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const std::map<std::string, fs::path> table = {{"t", wh() / "Observation"}};
  json text = DuckDb("SELECT id, valueQuantity.value AS v, typeof(valueQuantity.value) AS t FROM t ORDER BY id", table);
  ASSERT_EQ(text.size(), 4u) << text.dump();
  const std::vector<std::pair<std::string, std::string>> want_text = {
      {"o1", "72.50"}, {"o2", "5.125"}, {"o3", "1e2"}, {"o4", "0.5"}};
  for (size_t i = 0; i < want_text.size(); ++i) {
    EXPECT_EQ(text[i]["id"], want_text[i].first);
    EXPECT_EQ(text[i]["v"], want_text[i].second) << "the source text, exactly";
    EXPECT_EQ(text[i]["t"], "VARCHAR");
  }
  EXPECT_EQ(Version("Observation"), 1);

  auto overwritten = RunFhirlake({"load", (dir_ / "first").string(), wh().string(), "--mode", "overwrite"});
  ASSERT_EQ(overwritten.exit_code, 0) << overwritten.err;
  json typed = DuckDb("SELECT id, CAST(valueQuantity.value AS VARCHAR) AS v, typeof(valueQuantity.value) AS t, "
                      "valueQuantity.value = CAST(src AS DECIMAL(38,18)) AS same FROM "
                      "(SELECT *, json_extract_string(_json, '$.valueQuantity.value') AS src FROM t) ORDER BY id", table);
  ASSERT_EQ(typed.size(), 3u) << typed.dump();
  const std::vector<std::pair<std::string, std::string>> want_typed = {
      {"o1", "72.500000000000000000"}, {"o2", "-0.001000000000000000"}, {"o3", "100.000000000000000000"}};
  for (size_t i = 0; i < want_typed.size(); ++i) {
    EXPECT_EQ(typed[i]["id"], want_typed[i].first);
    EXPECT_EQ(typed[i]["v"], want_typed[i].second);
    EXPECT_EQ(typed[i]["t"], "DECIMAL(38,18)");
    EXPECT_EQ(typed[i]["same"], true) << "equals the value of the text in _json";
  }
}

// Every add carries Delta statistics, and they are what DuckDB computes over the file itself.
TEST_F(LoadTest, EveryAddCarriesStatisticsEqualToTheData) {
  fs::create_directories(dir_ / "big");
  ASSERT_TRUE(fhir::GenerateSample(dir_ / "big", {300, 9, 100000}).ok());
  auto r = RunFhirlake({"load", (dir_ / "big").string(), wh().string(), "--types", "Observation,Patient",
                        "--target-file-mb", "1", "--row-group-mb", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string type : {"Observation", "Patient"}) {
    auto snap = delta::Table(wh() / type).Load();
    ASSERT_TRUE(snap.ok());
    ASSERT_FALSE(snap->files.empty());
    for (const auto& f : snap->files) {
      json stats = json::parse(f.stats_json);
      const std::string file = (wh() / type / f.path).string();
      const std::string code = type == "Observation" ? "status" : "gender";  // a string column of each
      json want = DuckDb(
          "SELECT count(*)::INTEGER AS n, min(id) AS min_id, max(id) AS max_id, (count(*) - count(id))::INTEGER AS null_id, "
          "strftime(min(meta.lastUpdated), '%Y-%m-%dT%H:%M:%S.%gZ') AS min_lu, "
          "strftime(max(meta.lastUpdated), '%Y-%m-%dT%H:%M:%S.%gZ') AS max_lu, "
          "(count(*) - count(meta.lastUpdated))::INTEGER AS null_lu, min(" + code + ") AS min_code, "
          "max(" + code + ") AS max_code, (count(*) - count(" + code + "))::INTEGER AS null_code, "
          "(count(*) - count(identifier))::INTEGER AS null_identifier, "
          "(count(*) - count(meta.versionId))::INTEGER AS null_version FROM '" + file + "'");
      ASSERT_TRUE(want.is_array() && want.size() == 1) << want.dump();
      const json& w = want[0];
      EXPECT_EQ(stats["numRecords"], w["n"]) << file;
      EXPECT_EQ(stats["minValues"]["id"], w["min_id"]) << file;
      EXPECT_EQ(stats["maxValues"]["id"], w["max_id"]) << file;
      EXPECT_EQ(stats["nullCount"]["id"], w["null_id"]) << file;
      EXPECT_EQ(stats["minValues"]["meta"]["lastUpdated"], w["min_lu"]) << file;
      EXPECT_EQ(stats["maxValues"]["meta"]["lastUpdated"], w["max_lu"]) << file;
      EXPECT_EQ(stats["nullCount"]["meta"]["lastUpdated"], w["null_lu"]) << file;
      EXPECT_EQ(stats["nullCount"]["meta"]["versionId"], w["null_version"]) << file;
      EXPECT_EQ(stats["nullCount"]["identifier"], w["null_identifier"]) << file << ": a list's null rows";
      EXPECT_EQ(stats["minValues"][code], w["min_code"]) << file;
      EXPECT_EQ(stats["maxValues"][code], w["max_code"]) << file;
      EXPECT_EQ(stats["nullCount"][code], w["null_code"]) << file;
    }
  }
}

TEST_F(LoadTest, IgnoreSkipsAndErrorRefusesAnExistingTable) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  auto ignore = RunFhirlake({"load", src().string(), wh().string(), "--mode", "ignore", "--types", "Patient"});
  EXPECT_EQ(ignore.exit_code, 0) << ignore.err;
  EXPECT_NE(ignore.err.find("skipped"), std::string::npos);
  EXPECT_EQ(Version("Patient"), 0);
  auto error = RunFhirlake({"load", src().string(), wh().string(), "--mode", "error", "--types", "Patient"});
  EXPECT_EQ(error.exit_code, 2);
  EXPECT_NE(error.err.find("exists and the save mode is 'error'"), std::string::npos) << error.err;
  EXPECT_EQ(Version("Patient"), 0);
}

TEST_F(LoadTest, BadLinesAreReportedAndTheRestLoads) {
  std::ofstream(src() / "Condition.bad.ndjson")
      << "this is not json\n"
      << R"({"resourceType":"Condition","code":{"text":"no id"}})" << "\n"
      << R"({"resourceType":"Observation","id":"wrong-file"})" << "\n"
      << R"({"id":"no-type"})" << "\n"
      << R"({"resourceType":"Condition","id":"good-one"})" << "\n"
      << "\r\n  \t\n\n";  // blank lines are skipped, not reported
  auto strict = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Condition"});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("4 lines were not loaded"), std::string::npos) << strict.err;
  std::vector<std::string> outcomes;
  for (const auto& e : fs::directory_iterator(wh() / "_errors")) {
    for (auto& l : Lines(e.path())) outcomes.push_back(json::parse(l)["issue"][0]["diagnostics"]);
  }
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_NE(outcomes[0].find("Condition.bad.ndjson line 1: not a valid JSON"), std::string::npos) << outcomes[0];
  EXPECT_NE(outcomes[1].find("line 2: the resource has no id"), std::string::npos) << outcomes[1];
  EXPECT_NE(outcomes[2].find("line 3: resourceType Observation does not match"), std::string::npos) << outcomes[2];
  EXPECT_NE(outcomes[3].find("line 4: the resource has no resourceType"), std::string::npos) << outcomes[3];
  json good = Query("Condition", "count(*)::INTEGER AS n");
  int generated = static_cast<int>(Lines(src() / "Condition.000.ndjson").size());
  EXPECT_EQ(good[0]["n"], generated + 1);
  auto lenient = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Condition",
                              "--allow-errors"});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.err;
}

TEST_F(LoadTest, AnOverlongLineIsReportedAndSkipped) {
  std::ofstream(src() / "Procedure.long.ndjson")
      << R"({"resourceType":"Procedure","id":"long","note":[{"text":")" << std::string(2u << 20, 'x') << "\"}]}\n"
      << R"({"resourceType":"Procedure","id":"after-long"})" << "\n";
  auto r = RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Procedure",
                        "--max-line-bytes", "1048576"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("1 lines were not loaded"), std::string::npos) << r.err;
  std::string outcome;
  for (const auto& e : fs::directory_iterator(wh() / "_errors")) outcome += ReadFile(e.path());
  EXPECT_NE(outcome.find("Procedure.long.ndjson line 1"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find("longer than 1048576 bytes"), std::string::npos) << outcome;
  json after = Query("Procedure", "count(*)::INTEGER AS n");
  int generated = static_cast<int>(Lines(src() / "Procedure.000.ndjson").size());
  EXPECT_EQ(after[0]["n"], generated + 1) << "the line after the long one is loaded";
}

TEST_F(LoadTest, ACrashBeforeCommitLeavesThePreviousVersion) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite", "--types", "Patient"}).exit_code, 0);
  auto crashed = RunFhirlake({"load", src().string(), wh().string(), "--mode", "append", "--types", "Patient"},
                             {"FHIRLAKE_TEST_CRASH=before-commit"});
  EXPECT_EQ(crashed.exit_code, 86);
  size_t data_files = 0;
  for (const auto& e : fs::directory_iterator(wh() / "Patient")) data_files += e.path().extension() == ".parquet";
  EXPECT_EQ(data_files, 2u) << "the crashed run did write its data file";
  EXPECT_EQ(Version("Patient"), 0);
  EXPECT_EQ(Rows("Patient"), 25) << "an uncommitted data file is not visible";
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "append", "--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(Rows("Patient"), 50);
}

// A stored row a copy-on-write merge must copy but cannot shred (here a Patient's row in the
// Observation table, put there by hand) fails the merge with a message naming the file; the
// table keeps its version and files.
TEST_F(LoadTest, AStoredRowThatNoLongerParsesFailsTheMergeAndKeepsTheTable) {
  for (const char* d : {"obs", "pat", "change"}) fs::create_directories(dir_ / d);
  std::ofstream(dir_ / "obs" / "Observation.000.ndjson")
      << R"({"resourceType":"Observation","id":"o1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},"status":"final","code":{"text":"x"}})"
      << "\n";
  std::ofstream(dir_ / "pat" / "Patient.000.ndjson")
      << R"({"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}})" << "\n"
      << R"({"resourceType":"Patient","id":"p2","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}})" << "\n";
  std::ofstream(dir_ / "change" / "Observation.000.ndjson")
      << R"({"resourceType":"Observation","id":"p1","meta":{"lastUpdated":"2025-01-01T00:00:00Z"},"status":"final","code":{"text":"y"}})"
      << "\n";
  load::LoadOptions o;
  o.warehouse = wh();
  for (const char* d : {"obs", "pat"}) {
    o.export_dir = dir_ / d;
    ASSERT_TRUE(load::Load(o).ok());
  }
  // The Patient table's data file, added to the Observation table.
  const delta::Table observations(wh() / "Observation");
  auto patients = delta::Table(wh() / "Patient").Load();
  auto before = observations.Load();
  ASSERT_TRUE(patients.ok() && before.ok());
  ASSERT_EQ(patients->files.size(), 1u);
  fs::copy_file(wh() / "Patient" / patients->files[0].path, wh() / "Observation" / patients->files[0].path);
  delta::Commit foreign;
  foreign.operation = "WRITE";
  foreign.operation_parameters_json = R"({"mode":"Append"})";
  foreign.adds = patients->files;
  ASSERT_TRUE(observations.Write(*before, foreign).ok());
  auto damaged = observations.Load();
  ASSERT_TRUE(damaged.ok());

  // Observation p1 replaces the Patient row p1, so the merge copies p2, a Patient.
  o.export_dir = dir_ / "change";
  auto r = load::Load(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().message();
  EXPECT_NE(r.status().message().find("a stored row of " + patients->files[0].path + " no longer parses"),
            std::string::npos)
      << r.status().message();
  auto after = observations.Load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, damaged->version);
  EXPECT_EQ(after->files.size(), damaged->files.size());
  // The hand-made table breaks its own schema on purpose; TearDown's readers check the others.
  fs::remove_all(wh() / "Observation");
}

// A change set as an incremental export delivers it: updates, a stale copy, a new resource,
// duplicates within the batch, and deletions (one of a type without output, one unknown).
// Runs with copy-on-write (the default) and with deletion vectors (--deletion-vectors).
class MergeTest : public LoadTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool dvs() const { return GetParam(); }
  std::vector<std::string> LoadArgs(const fs::path& from, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"load", from.string(), wh().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    if (dvs()) args.push_back("--deletion-vectors");
    return args;
  }
  RunResult Merge(const fs::path& from, std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    return RunFhirlake(LoadArgs(from, std::move(extra)), env);
  }

  void SetUp() override {
    LoadTest::SetUp();
    auto patients = Lines(src() / "Patient.000.ndjson");
    auto observations = Lines(src() / "Observation.000.ndjson");
    original_ = patients;
    updated_ = With(patients[0], "2030-01-01T00:00:00.000Z", "updated-family");
    stale_ = With(patients[1], "2000-01-01T00:00:00.000Z", "stale-family");
    deleted_patient_ = json::parse(patients[2])["id"];
    deleted_observation_ = json::parse(observations[0])["id"];
    fs::create_directories(changes() / "deleted");
    std::ofstream(changes() / "Patient.000.ndjson")
        << stale_ << "\n"
        << R"({"resourceType":"Patient","id":"dup","meta":{"lastUpdated":"2030-01-02T00:00:00Z"},"gender":"latest"})" << "\n"
        << updated_ << "\n"
        << R"({"resourceType":"Patient","id":"dup","meta":{"lastUpdated":"2030-01-01T00:00:00Z"},"gender":"older"})" << "\n"
        << R"({"resourceType":"Patient","id":"brand-new","gender":"unknown"})" << "\n";
    json bundle = {{"resourceType", "Bundle"}, {"type", "transaction"},
                   {"entry", {{{"request", {{"method", "DELETE"}, {"url", "Patient/" + deleted_patient_}}}},
                              {{"request", {{"method", "DELETE"}, {"url", "Observation/" + deleted_observation_}}}},
                              {{"request", {{"method", "DELETE"}, {"url", "Patient/never-existed"}}}}}}};
    std::ofstream(changes() / "deleted" / "del.ndjson") << bundle.dump() << "\n";
  }
  fs::path changes() const { return dir_ / "changes"; }
  // `line` with a new meta.lastUpdated and a new first family name.
  static std::string With(const std::string& line, const std::string& last_updated, const std::string& family) {
    json r = json::parse(line);
    r["meta"]["lastUpdated"] = last_updated;
    r["name"][0]["family"] = family;
    return r.dump();
  }
  std::map<std::string, std::string> JsonById(const std::string& type) {
    std::map<std::string, std::string> out;
    for (const auto& row : Query(type, "id, _json")) {
      EXPECT_FALSE(out.count(row["id"])) << "duplicate id " << row["id"];
      out[row["id"]] = row["_json"];
    }
    return out;
  }

  std::vector<std::string> original_;
  std::string updated_, stale_, deleted_patient_, deleted_observation_;
};

TEST_P(MergeTest, UpsertsByIdAppliesDeletionsAndKeepsLaterVersions) {
  auto first = Merge(src());  // merge is the default
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const int observations = Rows("Observation");
  const int64_t condition_version = Version("Condition");

  auto r = Merge(changes());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Patient: 2 inserted, 1 updated, 1 deleted, version 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Observation: 0 inserted, 0 updated, 1 deleted, version 1"), std::string::npos) << r.err;

  auto patients = JsonById("Patient");
  EXPECT_EQ(patients.size(), original_.size() - 1 + 2);
  EXPECT_EQ(patients[json::parse(updated_)["id"]], updated_) << "a newer version replaces the row";
  EXPECT_EQ(patients[json::parse(stale_)["id"]], original_[1]) << "an older version does not replace the row";
  EXPECT_FALSE(patients.count(deleted_patient_)) << "deleted/ removes the resource";
  EXPECT_NE(patients["dup"].find("latest"), std::string::npos) << "the latest duplicate in the load wins";
  EXPECT_TRUE(patients.count("brand-new"));
  for (size_t i = 3; i < original_.size(); ++i) {
    EXPECT_EQ(patients[json::parse(original_[i])["id"]], original_[i]) << "untouched rows survive the rewrite";
  }
  json typed = Query("Patient", "count(*)::INTEGER AS n").at(0);
  EXPECT_EQ(typed["n"], static_cast<int>(patients.size()));
  json nested = Query("Patient", "name[1].family AS f");
  int updated_family = 0;
  for (const auto& row : nested) updated_family += row["f"] == "updated-family";
  EXPECT_EQ(updated_family, 1) << "typed columns follow the merged rows";

  EXPECT_EQ(Rows("Observation"), observations - 1);
  EXPECT_FALSE(JsonById("Observation").count(deleted_observation_));
  auto status = RunFhirlake({"status", wh().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const json tables = json::parse(status.out)["tables"];
  for (const auto& t : tables) {
    if (t["table"] == "Patient") {
      EXPECT_EQ(t["rows"], patients.size()) << "status counts live rows";
    }
  }
  EXPECT_EQ(Version("Condition"), condition_version) << "types without changes get no new version";
  json log;
  for (const auto& line : Lines(wh() / "Patient" / "_delta_log" / "00000000000000000001.json")) {
    if (json a = json::parse(line); a.contains("commitInfo")) log = a;
  }
  ASSERT_TRUE(log.contains("commitInfo"));
  EXPECT_EQ(log["commitInfo"]["operation"], "MERGE");
  EXPECT_EQ(log["commitInfo"]["numTargetRowsDeleted"], 1);
  // Deletion vectors move the table to reader 3 / writer 7; copy-on-write leaves it at 1 / 2.
  std::string protocol = ReadFile(wh() / "Patient" / "_delta_log" / "00000000000000000001.json");
  EXPECT_EQ(protocol.find(R"("readerFeatures":["deletionVectors"])") != std::string::npos, dvs()) << protocol;
  size_t dv_files = 0;
  for (const auto& e : fs::directory_iterator(wh() / "Patient")) dv_files += e.path().extension() == ".bin";
  EXPECT_EQ(dv_files, dvs() ? 1u : 0u);
}

TEST_P(MergeTest, MergingTheSameChangesAgainChangesNothing) {
  ASSERT_EQ(Merge(src()).exit_code, 0);
  ASSERT_EQ(Merge(changes()).exit_code, 0);
  auto once = JsonById("Patient");
  auto again = Merge(changes());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(JsonById("Patient"), once);
  EXPECT_EQ(Rows("Observation"), static_cast<int>(Lines(src() / "Observation.000.ndjson").size()) - 1);
}

TEST_P(MergeTest, DuplicatesInAFirstLoadKeepTheLatest) {
  auto r = Merge(changes(), {"--types", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto patients = JsonById("Patient");
  EXPECT_EQ(patients.size(), 4u);
  EXPECT_NE(patients["dup"].find("latest"), std::string::npos);
  EXPECT_FALSE(fs::exists(wh() / "Observation")) << "deletions alone do not create a table";
}

// A line the shredder refuses does not stand for its id: the stored row it would replace
// stays, and an earlier good line of the same id in the batch wins instead.
TEST_P(MergeTest, ARefusedUpdateLosesNothing) {
  ASSERT_EQ(Merge(src(), {"--types", "Patient"}).exit_code, 0);
  const std::string id0 = json::parse(original_[0])["id"], id1 = json::parse(original_[1])["id"];
  const std::string good_older = With(original_[0], "2030-01-01T00:00:00.000Z", "good-older");
  auto refused = [](const std::string& id, const std::string& body) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","meta":{"lastUpdated":"2030-02-01T00:00:00Z"},)" + body + "}";
  };
  fs::create_directories(dir_ / "bad");
  std::ofstream(dir_ / "bad" / "Patient.000.ndjson")
      << good_older << "\n"
      << refused(id0, R"("name":[{"family":"A","family":"B"}])") << "\n"  // a duplicate key
      << refused(id1, R"("gender":tru)") << "\n";                         // not JSON
  auto r = Merge(dir_ / "bad", {"--allow-errors"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Patient: 0 inserted, 1 updated, 0 deleted, version 1, 2 bad lines"), std::string::npos)
      << r.err;
  auto patients = JsonById("Patient");
  EXPECT_EQ(patients.size(), original_.size());
  EXPECT_EQ(patients[id0], good_older) << "the good line wins over a later refused one";
  EXPECT_EQ(patients[id1], original_[1]) << "the stored row stays when its update is refused";
  size_t outcomes = 0;
  for (const auto& e : fs::directory_iterator(wh() / "_errors")) outcomes += Lines(e.path()).size();
  EXPECT_EQ(outcomes, 2u) << "each refused line is reported once";

  // A batch with only refused lines commits no data file.
  fs::create_directories(dir_ / "bad2");
  std::ofstream(dir_ / "bad2" / "Patient.000.ndjson") << refused(id1, R"("active":nul)") << "\n";
  auto only_bad = Merge(dir_ / "bad2", {"--allow-errors"});
  ASSERT_EQ(only_bad.exit_code, 0) << only_bad.err;
  EXPECT_EQ(ReadFile(wh() / "Patient" / "_delta_log" / "00000000000000000002.json").find(R"("add")"), std::string::npos);
  EXPECT_EQ(JsonById("Patient")[id1], original_[1]);
}

TEST_P(MergeTest, ACrashBeforeTheMergeCommitLeavesThePreviousVersion) {
  ASSERT_EQ(Merge(src()).exit_code, 0);
  auto before = JsonById("Patient");
  auto crashed = Merge(changes(), {}, {"FHIRLAKE_TEST_CRASH=before-commit"});
  EXPECT_EQ(crashed.exit_code, 86);
  EXPECT_EQ(JsonById("Patient"), before);
  ASSERT_EQ(Merge(changes()).exit_code, 0);
  EXPECT_EQ(JsonById("Patient").size(), before.size() + 1);
}

// Tombstones are written ahead of the data commit and appended to the tombstone table after
// it (load/tombstones.h): a crash in between loses none.
TEST_P(MergeTest, ACrashAfterTheMergeCommitLosesNoTombstone) {
  ASSERT_EQ(Merge(src()).exit_code, 0);
  auto crashed = Merge(changes(), {"--types", "Patient"}, {"FHIRLAKE_TEST_CRASH=after-commit"});
  ASSERT_EQ(crashed.exit_code, 86) << crashed.err;
  EXPECT_FALSE(JsonById("Patient").count(deleted_patient_)) << "the data commit landed";
  auto tombstones = [&] {
    json n = DuckDb("SELECT count(*)::INTEGER AS n FROM t WHERE id = '" + deleted_patient_ + "'",
                    {{"t", load::TombstoneTableRoot(wh())}});
    return n.is_array() && !n.empty() ? n[0]["n"].get<int>() : -1;
  };
  EXPECT_NE(tombstones(), 1) << "the crash came before the append";
  std::vector<std::string> seen;
  ASSERT_TRUE(load::ForEachTombstone(wh(), "Patient", std::nullopt, [&](const load::Tombstone& t) {
    seen.push_back(t.id);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(seen, std::vector<std::string>{deleted_patient_}) << "readers already count the pending file";
  ASSERT_EQ(Merge(changes(), {"--types", "Patient"}).exit_code, 0);
  EXPECT_EQ(tombstones(), 1) << "the next load appended it, once";
}

TEST_P(MergeTest, TwoMergesRacingForTheSameVersionBothLand) {
  ASSERT_EQ(Merge(src(), {"--types", "Patient"}).exit_code, 0);
  const fs::path other = dir_ / "other-changes", gate = dir_ / "gate";
  fs::create_directories(other);
  fs::create_directories(gate);
  const std::string third = With(original_[3], "2031-01-01T00:00:00Z", "from-the-other-writer");
  std::ofstream(other / "Patient.000.ndjson") << third << "\n";
  std::vector<std::string> env = {"FHIRLAKE_TEST_COMMIT_GATE=" + gate.string()};
  auto argv = [&](const fs::path& from) {
    auto args = LoadArgs(from, {"--types", "Patient"});
    args.insert(args.begin(), FhirlakeBinary());
    return args;
  };
  Child a(argv(changes()), env, dir_ / "a.out", dir_ / "a.err");
  Child b(argv(other), env, dir_ / "b.out", dir_ / "b.err");
  ASSERT_TRUE(WaitFor([&] { return std::distance(fs::directory_iterator(gate), fs::directory_iterator()) == 2; }))
      << "both writers reach the commit";
  std::ofstream(gate / "open");
  EXPECT_EQ(a.Wait(), 0) << ReadFile(dir_ / "a.err");
  EXPECT_EQ(b.Wait(), 0) << ReadFile(dir_ / "b.err");
  EXPECT_EQ(Version("Patient"), 2) << "one writer lost the race for version 1, re-planned and wrote version 2";
  auto patients = JsonById("Patient");
  EXPECT_EQ(patients[json::parse(updated_)["id"]], updated_);
  EXPECT_EQ(patients[json::parse(third)["id"]], third);
  EXPECT_FALSE(patients.count(deleted_patient_));
  EXPECT_EQ(patients.size(), original_.size() + 1);
  size_t data_files = 0;
  for (const auto& e : fs::directory_iterator(wh() / "Patient")) data_files += e.path().extension() == ".parquet";
  EXPECT_EQ(data_files, 3u) << "the loser removed the data file of its lost attempt";
}

INSTANTIATE_TEST_SUITE_P(Strategies, MergeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "DeletionVectors" : "CopyOnWrite"; });

}  // namespace
}  // namespace fhirlake::testing
