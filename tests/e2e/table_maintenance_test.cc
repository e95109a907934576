// Table maintenance as operators configure and see it: the policy from flags, FHIRLAKE_*
// variables and the config file (one set of options for sync, serve and maintain), and what
// maintenance after a sync did, or why it failed, on the terminal and in the export's
// log.ndjson. Real `fhirlake serve` and `fhirlake sync` processes; tables read by DuckDB.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "fhirlake/delta/table.h"
#include "tests/e2e/sync_fixture.h"

namespace fhirlake::testing {
namespace {

class TableMaintenanceTest : public SyncTest {
 protected:
  // A sync of both types into `warehouse`, without --quiet.
  static std::vector<std::string> SyncInto(const ServerProcess& server, const fs::path& warehouse,
                                           std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sync", "--source", server.base_url(), "--warehouse", warehouse.string(),
                                     "--types", "Patient,Observation", "--poll-interval", "50ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static bool HasCheckpoint(const fs::path& table, int64_t version) {
    char name[64];
    std::snprintf(name, sizeof name, "%020lld.checkpoint.parquet", static_cast<long long>(version));
    return fs::exists(table / "_delta_log" / name);
  }
  // The data file version 0 of a table added.
  static std::string FirstDataFile(const fs::path& table) {
    for (const auto& line : Lines(table / "_delta_log" / "00000000000000000000.json")) {
      json action = json::parse(line);
      if (action.contains("add")) return action["add"]["path"];
    }
    return "";
  }
  // Patient and Observation number `i` changed at the source (a newer meta.lastUpdated).
  void Touch(size_t i) {
    const std::string now = fhir::FormatInstant(fhir::NowMicros() + 1000);
    for (const std::string type : {"Patient", "Observation"}) {
      auto lines = Lines(src() / (type + ".000.ndjson"));
      json r = json::parse(lines.at(i));
      r["meta"]["lastUpdated"] = now;
      lines[i] = r.dump();
      WriteLines(src() / (type + ".000.ndjson"), lines);
    }
  }
  // The archived export's log.ndjson events with this eventId.
  static std::vector<json> LogEvents(const json& summary, const std::string& event_id) {
    std::vector<json> out;
    for (const auto& line : Lines(fs::path(summary["archivedTo"].get<std::string>()) / "log.ndjson")) {
      json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("eventId", "") == event_id) out.push_back(e);
    }
    return out;
  }
};

TEST_F(TableMaintenanceTest, ThePolicyComesFromFlagsThenEnvironmentThenFile) {
  std::ofstream(dir_ / "sync.json") << R"({"source": "http://file.example/fhir", "checkpointInterval": 5,
    "retention": "9d", "smallFileMb": 8, "deletedFraction": 0.3, "noCompact": true, "logRetention": "40d",
    "targetFileMb": 64})";
  auto shown = RunFhirlake({"config", "--show", "--config", (dir_ / "sync.json").string(), "--retention", "10d"},
                           {"FHIRLAKE_CHECKPOINT_INTERVAL=7", "FHIRLAKE_SMALL_FILE_MB=4"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  json c = json::parse(shown.out);
  EXPECT_EQ(c["retention"], "10d") << "a flag beats the file";
  EXPECT_EQ(c["checkpointInterval"], "7") << "the environment beats the file";
  EXPECT_EQ(c["smallFileMb"], "4");
  EXPECT_EQ(c["deletedFraction"], "0.3");
  EXPECT_EQ(c["noCompact"], true);
  EXPECT_EQ(c["logRetention"], "40d");
  EXPECT_EQ(c["targetFileMb"], "64");
  EXPECT_EQ(c["noMaintenance"], false);

  std::ofstream(dir_ / "bad.json") << R"({"source": "http://x/fhir", "warehouse": "/tmp/x", "deletedFraction": 2})";
  auto bad = RunFhirlake({"sync", "--config", (dir_ / "bad.json").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("deletedFraction"), std::string::npos) << bad.err;
}

// A checkpoint after the first load (version 0) comes only from an interval of 1: by flag, by
// variable or by file; the default interval (10) writes none.
TEST_F(TableMaintenanceTest, SyncAppliesTheIntervalFromEachOfTheThreePlaces) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  std::ofstream(dir_ / "policy.json") << R"({"checkpointInterval": 1})";
  struct Way {
    std::string name;
    std::vector<std::string> args, env;
    bool checkpoint;
  } ways[] = {{"default", {}, {}, false},
              {"flag", {"--checkpoint-interval", "1"}, {}, true},
              {"env", {}, {"FHIRLAKE_CHECKPOINT_INTERVAL=1"}, true},
              {"file", {"--config", (dir_ / "policy.json").string()}, {}, true}};
  for (const auto& way : ways) {
    const fs::path warehouse = dir_ / ("wh-" + way.name);
    auto r = RunFhirlake(SyncInto(server, warehouse, way.args), way.env);
    ASSERT_EQ(r.exit_code, 0) << way.name << ": " << r.err;
    EXPECT_EQ(HasCheckpoint(warehouse / "Patient", 0), way.checkpoint) << way.name << "\n" << r.err;
    EXPECT_EQ(HasCheckpoint(warehouse / "Observation", 0), way.checkpoint) << way.name;
    if (way.checkpoint) {
      EXPECT_NE(r.err.find("Patient: maintenance: checkpoint at version 0"), std::string::npos) << r.err;
    }
  }
}

// A first sync of a type large enough to be written on two threads: with maintenance (which
// compacts), the threads' files are joined before the commit, so the table is one file in one
// commit and no replaced copies wait out the retention; without it, a file per thread.
TEST_F(TableMaintenanceTest, AFirstSyncOnTwoThreadsLeavesNothingForCompaction) {
  const fs::path big = dir_ / "big";
  ASSERT_TRUE(fhir::GenerateSample(big, {400, 7, 100000}).ok());  // ~8 MB of Observations
  ServerProcess server(big);
  ASSERT_TRUE(server.ok());
  for (const bool maintained : {true, false}) {
    const fs::path warehouse = dir_ / (maintained ? "wh-maintained" : "wh-not");
    std::vector<std::string> args = {"sync", "--source", server.base_url(), "--warehouse", warehouse.string(),
                                     "--types", "Observation", "--poll-interval", "50ms", "--quiet", "--jobs", "2"};
    if (!maintained) args.push_back("--no-maintenance");
    auto r = RunFhirlake(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto snap = delta::Table(warehouse / "Observation").Load();
    ASSERT_TRUE(snap.ok()) << snap.status().message();
    if (maintained) {
      EXPECT_EQ(snap->version, 0) << "no compaction commit";
      EXPECT_EQ(snap->files.size(), 1u);
      size_t parquet_files = 0;
      for (const auto& e : fs::directory_iterator(warehouse / "Observation")) parquet_files += e.path().extension() == ".parquet";
      EXPECT_EQ(parquet_files, 1u) << "nothing left for vacuum either";
    } else {
      EXPECT_GE(snap->files.size(), 2u) << "written on two threads";
      // `maintain` merges them, here on one thread.
      auto m = RunFhirlake({"maintain", warehouse.string(), "--jobs", "1", "--json"});
      ASSERT_EQ(m.exit_code, 0) << m.err;
      auto compacted = delta::Table(warehouse / "Observation").Load();
      ASSERT_TRUE(compacted.ok()) << compacted.status().message();
      EXPECT_EQ(compacted->files.size(), 1u) << m.out;
    }
    json n = DuckDb("SELECT count(*)::INTEGER AS n FROM t", {{"t", warehouse / "Observation"}});
    EXPECT_EQ(n[0]["n"], Lines(big / "Observation.000.ndjson").size()) << n.dump();
  }
}

// `fhirlake maintain` run from cron on the wrong folder, or for a mistyped type, says so and
// fails instead of doing nothing every night; the tables it does find are maintained.
// `fhirlake status` there says so too (and succeeds: it only looks).
TEST_F(TableMaintenanceTest, MaintainAndStatusSayWhatTheyDidNotFind) {
  fs::create_directories(dir_ / "not-a-warehouse" / "empty");
  auto nothing = RunFhirlake({"maintain", (dir_ / "not-a-warehouse").string()});
  EXPECT_EQ(nothing.exit_code, 2) << nothing.err;
  EXPECT_NE(nothing.err.find("no Delta tables in " + (dir_ / "not-a-warehouse").string()), std::string::npos)
      << nothing.err;
  auto looked = RunFhirlake({"status", (dir_ / "not-a-warehouse").string()});
  EXPECT_EQ(looked.exit_code, 0) << looked.err;
  EXPECT_NE(looked.err.find("no Delta tables and no sync state in " + (dir_ / "not-a-warehouse").string()),
            std::string::npos)
      << looked.err;
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  auto typo = RunFhirlake({"maintain", wh().string(), "--types", "Patient,Observaton", "--json"});
  EXPECT_EQ(typo.exit_code, 1) << typo.err;
  EXPECT_NE(typo.err.find("Observaton: no such table in " + wh().string()), std::string::npos) << typo.err;
  json report = json::parse(typo.out);
  std::set<std::string> maintained, errors;
  for (const auto& t : report) (t.contains("error") ? errors : maintained).insert(t["table"].get<std::string>());
  EXPECT_EQ(maintained, std::set<std::string>{"Patient"}) << report.dump();
  EXPECT_EQ(errors, std::set<std::string>{"Observaton"}) << report.dump();
  EXPECT_TRUE(HasCheckpoint(wh() / "Patient", 0)) << "the table found is maintained";
  auto status = RunFhirlake({"status", wh().string()});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.err.find("no Delta tables"), std::string::npos) << status.err;
}

TEST_F(TableMaintenanceTest, WhatMaintenanceDidIsOnTheTerminalAndInTheLog) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  const std::string first_file = FirstDataFile(wh() / "Patient");
  ASSERT_FALSE(first_file.empty());
  ASSERT_TRUE(fs::exists(wh() / "Patient" / first_file)) << first_file;

  // The copy-on-write merge replaces the first file; a zero retention lets vacuum delete it.
  ChangeSource();
  auto text = RunFhirlake(
      SyncInto(server, wh(), {"--retention", "0s", "--allow-short-retention", "--checkpoint-interval", "1"}));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.err.find("Patient: maintenance: "), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("data files deleted"), std::string::npos) << text.err;
  EXPECT_FALSE(fs::exists(wh() / "Patient" / first_file)) << "vacuumed";
  ExpectWarehouseEqualsSource("a sync followed by maintenance");

  // The JSON summary and the archived log say the same, per table.
  Touch(3);
  auto quiet = Sync(server, {"--json", "--retention", "0s", "--allow-short-retention", "--checkpoint-interval", "1"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("maintenance"), std::string::npos) << "--quiet prints no successful maintenance";
  json s = json::parse(quiet.out);
  // The two tables, then the tombstone table that records the source's deletions.
  ASSERT_EQ(s["maintenance"].size(), 3u) << s.dump();
  EXPECT_EQ(s["maintenance"][2]["table"], "_fhirlake/tombstones") << s.dump();
  EXPECT_FALSE(s["maintenance"][2].contains("error")) << s.dump();
  auto events = LogEvents(s, "maintenance");
  ASSERT_EQ(events.size(), 3u);
  for (const auto& e : events) {
    const json& d = e["eventDetail"];
    if (d["table"] == "_fhirlake/tombstones") continue;
    EXPECT_TRUE(d["table"] == "Patient" || d["table"] == "Observation") << d.dump();
    EXPECT_EQ(d["checkpoint"], true) << d.dump();
    EXPECT_GE(d["filesDeleted"].get<int>(), 1) << d.dump();
    EXPECT_GT(d["bytesFreed"].get<int64_t>(), 0) << d.dump();
  }
  EXPECT_TRUE(LogEvents(s, "maintenance_error").empty());
  ExpectWarehouseEqualsSource("a second sync followed by maintenance");
}

TEST_F(TableMaintenanceTest, AFailedMaintenanceIsReportedWithItsTableAndDoesNotFailTheSync) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  // Below the tables' delta.deletedFileRetentionDuration (7 days), without the override.
  auto r = Sync(server, {"--json", "--retention", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: Patient: maintenance failed: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: Observation: maintenance failed: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-short-retention"), std::string::npos) << r.err;
  json s = json::parse(r.out);
  ASSERT_EQ(s["maintenance"].size(), 2u);
  for (const auto& m : s["maintenance"]) EXPECT_NE(m.value("error", "").find("deletedFileRetentionDuration"), std::string::npos) << m;
  auto errors = LogEvents(s, "maintenance_error");
  ASSERT_EQ(errors.size(), 2u);
  std::set<std::string> tables;
  for (const auto& e : errors) tables.insert(e["eventDetail"]["table"].get<std::string>());
  EXPECT_EQ(tables, (std::set<std::string>{"Observation", "Patient"}));
  ExpectWarehouseEqualsSource("a sync whose maintenance failed");

  Touch(0);
  auto off = Sync(server, {"--json", "--retention", "1h", "--no-maintenance"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  json o = json::parse(off.out);
  EXPECT_EQ(o["tables"].size(), 2u) << o.dump();
  EXPECT_TRUE(o["maintenance"].empty()) << "--no-maintenance";
}

// `fhirlake maintain` reads the same options: a retention below the floor, however given, is
// refused before anything is deleted.
TEST_F(TableMaintenanceTest, MaintainTakesThePolicyFromEachOfTheThreePlaces) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  std::ofstream(dir_ / "maintain.json") << R"({"retention": "1h"})";
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> short_retention = {
      {{"--retention", "1h"}, {}},
      {{}, {"FHIRLAKE_RETENTION=1h"}},
      {{"--config", (dir_ / "maintain.json").string()}, {}}};
  for (const auto& [args, env] : short_retention) {
    std::vector<std::string> command = {"maintain", wh().string()};
    command.insert(command.end(), args.begin(), args.end());
    auto r = RunFhirlake(command, env);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--allow-short-retention"), std::string::npos) << r.err;
  }
  auto interval = RunFhirlake({"maintain", wh().string(), "--json"}, {"FHIRLAKE_CHECKPOINT_INTERVAL=0"});
  ASSERT_EQ(interval.exit_code, 0) << interval.err;
  EXPECT_FALSE(HasCheckpoint(wh() / "Patient", 0)) << "interval 0: no checkpoint";
  auto done = RunFhirlake({"maintain", wh().string(), "--json"});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_TRUE(HasCheckpoint(wh() / "Patient", 0)) << "maintain checkpoints the current version by default";
}

}  // namespace
}  // namespace fhirlake::testing
