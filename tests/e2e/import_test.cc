// `fhirlake serve --warehouse` as an import server: real `fhirlake serve` processes (A a
// Bulk Data source over generated data, B importing into its warehouse) over loopback, driven the
// way schedulers drive Pathling's $import-pnp and $import, the tables read back by DuckDB.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/sync_fixture.h"
#include "tests/support/scoped_env.h"

namespace fhirlake::testing {
namespace {

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
  // Kicks off an import; the job's status URL ("" when refused).
  static std::string Kick(const ServerProcess& importer, const json& body, const std::string& operation = "$import-pnp") {
    auto kick = Send("POST", importer.base_url() + "/" + operation, body.dump());
    EXPECT_EQ(kick.status, 202) << kick.body;
    return kick.headers.Get("Content-Location").value_or("");
  }
  // Polls a job to its end; the final response.
  static http::Response Await(const std::string& location) {
    http::Response poll;
    if (location.empty()) return poll;
    WaitFor([&] {
      poll = Send("GET", location);
      return poll.status != 202;
    }, std::chrono::seconds(60));
    return poll;
  }
  static http::Response Import(const ServerProcess& importer, const json& body) { return Await(Kick(importer, body)); }
  // An import from `source`, whose files lie on `elsewhere` (another origin), fails with a 502
  // that says so; nothing reaches `elsewhere` and nothing is committed.
  void ExpectImportRefusesFilesOn(const ServerProcess& source, const ServerProcess& elsewhere) {
    auto b = StartImporter(source);
    ASSERT_TRUE(b->ok()) << b->stderr_text();
    auto done = Import(*b, PnpBody(source.base_url()));
    EXPECT_EQ(done.status, 502) << done.body;
    EXPECT_NE(done.body.find("another origin"), std::string::npos) << done.body;
    EXPECT_TRUE(RequestsTo(elsewhere, "/bulkfiles/").empty()) << "a request reached the other origin";
    EXPECT_FALSE(fs::exists(wh() / "Patient")) << "nothing was committed";
  }
  // The FHIR base of a `fhirlake serve` started as a Child, from its first line of output.
  static std::string ServedBase(const fs::path& stdout_file) {
    std::string base;
    WaitFor([&] {
      std::string out = ReadFile(stdout_file);
      size_t at = out.find("http://127.0.0.1:");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) base = out.substr(at, out.find('\n', at) - at);
      return !base.empty();
    });
    return base;
  }
  static std::string Progress(const std::string& location) {
    return Send("GET", location).headers.Get("X-Progress").value_or("");
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
  const std::string b1_base = ServedBase(dir_ / "b1.out");
  ASSERT_FALSE(b1_base.empty()) << ReadFile(dir_ / "b1.err");
  auto kick = Send("POST", b1_base + "/$import-pnp", PnpBody(a.base_url()).dump());
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
  EXPECT_EQ(RequestsTo(a, "$export").size(), 1u) << "the restarted job resumed the export instead of starting another";
}

TEST_F(ImportPnpTest, AJobStoppedByAShutdownResumesAfterARestart) {
  // A keeps the export pending for three status polls, a second apart: B stops in between.
  ServerProcess a(src(), {"--faults", "status:pending=3"});
  ASSERT_TRUE(a.ok());
  auto b1 = StartImporter(a);
  ASSERT_TRUE(b1->ok()) << b1->stderr_text();
  const std::string location = Kick(*b1, PnpBody(a.base_url()));
  const std::string job_id = location.substr(location.find("id=") + 3);
  ASSERT_TRUE(WaitFor([&] { return !RequestsTo(a, "/bulkstatus/").empty(); })) << "the job is waiting on A";
  b1.reset();  // SIGTERM: a clean shutdown mid-job
  EXPECT_TRUE(fs::exists(wh() / "_fhirlake" / "imports" / job_id / "export" / "export-state.json"))
      << "the stopped job keeps its export's state";
  auto b2 = StartImporter(a);
  ASSERT_TRUE(b2->ok()) << b2->stderr_text();
  auto done = Await(b2->base_url() + "/$job?id=" + job_id);
  EXPECT_EQ(done.status, 200) << done.body;
  ExpectWarehouseEqualsSource("a job resumed after a shutdown");
  EXPECT_EQ(RequestsTo(a, "$export").size(), 1u) << "the export was resumed, not started again";
  EXPECT_FALSE(fs::exists(wh() / "_fhirlake" / "imports" / job_id)) << "the finished job's work folder is removed";
}

// A shutdown that comes while a job loads: the load cannot stop and commits, and the job's end
// is recorded, so a restart does not run it again (which would append every row a second time).
TEST_F(ImportPnpTest, AJobWhoseLoadOutlivesAShutdownIsNotRunAgain) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  const fs::path gate = dir_ / "gate";
  fs::create_directories(gate);
  Child b1({FhirlakeBinary(), "serve", "--listen", "127.0.0.1:0", "--warehouse", wh().string(), "--allow-source",
            a.base_url()},
           {"FHIRLAKE_TEST_COMMIT_GATE=" + gate.string()}, dir_ / "b1.out", dir_ / "b1.err");
  const std::string b1_base = ServedBase(dir_ / "b1.out");
  ASSERT_FALSE(b1_base.empty()) << ReadFile(dir_ / "b1.err");
  json body = PnpBody(a.base_url());
  body["parameter"][2]["valueCode"] = "append";
  auto kick = Send("POST", b1_base + "/$import-pnp", body.dump());
  ASSERT_EQ(kick.status, 202) << kick.body;
  const std::string location = *kick.headers.Get("Content-Location");
  const std::string id = location.substr(location.find("id=") + 3);
  ASSERT_TRUE(WaitFor([&] { return fs::directory_iterator(gate) != fs::directory_iterator(); }, std::chrono::seconds(60)))
      << "the load reached its commit";
  b1.Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the shutdown has begun
  std::ofstream(gate / "open");
  EXPECT_EQ(b1.Wait(), 0) << ReadFile(dir_ / "b1.err");
  ExpectWarehouseEqualsSource("a load that outlived a shutdown");
  json record = json::parse(ReadFile(wh() / "_fhirlake" / "imports" / (id + ".json")), nullptr, false);
  EXPECT_EQ(record.value("state", ""), "completed") << record.dump();

  auto b2 = StartImporter(a);
  ASSERT_TRUE(b2->ok()) << b2->stderr_text();
  auto done = Await(b2->base_url() + "/$job?id=" + id);
  EXPECT_EQ(done.status, 200) << done.body;
  ExpectWarehouseEqualsSource("a restart after it");  // Table() fails on an id found twice
  EXPECT_EQ(RequestsTo(a, "$export").size(), 1u) << "the job was not run again";
}

TEST_F(ImportPnpTest, SigtermStopsTheServerPromptlyEvenDuringARetryBackoff) {
  // A answers the kick-off with 503 and Retry-After: 30, so B's job sits in a 30 s backoff.
  ServerProcess a(src(), {"--faults", "kickoff:503=30"});
  ASSERT_TRUE(a.ok());
  Child b1({FhirlakeBinary(), "serve", "--listen", "127.0.0.1:0", "--warehouse", wh().string(), "--allow-source",
            a.base_url()},
           {}, dir_ / "b1.out", dir_ / "b1.err");
  const std::string b1_base = ServedBase(dir_ / "b1.out");
  ASSERT_FALSE(b1_base.empty()) << ReadFile(dir_ / "b1.err");
  auto kick = Send("POST", b1_base + "/$import-pnp", PnpBody(a.base_url()).dump());
  ASSERT_EQ(kick.status, 202) << kick.body;
  const std::string location = *kick.headers.Get("Content-Location");
  const std::string id = location.substr(location.find("id=") + 3);
  ASSERT_TRUE(WaitFor([&] { return !RequestsTo(a, "$export").empty(); })) << "the kick-off got its 503";
  const auto signalled = std::chrono::steady_clock::now();
  b1.Signal(SIGTERM);
  const int code = b1.Wait();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  std::printf("serve stopped %.2f s after SIGTERM, during a 30 s retry backoff\n", seconds);
  EXPECT_EQ(code, 0) << ReadFile(dir_ / "b1.err");
  EXPECT_LT(seconds, 10.0) << "the backoff was not interrupted";

  auto b2 = StartImporter(a);  // the job is requeued and runs to its end
  ASSERT_TRUE(b2->ok()) << b2->stderr_text();
  auto done = Await(b2->base_url() + "/$job?id=" + id);
  EXPECT_EQ(done.status, 200) << done.body;
  ExpectWarehouseEqualsSource("a job stopped during a backoff, after a restart");
}

TEST_F(ImportPnpTest, ImportTakesPathlingsManifestFormsFromFilesAndUrls) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = std::make_unique<ServerProcess>(fs::path(), std::vector<std::string>{
      "--warehouse", wh().string(), "--allow-source", a.base_url(), "--import-root", src().string()});
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  auto run = [&](const json& body) { return Await(Kick(*b, body, "$import")); };
  // The JSON manifest form, with file:// inputs under an import root: Patient only.
  json manifest = {{"inputFormat", "application/fhir+ndjson"},
                   {"mode", "overwrite"},
                   {"input", {{{"type", "Patient"}, {"url", "file://" + (src() / "Patient.000.ndjson").string()}}}}};
  auto first = run(manifest);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(Table("Patient") == Source("Patient"));
  EXPECT_NE(first.body.find(R"({"name":"inputUrl","valueUrl":"file://)" + (src() / "Patient.000.ndjson").string()),
            std::string::npos) << "the output names its input: " << first.body;

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
  json s3 = {{"input", {{{"type", "Patient"}, {"url", "s3://bucket/Patient.ndjson"}}}}};
  auto unsupported = Send("POST", b->base_url() + "/$import", s3.dump());
  EXPECT_EQ(unsupported.status, 403) << "no --allow-s3: s3:// inputs are refused";
  EXPECT_NE(unsupported.body.find("not under an allowed S3 prefix"), std::string::npos) << unsupported.body;
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
  EXPECT_TRUE(WaitFor([&] {
    for (const auto& r : RequestsTo(a, "/bulkstatus/")) {
      if (r["method"] == "DELETE" && r["status"] == 202) return true;
    }
    return false;
  }, std::chrono::seconds(5))) << "the source's export is cancelled too (its files can go)";
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
  ServerProcess closed(fs::path(), {"--warehouse", (dir_ / "other-warehouse").string()});
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(Send("POST", closed.base_url() + "/$import-pnp", PnpBody(a.base_url()).dump()).status, 403)
      << "no --allow-source: every import is refused";
  auto huge = Send("POST", pnp, std::string(17u << 20, ' '));
  EXPECT_EQ(huge.status, 413) << "request bodies are limited";
  // Bodies whose size Content-Length does not give are refused before they are read: the limit
  // above would not hold for them.
  const std::string body = PnpBody(a.base_url()).dump();
  auto chunked = Http("POST", pnp, body, {{"Prefer", "respond-async"}, {"Transfer-Encoding", "chunked"}});
  EXPECT_EQ(chunked.status, 411) << chunked.body;
  auto gzipped = Http("POST", pnp, body, {{"Prefer", "respond-async"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(gzipped.status, 415) << gzipped.body;
  EXPECT_EQ(Send("GET", b->base_url() + "/$job?id=unknown").status, 404) << "the server goes on";
}

// A Parameters body nested 20,000 deep (about 400 KB, under the size limit) is refused with a
// 400, from a client without a token too. Parsing it used to recurse once a level and overflow
// the request thread's stack, which ended the server.
TEST_F(ImportPnpTest, DeeplyNestedBodiesAreRefusedAndTheServerStaysUp) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  std::string deep = R"({"resourceType":"Parameters","parameter":[)";
  for (int i = 0; i < 20000; ++i) deep += R"({"name":"p","part":[)";
  for (int i = 0; i < 20000; ++i) deep += "]}";
  deep += "]}";
  for (const std::string& url : {a.base_url() + "/$export", b->base_url() + "/$export", b->base_url() + "/$import-pnp",
                                 b->base_url() + "/$viewdefinition-run"}) {
    auto refused = Send("POST", url, deep);
    EXPECT_EQ(refused.status, 400) << url << ": " << refused.body;
    EXPECT_NE(refused.body.find("OperationOutcome"), std::string::npos) << url << ": " << refused.body;
  }
  for (const ServerProcess* server : {&a, b.get()}) {
    EXPECT_EQ(Send("GET", "http://127.0.0.1:" + std::to_string(server->port()) + "/health").status, 200)
        << "the server is still up";
  }
}

// The allowed source answers its file requests with a redirect to another host (C): an import
// does not follow it, since only the source was allowed, and C gets no request. An export from
// the command line follows the same redirects (files on a store elsewhere, as with presigned URLs).
TEST_F(ImportPnpTest, AnImportDoesNotFollowRedirectsAwayFromTheAllowedSource) {
  TempDir work;
  ServerProcess c(src(), {"--work-dir", work.path().string()});
  ASSERT_TRUE(c.ok());
  ServerProcess a(src(), {"--work-dir", work.path().string(), "--redirect-files-to", c.base_url()});
  ASSERT_TRUE(a.ok());
  ExpectImportRefusesFilesOn(a, c);
  EXPECT_FALSE(RequestsTo(a, "/bulkfiles/").empty()) << "the source was asked, and redirected";

  auto cli = RunFhirlake({"export", a.base_url(), (dir_ / "followed").string(), "--type", "Patient",
                          "--poll-interval", "50ms", "--quiet"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(Lines(dir_ / "followed" / "Patient.000.ndjson").size(), Source("Patient").size());
  EXPECT_FALSE(RequestsTo(c, "/bulkfiles/").empty()) << "the export followed the redirect";
}

TEST_F(ImportPnpTest, AllowedSourcesCannotBeBypassedByLookalikeUrls) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  const std::string port = std::to_string(a.port());
  const std::string origin = "http://127.0.0.1:" + port;
  // B1 allows a host name and a port that the hostile URLs start with; B2 allows A's /fhir.
  ServerProcess b1(fs::path(), {"--warehouse", (dir_ / "wh1").string(), "--allow-source", "http://localhost",
                                "--allow-source", "http://127.0.0.1:" + port.substr(0, port.size() - 1)});
  ServerProcess b2(fs::path(), {"--warehouse", wh().string(), "--allow-source", a.base_url()});
  ASSERT_TRUE(b1.ok()) << b1.stderr_text();
  ASSERT_TRUE(b2.ok()) << b2.stderr_text();
  const std::vector<std::pair<const ServerProcess*, std::string>> hostile = {
      {&b1, "http://localhost.evil.example/fhir"},
      {&b1, "http://localhost@127.0.0.1:" + port + "/fhir"},
      {&b1, origin + "/fhir"},
      {&b2, origin + "/fhirx/"},
      {&b2, origin + "/fhir/../admin"},
      {&b2, origin + "/fhir/%2e%2e/admin"},
      {&b2, origin + "/fhir%2f..%2fadmin"},
      {&b2, "http://localhost@127.0.0.1:" + port + "/fhir"},
  };
  for (const auto& [importer, url] : hostile) {
    auto r = Send("POST", importer->base_url() + "/$import-pnp", PnpBody(url).dump());
    EXPECT_TRUE(r.status == 403 || r.status == 400) << url << " got " << r.status << " " << r.body;
    EXPECT_NE(r.body.find("OperationOutcome"), std::string::npos) << url << ": " << r.body;
  }
  EXPECT_TRUE(RequestsTo(a, "/admin").empty()) << "no kick-off reached /admin";
  EXPECT_TRUE(RequestsTo(a, "/fhirx").empty());
  EXPECT_TRUE(RequestsTo(a, "$export").empty()) << "no hostile URL started a job";
  // The allowed source written another way is still the allowed source.
  auto ok = Import(b2, PnpBody(origin + "/fhir/Patient/$export"));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(ImportPnpTest, FinishedJobsExpireAndMetadataListsTheOperations) {
  std::ofstream(src() / "Patient.000.ndjson", std::ios::app) << "{not json\n";
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  ServerProcess b(fs::path(), {"--warehouse", wh().string(), "--allow-source", a.base_url(), "--import-job-ttl", "1s"});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  const json metadata = json::parse(Send("GET", b.base_url() + "/metadata", "", false).body);
  std::set<std::string> operations;
  for (const auto& op : metadata["rest"][0]["operation"]) operations.insert(op["name"].get<std::string>());
  EXPECT_EQ(operations, (std::set<std::string>{"export", "import", "import-pnp", "viewdefinition-run"}));

  const std::string location = Kick(b, PnpBody(a.base_url()));
  ASSERT_EQ(Await(location).status, 200);
  const std::string id = location.substr(location.find("id=") + 3);
  const fs::path record = wh() / "_fhirlake" / "imports" / (id + ".json");
  EXPECT_TRUE(fs::exists(record));
  ASSERT_FALSE(fs::is_empty(wh() / "_errors"));
  EXPECT_TRUE(WaitFor([&] { return Send("GET", location).status == 404; }, std::chrono::seconds(10)))
      << "the job is forgotten a second after it finished";
  EXPECT_FALSE(fs::exists(record));
  EXPECT_FALSE(fs::exists(wh() / "_fhirlake" / "imports" / id));
  EXPECT_TRUE(fs::is_empty(wh() / "_errors")) << "and so are its error files";
  EXPECT_EQ(Table("Patient").size(), 12u) << "the data stays";
}

TEST_F(ImportPnpTest, PerLineProblemsAreLinkedFromTheResult) {
  std::ofstream(src() / "Patient.000.ndjson", std::ios::app) << "{not json\n"
                                                               << R"({"resourceType":"Observation","id":"misfiled"})" << "\n";
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  auto done = Import(*b, PnpBody(a.base_url()));
  ASSERT_EQ(done.status, 200) << done.body;
  json result = json::parse(done.body);
  std::vector<std::string> urls;
  for (const auto& p : result["parameter"]) {
    if (p["name"] != "error") continue;
    std::map<std::string, std::string> parts;
    for (const auto& part : p["part"]) parts[part["name"]] = part.contains("valueUrl") ? part["valueUrl"] : part["valueCode"];
    EXPECT_EQ(parts["type"], "OperationOutcome");
    EXPECT_EQ(parts["resourceType"], "Patient");
    urls.push_back(parts["url"]);
  }
  ASSERT_EQ(urls.size(), 1u) << done.body;
  auto errors = Send("GET", urls[0], "", false);
  ASSERT_EQ(errors.status, 200) << errors.body;
  std::vector<json> outcomes;
  std::istringstream lines(errors.body);
  for (std::string line; std::getline(lines, line);) outcomes.push_back(json::parse(line));
  ASSERT_EQ(outcomes.size(), 2u) << errors.body;
  for (const auto& o : outcomes) EXPECT_EQ(o["resourceType"], "OperationOutcome");
  EXPECT_NE(errors.body.find("line 13"), std::string::npos) << "names the bad line: " << errors.body;
  EXPECT_NE(errors.body.find("Observation"), std::string::npos) << errors.body;
  // The good lines landed; the file is not served to other jobs' URLs.
  EXPECT_EQ(Table("Patient").size(), 12u);
  std::string other = urls[0];
  other.replace(other.find("/importerrors/") + 14, 4, "0000");
  EXPECT_EQ(Send("GET", other, "", false).status, 404);
}

TEST_F(ImportPnpTest, JobsOfOneSourceQueueWhileOtherSourcesRun) {
  // A trickles its files (minutes for the whole export); A2 serves the same data at full speed.
  ServerProcess a(src(), {"--faults", "file:slow=5000"});
  ServerProcess a2(src());
  ASSERT_TRUE(a.ok() && a2.ok());
  ServerProcess b(fs::path(), {"--warehouse", wh().string(), "--allow-source", a.base_url(), "--allow-source",
                               a2.base_url(), "--import-concurrency", "2"});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  const std::string first = Kick(b, PnpBody(a.base_url()));
  ASSERT_TRUE(WaitFor([&] { return Progress(first).find("downloading") != std::string::npos; }))
      << "the first job is downloading: " << Progress(first);
  const std::string second = Kick(b, PnpBody(a.base_url(), {{"_type", "Patient"}}));
  const std::string other = Kick(b, PnpBody(a2.base_url()));
  auto done = Await(other);
  EXPECT_EQ(done.status, 200) << "a job for another source runs beside the first: " << done.body;
  ExpectWarehouseEqualsSource("the import from the second source");
  EXPECT_NE(Progress(second).find("is pulling from the same source"), std::string::npos) << Progress(second);
  EXPECT_EQ(RequestsTo(a, "$export").size(), 1u) << "one export at a time from A";

  EXPECT_EQ(Send("DELETE", first).status, 202);
  EXPECT_TRUE(WaitFor([&] { return RequestsTo(a, "$export").size() == 2; }))
      << "the queued job starts once the first is gone: " << Progress(second);
  EXPECT_EQ(Send("DELETE", second).status, 202);
}

TEST_F(ImportPnpTest, OneJobAtATimeLoadsATable) {
  // Every first commit attempt waits at the gate until the test opens it.
  const fs::path gate = dir_ / "gate";
  fs::create_directories(gate);
  Child b({FhirlakeBinary(), "serve", "--listen", "127.0.0.1:0", "--warehouse", wh().string(), "--import-root",
           src().string(), "--import-concurrency", "2"},
          {"FHIRLAKE_TEST_COMMIT_GATE=" + gate.string()}, dir_ / "b.out", dir_ / "b.err");
  const std::string base = ServedBase(dir_ / "b.out");
  ASSERT_FALSE(base.empty()) << ReadFile(dir_ / "b.err");
  auto manifest = [&](const std::string& mode) {
    return json{{"mode", mode},
                {"input", {{{"type", "Patient"}, {"url", "file://" + (src() / "Patient.000.ndjson").string()}}}}}.dump();
  };
  auto kick = [&](const std::string& body) {
    auto r = Send("POST", base + "/$import", body);
    EXPECT_EQ(r.status, 202) << r.body;
    return r.headers.Get("Content-Location").value_or("");
  };
  const std::string first = kick(manifest("overwrite"));
  auto at_gate = [&] {
    for (const auto& e : fs::directory_iterator(gate)) {
      if (e.path().filename().string().rfind("ready.", 0) == 0) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor(at_gate)) << "the first job is committing";
  const std::string second = kick(manifest("merge"));
  EXPECT_TRUE(WaitFor([&] { return Progress(second).find("waiting for table Patient") != std::string::npos; }))
      << "the second job waits for the table instead of loading it too: " << Progress(second);
  // Cancelling a job that is loading lets its load finish (commits are atomic per table); the
  // job is forgotten at once and its files once the load is done.
  EXPECT_EQ(Send("DELETE", first).status, 202);
  EXPECT_EQ(Send("GET", first).status, 404);
  std::ofstream(gate / "open");
  auto done = Await(second);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_TRUE(Table("Patient") == Source("Patient"));
  int commits = 0;
  for (const auto& e : fs::directory_iterator(wh() / "Patient" / "_delta_log")) commits += e.path().extension() == ".json";
  EXPECT_EQ(commits, 2) << "one commit each, none lost to a conflict";
  const std::string first_id = first.substr(first.find("id=") + 3);
  EXPECT_TRUE(WaitFor([&] { return !fs::exists(wh() / "_fhirlake" / "imports" / first_id); }))
      << "the cancelled job's work folder is removed";
  b.Signal(SIGTERM);
  EXPECT_EQ(b.Wait(), 0);
}

TEST_F(ImportPnpTest, TheServerLogsEachJobsLifecycleWithoutCredentials) {
  std::ofstream(dir_ / "a-clients.json")
      << json{{"clients", {{{"clientId", "b"}, {"clientSecret", "lifecycle-secret-value"}}}}}.dump();
  ServerProcess a(src(), {"--auth", (dir_ / "a-clients.json").string()});
  ASSERT_TRUE(a.ok());
  std::ofstream(dir_ / "pull.json")
      << json{{"sources", {{{"url", a.base_url()}, {"clientId", "b"}, {"clientSecret", "lifecycle-secret-value"}}}}}.dump();
  ServerProcess b(fs::path(), {"--warehouse", wh().string(), "--pull-sources", (dir_ / "pull.json").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  const std::string ok_location = Kick(b, PnpBody(a.base_url(), {{"_type", "Patient"}}));
  EXPECT_EQ(Await(ok_location).status, 200);
  const std::string bad_location = Kick(b, PnpBody(a.base_url() + "/Group/no-such-group/$export"));
  EXPECT_NE(Await(bad_location).status, 200);
  const std::string ok_id = ok_location.substr(ok_location.find("id=") + 3);
  const std::string bad_id = bad_location.substr(bad_location.find("id=") + 3);

  std::map<std::string, std::vector<std::string>> events;  // job id -> events in order
  std::string reason;
  const std::string log = b.stderr_text();
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("job")) continue;  // other output of serve
    std::string event = j["event"];
    if (event == "phase") event += ":" + j["phase"].get<std::string>();
    events[j["job"]].push_back(event);
    if (j["event"] == "failed") reason = j.value("reason", "");
  }
  EXPECT_EQ(events[ok_id],
            (std::vector<std::string>{"accepted", "started", "phase:export", "phase:load", "maintenance", "finished"}))
      << log;
  ASSERT_GE(events[bad_id].size(), 3u) << log;
  EXPECT_EQ(events[bad_id].front(), "accepted");
  EXPECT_EQ(events[bad_id].back(), "failed");
  EXPECT_NE(reason.find("no-such-group"), std::string::npos) << log;
  EXPECT_EQ(log.find("lifecycle-secret-value"), std::string::npos) << log;
  EXPECT_EQ(log.find("Bearer "), std::string::npos) << log;
}

// serve maintains the tables its imports load, on the policy of its options (here from its
// config file and the environment: a checkpoint after every commit, no retention), before the
// job completes, and logs what it did per table.
TEST_F(ImportPnpTest, ImportedTablesAreMaintainedOnTheServersPolicy) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  std::ofstream(dir_ / "serve.json") << R"({"checkpointInterval": 1, "retention": "0s"})";
  ScopedEnv env({"FHIRLAKE_ALLOW_SHORT_RETENTION=true", "FHIRLAKE_LOG_FORMAT=json"});
  ServerProcess b(fs::path(), {"--warehouse", wh().string(), "--allow-source", a.base_url(), "--config",
                               (dir_ / "serve.json").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  auto first = Import(b, PnpBody(a.base_url(), {{"_type", "Patient,Observation"}}));
  ASSERT_EQ(first.status, 200) << first.body;
  std::string first_file;
  for (const auto& line : Lines(wh() / "Patient" / "_delta_log" / "00000000000000000000.json")) {
    if (json action = json::parse(line); action.contains("add")) first_file = action["add"]["path"];
  }
  ASSERT_FALSE(first_file.empty());
  EXPECT_TRUE(fs::exists(wh() / "Patient" / "_delta_log" / "00000000000000000000.checkpoint.parquet"));

  ChangeSource();
  const std::string since = json::parse(first.body)["parameter"][0]["valueInstant"];
  auto second = Import(b, PnpBody(a.base_url(), {{"_type", "Patient,Observation"}, {"_since", since}}));
  ASSERT_EQ(second.status, 200) << second.body;
  for (const auto& type : kTypes) {
    EXPECT_TRUE(Table(type) == Source(type)) << type;
    int64_t newest = -1;
    for (const auto& e : fs::directory_iterator(wh() / type / "_delta_log")) {
      const std::string name = e.path().filename().string();
      if (name.size() == 25 && name.ends_with(".json")) newest = std::max<int64_t>(newest, std::stoll(name.substr(0, 20)));
    }
    json last = json::parse(ReadFile(wh() / type / "_delta_log" / "_last_checkpoint"), nullptr, false);
    EXPECT_EQ(last.value("version", int64_t{-2}), newest) << type << ": checkpointed at the current version";
  }
  EXPECT_FALSE(fs::exists(wh() / "Patient" / first_file)) << "the merged-away file is vacuumed";

  std::map<std::string, json> maintained;  // table → its latest maintenance event
  std::istringstream lines(b.stderr_text());
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "maintenance") maintained[j["table"]] = j;
    EXPECT_FALSE(j.is_object() && j.value("event", "") == "maintenance_failed") << line;
  }
  ASSERT_EQ(maintained.size(), 2u) << b.stderr_text();
  EXPECT_EQ(maintained["Patient"]["checkpoint"], true);
  EXPECT_GT(maintained["Patient"]["bytesFreed"].get<int64_t>(), 0) << maintained["Patient"];
}

TEST_F(ImportPnpTest, EachSourceIsPulledWithItsOwnCredentials) {
  auto keys = RunFhirlake({"keygen", "--alg", "ES384", "--out", (dir_ / "keys").string()});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  std::ofstream(dir_ / "a1-clients.json")
      << json{{"clients", {{{"clientId", "b-at-a1"}, {"jwksFile", (dir_ / "keys" / "public.jwks.json").string()}}}}}.dump();
  std::ofstream(dir_ / "a2-clients.json")
      << json{{"clients", {{{"clientId", "b-at-a2"}, {"clientSecret", "a2-secret-value"}}}}}.dump();
  ServerProcess a1(src(), {"--auth", (dir_ / "a1-clients.json").string()});
  ServerProcess a2(src(), {"--auth", (dir_ / "a2-clients.json").string()});
  ASSERT_TRUE(a1.ok() && a2.ok());
  const json jwk = json::parse(ReadFile(dir_ / "keys" / "private.jwks.json"))["keys"][0];
  std::ofstream(dir_ / "pull.json") << json{
      {"sources", {{{"url", a1.base_url()}, {"clientId", "b-at-a1"}, {"privateKeyJwk", jwk},
                    {"tokenEndpoint", a1.base_url() + "/auth/token"}, {"scope", "system/*.read"}},
                   {{"url", a2.base_url()}, {"clientId", "b-at-a2"}, {"clientSecret", "a2-secret-value"}}}}}.dump();
  // The sources come from the config file, which names the pull-sources file.
  std::ofstream(dir_ / "serve.json") << json{{"warehouse", wh().string()}, {"pullSources", (dir_ / "pull.json").string()}}.dump();
  ServerProcess b(fs::path(), {"--config", (dir_ / "serve.json").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  auto from_a1 = Import(b, PnpBody(a1.base_url(), {{"_type", "Patient"}}));
  EXPECT_EQ(from_a1.status, 200) << from_a1.body;
  auto from_a2 = Import(b, PnpBody(a2.base_url(), {{"_type", "Observation"}}));
  EXPECT_EQ(from_a2.status, 200) << from_a2.body;
  ExpectWarehouseEqualsSource("pulls from two sources with their own credentials");
  for (const ServerProcess* a : {&a1, &a2}) {
    EXPECT_EQ(RequestsTo(*a, "/auth/token").size(), 1u);
    for (const auto& r : RequestsTo(*a, "$export")) EXPECT_TRUE(r["authorization"].get<bool>()) << r;
  }
  // A bad entry stops the server at start with a message naming it, not the secret.
  std::ofstream(dir_ / "bad.json") << json{{"sources", {{{"url", a2.base_url()}, {"clientId", "x"},
                                                         {"clientSecret", "s3cr3t-value"}, {"privateKeyFile", "k"}}}}}.dump();
  auto bad = RunFhirlake({"serve", "--listen", "127.0.0.1:0", "--warehouse", wh().string(), "--pull-sources",
                          (dir_ / "bad.json").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("sources[0]"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find("s3cr3t-value"), std::string::npos) << bad.err;
}

// An exportUrl with `patient` pulls those patients only. The IG defines `patient` for POST
// kick-offs; the import sent a GET without it and pulled, and merged, every patient.
TEST_F(ImportPnpTest, AnExportUrlWithPatientPullsThatPatientOnly) {
  auto patients = Source("Patient");
  const std::string chosen = patients.begin()->first;
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  const std::string url = a.base_url() + "/Patient/$export?_type=Patient,Observation&patient=Patient/" + chosen;
  auto done = Import(*b, PnpBody(url));
  ASSERT_EQ(done.status, 200) << done.body;
  auto kickoffs = RequestsTo(a, "$export");
  ASSERT_EQ(kickoffs.size(), 1u);
  EXPECT_EQ(kickoffs[0]["method"], "POST") << kickoffs[0];
  auto loaded = Table("Patient");
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded.begin()->first, chosen);
  for (const auto& [id, line] : Table("Observation")) {
    EXPECT_EQ(json::parse(line)["subject"]["reference"], "Patient/" + chosen) << line;
  }
}

TEST_F(ImportPnpTest, TheWarehouseServesGroupAndPatientLevelExports) {
  auto patients = Source("Patient");
  const std::string first = patients.begin()->first, second = std::next(patients.begin())->first;
  std::ofstream(src() / "Group.000.ndjson")
      << json{{"resourceType", "Group"}, {"id", "cohort"}, {"type", "person"}, {"actual", true},
              {"member", {{{"entity", {{"reference", "Patient/" + first}}}},
                          {{"entity", {{"reference", "Patient/" + second}}}}}}}.dump() << "\n";
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  auto b = StartImporter(a);
  ASSERT_TRUE(b->ok()) << b->stderr_text();
  ASSERT_EQ(Import(*b, PnpBody(a.base_url())).status, 200);
  ASSERT_TRUE(fs::exists(wh() / "Group" / "_delta_log"));

  auto group = RunFhirlake({"export", b->base_url(), (dir_ / "cohort").string(), "--group", "cohort", "--type",
                            "Patient,Observation", "--poll-interval", "50ms", "--quiet"});
  ASSERT_EQ(group.exit_code, 0) << group.err;
  auto exported_patients = Lines(dir_ / "cohort" / "Patient.000.ndjson");
  ASSERT_EQ(exported_patients.size(), 2u);
  for (const auto& l : exported_patients) EXPECT_TRUE(l == patients[first] || l == patients[second]) << l;
  size_t observations = 0;
  for (const auto& l : Lines(dir_ / "cohort" / "Observation.000.ndjson")) {
    const std::string subject = json::parse(l)["subject"]["reference"];
    EXPECT_TRUE(subject == "Patient/" + first || subject == "Patient/" + second) << l;
    ++observations;
  }
  size_t expected = 0;
  for (const auto& [id, l] : Source("Observation")) {
    const std::string subject = json::parse(l)["subject"]["reference"];
    expected += subject == "Patient/" + first || subject == "Patient/" + second;
  }
  EXPECT_GT(expected, 0u);
  EXPECT_EQ(observations, expected) << "every observation of the members, no other";

  auto everyone = RunFhirlake({"export", b->base_url(), (dir_ / "patients").string(), "--level", "patient", "--type",
                               "Patient", "--poll-interval", "50ms", "--quiet"});
  ASSERT_EQ(everyone.exit_code, 0) << everyone.err;
  EXPECT_EQ(Lines(dir_ / "patients" / "Patient.000.ndjson").size(), patients.size());
  auto unknown = RunFhirlake({"export", b->base_url(), (dir_ / "none").string(), "--group", "missing", "--quiet"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("Group/missing"), std::string::npos) << unknown.err;
}

TEST_F(ImportPnpTest, AManifestPointingToAnotherOriginFailsTheJob) {
  TempDir work;
  // The source's manifest names files on another origin (another port): B must not fetch them.
  ServerProcess files(src(), {"--work-dir", work.path().string()});
  ServerProcess a(src(), {"--work-dir", work.path().string(), "--file-base-url", files.base_url()});
  ASSERT_TRUE(files.ok() && a.ok());
  ExpectImportRefusesFilesOn(a, files);
}

}  // namespace
}  // namespace fhirlake::testing
