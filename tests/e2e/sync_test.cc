// fhirlake sync as users run it: a real `fhirlake serve` source over generated data that the
// test changes between runs, real `fhirlake sync` processes (killed at named steps and at
// arbitrary moments), the tables read back by DuckDB through the test's own Delta reader.
#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/sample_generator.h"
#include "fhirlake/http/client.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kTypes = {"Patient", "Observation"};

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fhir::GenerateSample(src(), {12, 5, 100000}).ok()); }
  fs::path src() const { return dir_ / "source"; }
  fs::path wh() const { return dir_ / "warehouse"; }

  std::vector<std::string> SyncArgs(const ServerProcess& server, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sync", "--source", server.base_url(), "--warehouse", wh().string(),
                                     "--types", "Patient,Observation", "--poll-interval", "50ms", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  RunResult Sync(const ServerProcess& server, std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    return RunFhirlake(SyncArgs(server, std::move(extra)), env);
  }

  static std::vector<std::string> Lines(const fs::path& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }
  static void WriteLines(const fs::path& file, const std::vector<std::string>& lines) {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }

  // Changes the source as a server's data changes: two patients and an observation updated
  // (meta.lastUpdated now), one patient and one observation deleted (gone from the files, a
  // DELETE entry under deleted/), one patient added.
  void ChangeSource() {
    const std::string now = fhir::FormatInstant(fhir::NowMicros() + 1000);
    auto patients = Lines(src() / "Patient.000.ndjson");
    auto observations = Lines(src() / "Observation.000.ndjson");
    for (int i : {0, 1}) {
      json p = json::parse(patients[i]);
      p["meta"]["lastUpdated"] = now;
      p["gender"] = "other";
      patients[i] = p.dump();
    }
    json o = json::parse(observations[0]);
    o["meta"]["lastUpdated"] = now;
    o["status"] = "amended";
    observations[0] = o.dump();
    deleted_patient_ = json::parse(patients[2])["id"];
    deleted_observation_ = json::parse(observations[1])["id"];
    patients.erase(patients.begin() + 2);
    observations.erase(observations.begin() + 1);
    patients.push_back(json{{"resourceType", "Patient"}, {"id", "added-later"}, {"meta", {{"lastUpdated", now}}},
                            {"gender", "unknown"}}.dump());
    WriteLines(src() / "Patient.000.ndjson", patients);
    WriteLines(src() / "Observation.000.ndjson", observations);
    fs::create_directories(src() / "deleted");
    json bundle = {{"resourceType", "Bundle"}, {"type", "transaction"}, {"meta", {{"lastUpdated", now}}},
                   {"entry", {{{"request", {{"method", "DELETE"}, {"url", "Patient/" + deleted_patient_}}}},
                              {{"request", {{"method", "DELETE"}, {"url", "Observation/" + deleted_observation_}}}}}}};
    WriteLines(src() / "deleted" / "Bundle.000.ndjson", {bundle.dump()});
  }

  // id → _json of a table, as DuckDB reads it; duplicates fail the test.
  std::map<std::string, std::string> Table(const std::string& type) {
    std::map<std::string, std::string> out;
    json rows = DuckDb("SELECT id, _json FROM t", {{"t", wh() / type}});
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    if (!rows.is_array()) return out;
    for (const auto& r : rows) {
      EXPECT_FALSE(out.count(r["id"])) << type << " has " << r["id"] << " twice";
      out[r["id"]] = r["_json"];
    }
    return out;
  }
  // What the source holds now, id → line.
  std::map<std::string, std::string> Source(const std::string& type) {
    std::map<std::string, std::string> out;
    for (const auto& l : Lines(src() / (type + ".000.ndjson"))) out[json::parse(l)["id"]] = l;
    return out;
  }
  void ExpectWarehouseEqualsSource(const std::string& context) {
    for (const auto& type : kTypes) EXPECT_TRUE(Table(type) == Source(type)) << type << " after " << context;
  }
  json State() { return json::parse(ReadFile(wh() / "_fhirlake" / "state.json"), nullptr, false); }

  // One HTTP request without retries: a 202 or a 503 is the answer under test, not a reason to
  // try again. A transport failure gives status 0.
  static http::Response Http(const std::string& method, const std::string& url, const std::string& body = "",
                             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::ClientOptions once;
    once.retry.max_attempts = 1;
    http::Client client(once);
    http::Request req;
    req.method = method;
    req.url = url;
    req.body = body;
    req.send_token = false;
    for (const auto& [name, value] : headers) req.headers.Add(name, value);
    auto r = client.Send(req);
    return r.ok() ? r.value() : http::Response{};
  }
  std::string StateEntry(const std::string& field) {
    json s = State();
    if (!s.is_object() || s["syncs"].empty()) return "";
    const json& e = s["syncs"].begin().value();
    return e.contains(field) ? e[field].dump() : "";
  }

  TempDir dir_;
  std::string deleted_patient_, deleted_observation_;
};

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
      << R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["columnMapping"],"writerFeatures":["columnMapping"]}})"
      << "\n";
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

TEST_F(SyncTest, ScheduledSyncsServeHealthAndMetricsAndStopOnSigterm) {
  auto server = std::make_unique<ServerProcess>(src());
  ASSERT_TRUE(server->ok());
  auto args = SyncArgs(*server, {"--every", "300ms", "--listen", "127.0.0.1:0", "--max-lag", "1500ms", "--retries", "1"});
  args.insert(args.begin(), FhirlakeBinary());
  Child child(args, {}, dir_ / "sched.out", dir_ / "sched.err");
  int port = 0;
  ASSERT_TRUE(WaitFor([&] {
    std::string err = ReadFile(dir_ / "sched.err");
    size_t at = err.find("http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(err.c_str() + at + 17);
    return port > 0;
  })) << ReadFile(dir_ / "sched.err");
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
  EXPECT_EQ(child.Wait(), 0) << ReadFile(dir_ / "sched.err");
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

// `fhirlake serve --warehouse` as an import (ping and pull) server: instance B pulls from
// instance A, driven the way schedulers drive Pathling's $import-pnp.
class ImportPnpTest : public SyncTest {
 protected:
  static std::vector<json> RequestsTo(const ServerProcess& s, const std::string& fragment) {
    std::vector<json> out;
    for (auto& r : s.Requests()) {
      if (r.value("path", "").find(fragment) != std::string::npos) out.push_back(r);
    }
    return out;
  }
  std::unique_ptr<ServerProcess> StartImporter(const ServerProcess& source) {
    // No --source: this instance's $export serves its warehouse.
    return std::make_unique<ServerProcess>(fs::path(), std::vector<std::string>{
        "--warehouse", wh().string(), "--allow-source", source.base_url(), "--retry-after", "1"});
  }
  static json PnpBody(const std::string& export_url, std::vector<std::pair<std::string, std::string>> extra = {}) {
    json p = {{"resourceType", "Parameters"},
              {"parameter", {{{"name", "exportUrl"}, {"valueUrl", export_url}},
                             {{"name", "exportType"}, {"valueCode", "dynamic"}},
                             {{"name", "saveMode"}, {"valueCode", "merge"}}}}};
    for (auto& [name, value] : extra) p["parameter"].push_back({{"name", name}, {"valueString", value}});
    return p;
  }
  // A FHIR request: JSON body, Prefer: respond-async unless `async` is false, a bearer token
  // when given.
  static http::Response Send(const std::string& method, const std::string& url, const std::string& body = "",
                             bool async = true, const std::string& bearer = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/fhir+json");
    if (async) headers.emplace_back("Prefer", "respond-async");
    if (!bearer.empty()) headers.emplace_back("Authorization", "Bearer " + bearer);
    return Http(method, url, body, headers);
  }
  // Kicks off and polls to the end; the final response.
  http::Response Import(const ServerProcess& importer, const json& body) {
    auto kick = Send("POST", importer.base_url() + "/$import-pnp", body.dump());
    EXPECT_EQ(kick.status, 202) << kick.body;
    auto location = kick.headers.Get("Content-Location");
    if (!location) return kick;
    http::Response poll;
    WaitFor([&] {
      poll = Send("GET", *location);
      return poll.status != 202;
    }, std::chrono::seconds(60));
    return poll;
  }
};

TEST_F(ImportPnpTest, TheSeedSyncScriptPullsFromAnotherInstance) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  std::ofstream(dir_ / "params.json") << PnpBody(a.base_url()).dump();
  // The shape of the scripts users run against Pathling: kick off, grep Content-Location, poll.
  std::ofstream(dir_ / "seed.sh") << R"(set -e
curl -s -i -X POST "$1/\$import-pnp" -H 'Content-Type: application/fhir+json' -H 'Prefer: respond-async'   --data @params.json > kickoff.txt
location=$(grep -i '^content-location:' kickoff.txt | tr -d '\r' | cut -d' ' -f2)
for i in $(seq 300); do
  status=$(curl -s -o result.json -w '%{http_code}' "$location")
  [ "$status" = 200 ] && exit 0
  [ "$status" = 202 ] || { echo "status $status"; cat result.json; exit 1; }
  sleep 0.2
done
exit 1
)";
  Child script({"/bin/bash", "-c", "cd " + dir_.path().string() + " && bash seed.sh " + b->base_url()}, {},
               dir_ / "seed.out", dir_ / "seed.err");
  ASSERT_EQ(script.Wait(), 0) << ReadFile(dir_ / "seed.out") << ReadFile(dir_ / "seed.err") << ReadFile(dir_ / "kickoff.txt");
  json result = json::parse(ReadFile(dir_ / "result.json"));
  EXPECT_EQ(result["resourceType"], "Parameters");
  EXPECT_EQ(result["parameter"][0]["name"], "transactionTime");
  for (const auto& type : kTypes) EXPECT_TRUE(Table(type) == Source(type)) << type;

  // A second pull with _since after A changed applies the updates and the deletions.
  ChangeSource();
  auto second = Import(*b, PnpBody(a.base_url(), {{"_since", result["parameter"][0]["valueInstant"]}}));
  ASSERT_EQ(second.status, 200) << second.body;
  for (const auto& type : kTypes) EXPECT_TRUE(Table(type) == Source(type)) << type << " after the incremental pull";
  EXPECT_NE(second.body.find(R"("name":"deleted","valueInteger":1)"), std::string::npos) << second.body;
  const std::string metrics = Send("GET", "http://127.0.0.1:" + std::to_string(b->port()) + "/metrics", "", false).body;
  EXPECT_NE(metrics.find("fhirlake_import_jobs{state=\"completed\"} 2"), std::string::npos) << metrics;

  // B serves its warehouse as a Bulk Data source: `fhirlake export` from B gives what A holds.
  auto exported = RunFhirlake({"export", b->base_url(), (dir_ / "from-b").string(), "--poll-interval", "50ms", "--quiet"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const auto& type : kTypes) {
    std::map<std::string, std::string> got;
    for (const auto& l : Lines(dir_ / "from-b" / (type + ".000.ndjson"))) got[json::parse(l)["id"]] = l;
    EXPECT_TRUE(got == Source(type)) << type << " exported from B";
  }
  // ... and with _since, the changes and the deletions a merge recorded.
  auto changes = RunFhirlake({"export", b->base_url(), (dir_ / "b-changes").string(), "--since",
                              result["parameter"][0]["valueInstant"].get<std::string>(), "--poll-interval", "50ms",
                              "--quiet"});
  ASSERT_EQ(changes.exit_code, 0) << changes.err;
  EXPECT_EQ(Lines(dir_ / "b-changes" / "Patient.000.ndjson").size(), 3u) << "two updated, one added";
  std::string deleted;
  for (const auto& e : fs::directory_iterator(dir_ / "b-changes" / "deleted")) deleted += ReadFile(e.path());
  EXPECT_NE(deleted.find("Patient/" + deleted_patient_), std::string::npos) << deleted;
  EXPECT_NE(deleted.find("Observation/" + deleted_observation_), std::string::npos) << deleted;
}

TEST_F(ImportPnpTest, AJobInterruptedByAKillFinishesAfterARestart) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  // The first B dies right after its job's export, as a kill would.
  Child b1({FhirlakeBinary(), "serve", "--listen", "127.0.0.1:0", "--warehouse", wh().string(), "--allow-source",
            a.base_url()},
           {"FHIRLAKE_TEST_CRASH=import-after-export"}, dir_ / "b1.out", dir_ / "b1.err");
  int port = 0;
  ASSERT_TRUE(WaitFor([&] {
    std::string out = ReadFile(dir_ / "b1.out");
    size_t at = out.find("http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(out.c_str() + at + 17);
    return port > 0;
  }));
  auto kick = Send("POST", "http://127.0.0.1:" + std::to_string(port) + "/fhir/$import-pnp", PnpBody(a.base_url()).dump());
  ASSERT_EQ(kick.status, 202) << kick.body;
  const std::string location = *kick.headers.Get("Content-Location");
  const std::string id = location.substr(location.find("id=") + 3);
  EXPECT_EQ(b1.Wait(), 86) << ReadFile(dir_ / "b1.err");
  EXPECT_FALSE(fs::exists(wh() / "Patient")) << "killed before the load";

  auto b2 = StartImporter(a);  // same warehouse: the job is requeued and resumes its export
  ASSERT_TRUE(b2->ok()) << b2->stderr_text();
  http::Response done;
  ASSERT_TRUE(WaitFor([&] {
    done = Send("GET", b2->base_url() + "/$job?id=" + id);
    return done.status != 202;
  }, std::chrono::seconds(60)));
  EXPECT_EQ(done.status, 200) << done.body;
  for (const auto& type : kTypes) EXPECT_TRUE(Table(type) == Source(type)) << type;
  int kickoffs = 0;
  for (const auto& r : a.Requests()) kickoffs += r.value("path", "").find("$export") != std::string::npos;
  EXPECT_EQ(kickoffs, 1) << "the restarted job resumed the export instead of starting another";
}

TEST_F(ImportPnpTest, ImportTakesPathlingsManifestFormsFromFilesAndUrls) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = std::make_unique<ServerProcess>(fs::path(), std::vector<std::string>{
      "--warehouse", wh().string(), "--allow-source", a.base_url(), "--import-root", src().string()});
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  auto run = [&](const json& body) {
    auto kick = Send("POST", b->base_url() + "/$import", body.dump());
    EXPECT_EQ(kick.status, 202) << kick.body;
    http::Response poll;
    if (auto location = kick.headers.Get("Content-Location")) {
      WaitFor([&] {
        poll = Send("GET", *location);
        return poll.status != 202;
      }, std::chrono::seconds(60));
    }
    return poll;
  };
  // The JSON manifest form, with file:// inputs under an import root: Patient only.
  json manifest = {{"inputFormat", "application/fhir+ndjson"},
                   {"mode", "overwrite"},
                   {"input", {{{"type", "Patient"}, {"url", "file://" + (src() / "Patient.000.ndjson").string()}}}}};
  auto first = run(manifest);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(Table("Patient") == Source("Patient"));

  // The Parameters form with http:// inputs: the file URLs of an export A ran.
  auto kick = Send("GET", a.base_url() + "/$export?_type=Observation");
  ASSERT_EQ(kick.status, 202);
  http::Response status;
  ASSERT_TRUE(WaitFor([&] {
    status = Send("GET", *kick.headers.Get("Content-Location"), "", false);
    return status.status == 200;
  }));
  json params = {{"resourceType", "Parameters"}, {"parameter", {{{"name", "saveMode"}, {"valueCode", "merge"}}}}};
  const json a_manifest = json::parse(status.body);
  ASSERT_FALSE(a_manifest["output"].empty()) << status.body;
  for (const auto& out : a_manifest["output"]) {
    params["parameter"].push_back({{"name", "input"},
                                   {"part", {{{"name", "resourceType"}, {"valueCode", out["type"]}},
                                             {{"name", "url"}, {"valueUrl", out["url"]}}}}});
  }
  auto second = run(params);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_TRUE(Table("Observation") == Source("Observation"));
  // $import with an exportUrl is the ping and pull of $import-pnp.
  auto pull = run(PnpBody(a.base_url()));
  EXPECT_EQ(pull.status, 200) << pull.body;

  // Paths outside the roots are refused, whether plain, through `..` or through a symlink.
  fs::create_symlink("/etc", src() / "escape");
  for (const std::string& path : {std::string("/etc/passwd"), (src() / ".." / ".." / "etc" / "passwd").string(),
                                  (src() / "escape" / "passwd").string()}) {
    json bad = {{"input", {{{"type", "Patient"}, {"url", "file://" + path}}}}};
    auto refused = Send("POST", b->base_url() + "/$import", bad.dump());
    EXPECT_EQ(refused.status, 403) << path << ": " << refused.body;
  }
  json foreign = {{"input", {{{"type", "Patient"}, {"url", "http://198.51.100.7/Patient.ndjson"}}}}};
  EXPECT_EQ(Send("POST", b->base_url() + "/$import", foreign.dump()).status, 403);
  json no_input = {{"inputFormat", "application/fhir+ndjson"}, {"input", json::array()}};
  auto empty = Send("POST", b->base_url() + "/$import", no_input.dump());
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.body.find("no 'input'"), std::string::npos) << empty.body;
}

TEST_F(ImportPnpTest, WithAuthImportsNeedAWriteScopeAndJobsStayWithTheirClient) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  std::ofstream(dir_ / "clients.json") << json{
      {"clients", {{{"clientId", "loader"}, {"clientSecret", "loader-secret"}, {"scopes", {"system/*.write", "system/*.read"}}},
                   {{"clientId", "viewer"}, {"clientSecret", "viewer-secret"}, {"scopes", {"system/*.read"}}}}}}.dump();
  ServerProcess b(fs::path(), {"--warehouse", wh().string(), "--allow-source", a.base_url(), "--auth",
                               (dir_ / "clients.json").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  auto token = [&](const std::string& id, const std::string& secret, const std::string& scope) {
    auto got = Http("POST", b.base_url() + "/auth/token",
                    "grant_type=client_credentials&scope=" + scope + "&client_id=" + id + "&client_secret=" + secret,
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(got.status, 200) << got.body;
    return json::parse(got.body, nullptr, false).value("access_token", "");
  };
  auto call = [&](const std::string& method, const std::string& url, const std::string& bearer, const std::string& body) {
    return Send(method, url, body, true, bearer);
  };
  const std::string body = PnpBody(a.base_url()).dump();
  const std::string pnp = b.base_url() + "/$import-pnp";
  EXPECT_EQ(call("POST", pnp, "", body).status, 401) << "no token";
  const std::string viewer = token("viewer", "viewer-secret", "system/*.read");
  auto read_only = call("POST", pnp, viewer, body);
  EXPECT_EQ(read_only.status, 403);
  EXPECT_NE(read_only.body.find("write scope"), std::string::npos) << read_only.body;
  const std::string loader = token("loader", "loader-secret", "system/*.write%20system/*.read");
  auto kick = call("POST", pnp, loader, body);
  ASSERT_EQ(kick.status, 202) << kick.body;
  const std::string location = *kick.headers.Get("Content-Location");
  EXPECT_EQ(call("GET", location, viewer, "").status, 404) << "another client does not see the job";
  http::Response done;
  ASSERT_TRUE(WaitFor([&] {
    done = call("GET", location, loader, "");
    return done.status != 202;
  }, std::chrono::seconds(60)));
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(call("DELETE", location, viewer, "").status, 404) << "nor cancel it";
}

TEST_F(ImportPnpTest, CancellingDuringTheDownloadStopsTheJobAndCommitsNothing) {
  // Files trickle at 5 kB/s: the download would take minutes, far longer than the waits below.
  ServerProcess a(src(), {"--faults", "file:slow=5000"});
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok());
  auto kick = Send("POST", b->base_url() + "/$import-pnp", PnpBody(a.base_url()).dump());
  ASSERT_EQ(kick.status, 202) << kick.body;
  const std::string location = *kick.headers.Get("Content-Location");
  ASSERT_TRUE(WaitFor([&] { return !RequestsTo(a, "/bulkfiles/").empty(); })) << "the job is downloading";
  EXPECT_EQ(Send("DELETE", location).status, 202);
  EXPECT_EQ(Send("GET", location).status, 404);
  const std::string id = location.substr(location.find("id=") + 3);
  EXPECT_TRUE(WaitFor([&] { return !fs::exists(wh() / "_fhirlake" / "imports" / id); }, std::chrono::seconds(5)))
      << "the job stopped mid-download and removed its files";
  EXPECT_FALSE(fs::exists(wh() / "Patient")) << "nothing was committed";
  EXPECT_FALSE(fs::exists(wh() / "Observation"));
}

TEST_F(ImportPnpTest, BadRequestsAreRefusedWithAnOperationOutcome) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  const std::string pnp = b->base_url() + "/$import-pnp";
  auto sync_request = Send("POST", pnp, PnpBody(a.base_url()).dump(), /*async=*/false);
  EXPECT_EQ(sync_request.status, 400);
  EXPECT_NE(sync_request.body.find("respond-async"), std::string::npos) << sync_request.body;
  auto foreign = Send("POST", pnp, PnpBody("http://127.0.0.1:1/fhir").dump());
  EXPECT_EQ(foreign.status, 403);
  EXPECT_NE(foreign.body.find("not under an allowed source"), std::string::npos) << foreign.body;
  auto missing = Send("POST", pnp, R"({"resourceType":"Parameters","parameter":[{"name":"saveMode","valueCode":"merge"}]})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("'exportUrl' is required"), std::string::npos) << missing.body;
  json bad_mode = PnpBody(a.base_url());
  bad_mode["parameter"][2]["valueCode"] = "upsert";
  auto mode = Send("POST", pnp, bad_mode.dump());
  EXPECT_EQ(mode.status, 400);
  EXPECT_NE(mode.body.find("'saveMode'"), std::string::npos) << mode.body;
  auto not_json = Send("POST", pnp, "{not json");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(not_json.body.find("OperationOutcome"), std::string::npos) << not_json.body;
  EXPECT_FALSE(fs::exists(wh() / "Patient")) << "nothing was imported";

  auto kick = Send("POST", pnp, PnpBody(a.base_url()).dump());
  ASSERT_EQ(kick.status, 202);
  const std::string location = *kick.headers.Get("Content-Location");
  EXPECT_EQ(Send("DELETE", location).status, 202);
  EXPECT_EQ(Send("GET", location).status, 404) << "a cancelled job is gone";
  EXPECT_EQ(Send("GET", b->base_url() + "/$job?id=unknown").status, 404);
}

}  // namespace
}  // namespace fhirlake::testing
