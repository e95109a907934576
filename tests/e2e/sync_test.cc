// fhirlake sync as users run it: a real `fhirlake serve` source over generated data that the
// test changes between runs, real `fhirlake sync` processes (killed at named steps and at
// arbitrary moments), the tables read back by DuckDB through the test's own Delta reader.
#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "tests/e2e/sync_fixture.h"

namespace fhirlake::testing {
namespace {

TEST_F(SyncTest, FirstSyncThenAnIncrementalOneWithUpdatesAndDeletes) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto first = Sync(server, {"--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  json s1 = json::parse(first.out);
  EXPECT_EQ(s1["since"], "");
  ExpectWarehouseEqualsSource("the first sync");

  ChangeSource();
  auto second = Sync(server, {"--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  json s2 = json::parse(second.out);
  EXPECT_EQ(s2["since"], s1["transactionTime"]) << "the next _since is the last export's transactionTime";
  EXPECT_EQ(s2["inserted"], 1);
  EXPECT_EQ(s2["updated"], 3);
  EXPECT_EQ(s2["deleted"], 2);
  EXPECT_EQ(s2["resources"], 4) << "only the changes travel";
  ExpectWarehouseEqualsSource("the incremental sync");
  EXPECT_FALSE(Table("Patient").count(deleted_patient_));

  std::vector<std::string> sinces;
  for (const auto& r : server.Requests()) {
    if (r.value("path", "").find("$export") != std::string::npos) sinces.push_back(r["params"].contains("_since") ? r["params"]["_since"][0].get<std::string>() : "");
  }
  EXPECT_EQ(sinces, (std::vector<std::string>{"", s1["transactionTime"].get<std::string>()}));
  EXPECT_EQ(StateEntry("transactionTime"), s2["transactionTime"].dump());
  size_t archived = 0;
  for (const auto& e : fs::directory_iterator(wh() / "_exports")) {
    archived += fs::exists(e.path() / "manifest.json");
    std::string name = s2["transactionTime"];
    for (char& c : name) c = c == ':' ? '-' : c;
    if (e.path().filename() == name) {
      EXPECT_TRUE(fs::exists(e.path() / "deleted")) << "deleted/ is part of the audit copy";
    }
  }
  EXPECT_EQ(archived, 2u);
  auto status = RunFhirlake({"status", wh().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json st = json::parse(status.out);
  ASSERT_EQ(st["tables"].size(), 2u);
  for (const auto& t : st["tables"]) {
    EXPECT_EQ(t["rows"], Source(t["table"]).size()) << t.dump();
    EXPECT_EQ(t["transactionTime"], s2["transactionTime"]);
  }
  EXPECT_EQ(st["syncs"][0]["lastError"], "");
  auto text = RunFhirlake({"status", wh().string()});
  EXPECT_NE(text.out.find("Observation"), std::string::npos) << text.out;

  auto quiet = Sync(server, {"--keep", "1", "--deletion-vectors"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  archived = 0;
  for (const auto& e : fs::directory_iterator(wh() / "_exports")) archived += fs::exists(e.path() / "manifest.json");
  EXPECT_EQ(archived, 1u) << "--keep 1 prunes older exports";
  ExpectWarehouseEqualsSource("a sync without changes");
}

// Two syncs of other types (two sync keys) share the warehouse's archive. --keep 1 keeps one
// export of each: each sync counts its own archives (it used to prune the other's too).
TEST_F(SyncTest, KeepCountsEachSyncsOwnArchives) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto sync = [&](const std::string& types) {
    return RunFhirlake({"sync", "--source", server.base_url(), "--warehouse", wh().string(), "--types", types,
                        "--poll-interval", "50ms", "--quiet", "--keep", "1"});
  };
  for (int round = 0; round < 2; ++round) {
    for (const char* types : {"Patient", "Observation"}) {
      auto r = sync(types);
      ASSERT_EQ(r.exit_code, 0) << types << ": " << r.err;
    }
  }
  std::map<std::string, int> archives;  // by the _type its export asked for
  for (const auto& e : fs::directory_iterator(wh() / "_exports")) {
    if (!fs::exists(e.path() / "manifest.json")) continue;
    const std::string request = json::parse(ReadFile(e.path() / "manifest.json"))["request"];
    ++archives[request.find("_type=Patient") != std::string::npos ? "Patient" : "Observation"];
  }
  EXPECT_EQ(archives, (std::map<std::string, int>{{"Observation", 1}, {"Patient", 1}}));
}

TEST_F(SyncTest, FullRefreshOverwritesTheTables) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  ChangeSource();
  auto r = Sync(server, {"--full-refresh", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["fullRefresh"], true);
  EXPECT_EQ(s["since"], "");
  ExpectWarehouseEqualsSource("a full refresh");
  std::string log = ReadFile(wh() / "Patient" / "_delta_log" / "00000000000000000001.json");
  EXPECT_NE(log.find(R"("mode":"overwrite")"), std::string::npos) << log;

  // --since overrides the state's start once; --archive puts the export elsewhere.
  auto once = Sync(server, {"--since", "2000-01-01T00:00:00Z", "--archive", (dir_ / "audit").string(), "--json"});
  ASSERT_EQ(once.exit_code, 0) << once.err;
  json o = json::parse(once.out);
  EXPECT_EQ(o["since"], "2000-01-01T00:00:00Z");
  EXPECT_EQ(o["resources"], s["resources"]) << "everything changed after 2000";
  EXPECT_EQ(fs::path(o["archivedTo"].get<std::string>()).parent_path(), dir_ / "audit");
  EXPECT_TRUE(fs::exists(fs::path(o["archivedTo"].get<std::string>()) / "manifest.json"));
  ExpectWarehouseEqualsSource("a sync with --since");
  auto next = Sync(server, {"--json"});
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(json::parse(next.out)["since"], o["transactionTime"]) << "--since applied once";
}

// Kill the incremental sync at a named step, run it again: the tables are exactly those of an
// uninterrupted run (nothing lost, nothing twice, nothing deleted comes back).
class SyncCrashTest : public SyncTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(SyncCrashTest, RerunAfterAKillGivesTheSameTables) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  const std::string first_tt = StateEntry("transactionTime");
  ChangeSource();
  auto killed = Sync(server, {}, {"FHIRLAKE_TEST_CRASH=" + GetParam()});
  ASSERT_EQ(killed.exit_code, 86) << "the crash hook did not fire at " << GetParam() << ": " << killed.err;
  if (GetParam() != "after-state") {
    EXPECT_EQ(StateEntry("transactionTime"), first_tt) << "the state advances only after every commit";
  }
  auto rerun = Sync(server, {"--json"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  ExpectWarehouseEqualsSource("a kill at " + GetParam() + " and a rerun");
  EXPECT_EQ(StateEntry("inFlight"), "") << "nothing left in flight";
}

INSTANTIATE_TEST_SUITE_P(Steps, SyncCrashTest,
                         ::testing::Values("export-waiting", "export-downloading", "after-export", "before-commit",
                                           "after-commit", "after-load", "after-archive", "after-state"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

// An archive on another file system (here /dev/shm, a tmpfs) cannot take a rename: the export
// is copied there, and the in-flight copy goes.
TEST_F(SyncTest, AnArchiveOnAnotherFileSystemIsCopiedTo) {
  const fs::path shm = "/dev/shm";
  struct stat a{}, b{};
  if (::stat(shm.c_str(), &a) != 0 || ::stat(dir_.path().c_str(), &b) != 0 || a.st_dev == b.st_dev) {
    GTEST_SKIP() << "no second file system at /dev/shm";
  }
  const fs::path archive = shm / ("fhirlake-archive-" + std::to_string(::getpid()));
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto r = Sync(server, {"--archive", archive.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code == 0) {
    const fs::path archived = json::parse(r.out)["archivedTo"].get<std::string>();
    EXPECT_EQ(archived.parent_path(), archive);
    EXPECT_TRUE(ReadFile(archived / "Patient.000.ndjson") == ReadFile(src() / "Patient.000.ndjson"));
    EXPECT_FALSE(fs::exists(fs::path(archived.string() + ".part")));
    for (const auto& e : fs::directory_iterator(wh() / "_fhirlake" / "inflight")) {
      EXPECT_FALSE(e.is_directory()) << e.path() << ": the in-flight copy is gone (its lock file stays)";
    }
  }
  ExpectWarehouseEqualsSource("a sync archived to another file system");
  std::error_code ec;
  fs::remove_all(archive, ec);
}

// A full refresh makes the tables equal the source: a type the source no longer has any of is
// emptied (its export has no file for it), not left as it was.
TEST_F(SyncTest, AFullRefreshEmptiesATypeTheSourceNoLongerHas) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  ASSERT_GT(Table("Observation").size(), 0u);
  fs::rename(src() / "Observation.000.ndjson", dir_ / "Observation.000.ndjson");
  auto r = Sync(server, {"--full-refresh", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Table("Patient") == Source("Patient"));
  EXPECT_EQ(Table("Observation").size(), 0u) << "the source has no Observation now";
  auto status = RunFhirlake({"status", wh().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const json tables = json::parse(status.out)["tables"];
  for (const auto& t : tables) {
    if (t["table"] == "Observation") {
      EXPECT_EQ(t["rows"], 0) << t.dump();
    }
  }
}

TEST_F(SyncTest, AKilledSyncResumesTheExportInFlight) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto killed = Sync(server, {}, {"FHIRLAKE_TEST_CRASH=export-waiting"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  json state = State();
  ASSERT_TRUE(state.is_object()) << ReadFile(wh() / "_fhirlake" / "state.json");
  const json& entry = state["syncs"].begin().value();
  ASSERT_TRUE(entry.contains("inFlight"));
  const fs::path inflight = entry["inFlight"]["exportDir"].get<std::string>();
  EXPECT_NE(ReadFile(inflight / "export-state.json").find("bulkstatus"), std::string::npos)
      << "the status URL is kept with the export in flight";
  auto kickoffs = [&] {
    int n = 0;
    for (const auto& r : server.Requests()) n += r.value("path", "").find("$export") != std::string::npos;
    return n;
  };
  EXPECT_EQ(kickoffs(), 1);
  auto rerun = Sync(server, {"--json"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(json::parse(rerun.out)["resumed"], true);
  EXPECT_EQ(kickoffs(), 1) << "the rerun polled the old export instead of starting another";
  ExpectWarehouseEqualsSource("a resumed export");
}

// The export in flight is gone from the source when the run resumes (expired, cancelled, or the
// source restarted): the status URL answers 404, and the run starts a new export of the same
// changes instead of failing at every run.
TEST_F(SyncTest, AnExportInFlightTheSourceForgotIsStartedAgain) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto killed = Sync(server, {}, {"FHIRLAKE_TEST_CRASH=export-waiting"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  const json entry = State()["syncs"].begin().value();
  const fs::path inflight = entry["inFlight"]["exportDir"].get<std::string>();
  const std::string status_url = json::parse(ReadFile(inflight / "export-state.json"))["statusUrl"];
  ASSERT_EQ(Http("DELETE", status_url).status, 202);  // the source forgets it
  ASSERT_EQ(Http("GET", status_url).status, 404);
  auto rerun = Sync(server, {"--json"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(json::parse(rerun.out)["resumed"], false);
  int kickoffs = 0;
  for (const auto& r : server.Requests()) kickoffs += r.value("path", "").find("$export") != std::string::npos;
  EXPECT_EQ(kickoffs, 2) << "a new export was started";
  ExpectWarehouseEqualsSource("an export started again");
  EXPECT_FALSE(State()["syncs"].begin().value().contains("inFlight"));
}

// The resumed export's status still answers, but a file is gone (404): the export is started
// again as well.
TEST_F(SyncTest, AResumedExportWhoseFilesAreGoneIsStartedAgain) {
  ServerProcess server(src(), {"--faults", "file:404"});
  ASSERT_TRUE(server.ok());
  auto killed = Sync(server, {}, {"FHIRLAKE_TEST_CRASH=export-waiting"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  auto rerun = Sync(server, {"--json"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(json::parse(rerun.out)["resumed"], false);
  int kickoffs = 0, gone = 0;
  for (const auto& r : server.Requests()) {
    kickoffs += r.value("path", "").find("$export") != std::string::npos;
    gone += r.value("path", "").find("/bulkfiles/") != std::string::npos && r["status"] == 404;
  }
  EXPECT_EQ(gone, 1);
  EXPECT_EQ(kickoffs, 2) << "a new export was started";
  ExpectWarehouseEqualsSource("an export whose files were gone, started again");
}

TEST_F(SyncTest, KillsAtArbitraryMomentsLoseNothing) {
  // Slow file delivery stretches the download so that kills land in every phase.
  ServerProcess server(src(), {"--faults", "file:slow=400000"});
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Sync(server).exit_code, 0);
  ChangeSource();
  for (int delay_ms : {30, 120, 250, 400, 700}) {
    Child child(
        [&] {
          auto args = SyncArgs(server);
          args.insert(args.begin(), FhirlakeBinary());
          return args;
        }(),
        {}, dir_ / "kill.out", dir_ / "kill.err");
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // the moment of the kill is the test's input
    child.Signal(SIGKILL);
    child.Wait();
  }
  auto rerun = Sync(server);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  ExpectWarehouseEqualsSource("five kills at arbitrary moments");
}

TEST_F(SyncTest, ConfigurationComesFromFlagsThenEnvironmentThenFile) {
  std::ofstream(dir_ / "sync.json") << R"({"source": "http://file.example/fhir", "warehouse": "/from/file",
    "types": ["Patient"], "keep": 3, "clientId": "file-client", "clientSecret": "s3cret", "fullRefresh": true})";
  auto shown = RunFhirlake({"config", "--show", "--config", (dir_ / "sync.json").string(), "--warehouse", "/from/flag"},
                           {"FHIRLAKE_TYPES=Observation,Condition", "FHIRLAKE_WAREHOUSE=/from/env"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  json c = json::parse(shown.out);
  EXPECT_EQ(c["warehouse"], "/from/flag") << "a flag beats the environment and the file";
  EXPECT_EQ(c["types"], json({"Observation", "Condition"})) << "the environment beats the file";
  EXPECT_EQ(c["source"], "http://file.example/fhir");
  EXPECT_EQ(c["keep"], "3");
  EXPECT_EQ(c["fullRefresh"], true);
  EXPECT_EQ(c["clientId"], "file-client");
  EXPECT_EQ(c["clientSecret"], "****");
  EXPECT_EQ(shown.out.find("s3cret"), std::string::npos) << "secrets are masked";

  std::ofstream(dir_ / "unknown.json") << R"({"source": "http://x/fhir", "warehose": "/typo"})";
  auto unknown = RunFhirlake({"sync", "--config", (dir_ / "unknown.json").string()});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown key 'warehose'"), std::string::npos) << unknown.err;
  std::ofstream(dir_ / "bad.json") << R"({"keep": "three"})";
  auto bad = RunFhirlake({"sync", "--config", (dir_ / "bad.json").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'keep' must be an integer"), std::string::npos) << bad.err;
  auto missing = RunFhirlake({"sync", "--warehouse", wh().string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no source"), std::string::npos) << missing.err;
}

TEST_F(SyncTest, ASourceThatFailsExitsWithThreeAndKeepsTheState) {
  ServerProcess server(src(), {"--faults", "kickoff:500*100"});
  ASSERT_TRUE(server.ok());
  auto r = Sync(server, {"--retries", "1", "--json"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  json s = json::parse(r.out, nullptr, false);
  EXPECT_EQ(s["kind"], "source") << r.out;
  EXPECT_NE(StateEntry("lastError"), "");
  EXPECT_EQ(StateEntry("transactionTime"), R"("")");
}

TEST_F(SyncTest, AWarehouseThatCannotBeWrittenExitsWithFour) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  fs::create_directories(wh() / "Patient" / "_delta_log");
  std::ofstream(wh() / "Patient" / "_delta_log" / "00000000000000000000.json")
      << R"({"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["rowTracking"]}})"
      << "\n";  // writers must assign row ids, which fhirlake does not
  auto r = Sync(server);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("protocol features fhirlake does not support"), std::string::npos) << r.err;
}

TEST_F(SyncTest, ASecondConcurrentRunOfTheSameSyncIsRefused) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  const fs::path gate = dir_ / "gate";
  fs::create_directories(gate);
  auto args = SyncArgs(server);
  args.insert(args.begin(), FhirlakeBinary());
  Child first(args, {"FHIRLAKE_TEST_COMMIT_GATE=" + gate.string()}, dir_ / "first.out", dir_ / "first.err");
  ASSERT_TRUE(WaitFor([&] { return !fs::is_empty(gate); })) << "the first run reaches its commit";
  auto second = Sync(server);
  EXPECT_EQ(second.exit_code, 4);
  EXPECT_NE(second.err.find("another sync of"), std::string::npos) << second.err;
  std::ofstream(gate / "open");
  EXPECT_EQ(first.Wait(), 0) << ReadFile(dir_ / "first.err");
  ExpectWarehouseEqualsSource("a refused concurrent run");
}

// The port of /health and /metrics that a scheduled sync prints to `err_file` once it serves
// them (0 if it does not).
int OpsPort(const fs::path& err_file) {
  int port = 0;
  WaitFor([&] {
    std::string err = ReadFile(err_file);
    size_t at = err.find("http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(err.c_str() + at + 17);
    return port > 0;
  });
  return port;
}

TEST_F(SyncTest, ScheduledSyncsServeHealthAndMetricsAndStopOnSigterm) {
  auto server = std::make_unique<ServerProcess>(src());
  ASSERT_TRUE(server->ok());
  auto args = SyncArgs(*server, {"--every", "300ms", "--listen", "127.0.0.1:0", "--max-lag", "1500ms", "--retries", "1"});
  args.insert(args.begin(), FhirlakeBinary());
  Child child(args, {}, dir_ / "sched.out", dir_ / "sched.err");
  const int port = OpsPort(dir_ / "sched.err");
  ASSERT_GT(port, 0) << ReadFile(dir_ / "sched.err");
  auto get = [&](const std::string& path) { return Http("GET", "http://127.0.0.1:" + std::to_string(port) + path); };
  ASSERT_TRUE(WaitFor([&] { return get("/health").status == 200; })) << get("/health").body;
  ExpectWarehouseEqualsSource("a scheduled sync");

  server.reset();  // the source goes away: syncs fail, and after --max-lag /health says so
  ASSERT_TRUE(WaitFor([&] { return get("/health").status == 503; })) << get("/health").body;
  json health = json::parse(get("/health").body);
  EXPECT_NE(health["lastError"], "") << health.dump();
  EXPECT_EQ(health["status"], "stale");
  std::string metrics = get("/metrics").body;
  EXPECT_NE(metrics.find("fhirlake_sync_failures_total"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("fhirlake_sync_failures_total 0\n"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("fhirlake_sync_runs_total 0\n"), std::string::npos) << metrics;

  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 3) << "the last run failed (source unreachable): the schedule exits non-zero\n"
                             << ReadFile(dir_ / "sched.err");
}

// A restarted schedule is as healthy as the warehouse's last success, not stale until its own
// first run (which may take hours) ends.
TEST_F(SyncTest, ARestartedScheduleIsHealthyFromTheLastSuccessInTheState) {
  int source_port = 0;
  {
    ServerProcess server(src());
    ASSERT_TRUE(server.ok());
    ASSERT_EQ(Sync(server).exit_code, 0);
    source_port = server.port();
  }
  // The same source (base URL) again, where the next export never ends.
  ServerProcess slow(src(), {"--faults", "status:pending=100000"}, source_port);
  ASSERT_TRUE(slow.ok());
  auto args = SyncArgs(slow, {"--every", "1h", "--listen", "127.0.0.1:0", "--max-lag", "1h"});
  args.insert(args.begin(), FhirlakeBinary());
  Child child(args, {}, dir_ / "sched.out", dir_ / "sched.err");
  const int port = OpsPort(dir_ / "sched.err");
  ASSERT_GT(port, 0) << ReadFile(dir_ / "sched.err");
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& r : slow.Requests()) {
      if (r.value("path", "").find("/bulkstatus/") != std::string::npos) return true;
    }
    return false;
  })) << "the first run is under way";
  auto health = Http("GET", "http://127.0.0.1:" + std::to_string(port) + "/health");
  EXPECT_EQ(health.status, 200) << health.body;
  json body = json::parse(health.body, nullptr, false);
  EXPECT_EQ(body["running"], true) << health.body;
  EXPECT_NE(body["lastSuccess"], "") << health.body;
  EXPECT_NE(body["lastTransactionTime"], "") << health.body;
  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 0) << ReadFile(dir_ / "sched.err");
}

TEST_F(SyncTest, SigtermStopsAScheduledSyncPromptlyEvenDuringARetryBackoff) {
  ServerProcess server(src(), {"--faults", "kickoff:503=30"});
  ASSERT_TRUE(server.ok());
  auto args = SyncArgs(server, {"--every", "1h"});
  args.insert(args.begin(), FhirlakeBinary());
  Child child(args, {}, dir_ / "sched.out", dir_ / "sched.err");
  ASSERT_TRUE(WaitFor([&] {
    for (auto& r : server.Requests()) {
      if (r.value("path", "").find("$export") != std::string::npos) return true;
    }
    return false;
  })) << "the kick-off got its 503 (Retry-After: 30)";
  const auto signalled = std::chrono::steady_clock::now();
  child.Signal(SIGTERM);
  const int code = child.Wait();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  std::printf("sync --every stopped %.2f s after SIGTERM, during a 30 s retry backoff\n", seconds);
  EXPECT_EQ(code, 0) << "a run cut short by the stop is not a failure\n" << ReadFile(dir_ / "sched.err");
  EXPECT_LT(seconds, 10.0) << "the backoff was not interrupted";
}

TEST_F(SyncTest, AFailedSyncIsReportedToSentry) {
  httplib::Server sentry;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> events;  // auth header, body
  sentry.Post("/api/42/store/", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    events.emplace_back(req.get_header_value("X-Sentry-Auth"), req.body);
    res.set_content(R"({"id":"1"})", "application/json");
  });
  int port = sentry.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { sentry.listen_after_bind(); });
  ServerProcess source(src(), {"--faults", "kickoff:500*100"});
  ASSERT_TRUE(source.ok());
  auto r = Sync(source, {"--retries", "1", "--client-id", "app", "--client-secret", "hunter2-secret",
                         "--token-url", source.base_url() + "/auth/token"},
                {"SENTRY_DSN=http://publickey@127.0.0.1:" + std::to_string(port) + "/42", "SENTRY_RELEASE=fhirlake@9.9.9"});
  sentry.stop();
  thread.join();
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_EQ(events.size(), 1u) << r.err;
  EXPECT_NE(events[0].first.find("sentry_key=publickey"), std::string::npos) << events[0].first;
  json event = json::parse(events[0].second);
  EXPECT_EQ(event["release"], "fhirlake@9.9.9");
  EXPECT_EQ(event["tags"]["step"], "source");
  EXPECT_FALSE(event["exception"]["values"][0]["value"].get<std::string>().empty());
  EXPECT_EQ(events[0].second.find("hunter2-secret"), std::string::npos) << "no secrets in the event";
}

}  // namespace
}  // namespace fhirlake::testing
