// Views and the server over S3 warehouses, against the s3rver test server: `sync --views` and
// `view run` with `--warehouse s3://…`, and `serve --warehouse s3://…` importing with
// $import-pnp and exporting what it holds. What fhirlake wrote is read back independently: the
// AWS SDK for JavaScript downloads the objects, DuckDB queries the downloaded tables.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "fhirlake/http/url.h"
#include "tests/e2e/s3_warehouse_fixture.h"
#include "tests/support/scoped_env.h"

namespace fhirlake::testing {
namespace {

const fs::path kViews = fs::path(FHIRLAKE_TEST_DATA_DIR) / "views";

class ServeS3Test : public S3WarehouseTest {
 protected:
  // "id|component_code|value" of a view row; the value as a double, printed the same way for
  // both readers.
  static std::string RowKey(const json& id, const json& component_code, const json& value) {
    char number[64] = "null";
    if (value.is_number()) std::snprintf(number, sizeof number, "%.9g", value.get<double>());
    return id.dump() + "|" + component_code.dump() + "|" + number;
  }
  // The rows of the downloaded view table `name`, as DuckDB reads them, sorted.
  std::vector<std::string> ViewTableRows(const std::string& name) {
    json rows = DuckDb("SELECT id, component_code, CAST(value AS DOUBLE) AS value FROM v",
                       {{"v", wh() / "_views" / name}});
    std::vector<std::string> out;
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    if (rows.is_array())
      for (const auto& r : rows) out.push_back(RowKey(r["id"], r["component_code"], r["value"]));
    std::sort(out.begin(), out.end());
    return out;
  }
  // The rows `fhirlake view run --warehouse s3://…` prints, sorted.
  std::vector<std::string> ViewRunRows() {
    auto run = RunFhirlake({"view", "run", (kViews / "observation_values.json").string(), "--warehouse",
                            WarehouseUrl(), "--format", "ndjson"},
                           s3_.env());
    EXPECT_EQ(run.exit_code, 0) << run.err;
    std::vector<std::string> out;
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      json r = json::parse(line);
      out.push_back(RowKey(r["id"], r.value("component_code", json()), r.value("value", json())));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(ServeS3Test, SyncWithViewsMaterialisesThemInTheBucket) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  const std::vector<std::string> args = {"sync", "--source", server.base_url(), "--warehouse", WarehouseUrl(),
                                         "--work-dir", (dir_ / "work").string(), "--types", "Patient,Observation",
                                         "--poll-interval", "50ms", "--quiet", "--views",
                                         (kViews / "observation_values.json").string()};
  auto first = RunFhirlake(args, s3_.env());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_FALSE(fs::exists(dir_ / "work" / "_views")) << "nothing of the view is written locally";
  Download();
  const auto expected = ViewRunRows();
  EXPECT_GT(expected.size(), Source("Observation").size() / 2) << "view run over S3 read the table";
  EXPECT_EQ(ViewTableRows("observation_values"), expected) << "the view table after the first sync";

  // An incremental sync updates and deletes observations; the view table follows.
  ChangeSource();
  auto second = RunFhirlake(args, s3_.env());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  Download();
  const auto after = ViewRunRows();
  EXPECT_NE(after, expected);
  EXPECT_EQ(ViewTableRows("observation_values"), after) << "the view table after the incremental sync";
  bool deleted_gone = std::none_of(after.begin(), after.end(), [&](const std::string& row) {
    return row.rfind(json(deleted_observation_).dump() + "|", 0) == 0;
  });
  EXPECT_TRUE(deleted_gone) << "the deleted observation has no rows";
  EXPECT_EQ(Commits("_views/observation_values").size(), 2u) << "one view commit per sync";
}

// `serve --warehouse s3://… --views` pulls with $import-pnp from another instance into the bucket
// (job records in the bucket, the export staged in --work-dir), refreshes the view table there
// after each import, then serves what it holds: $export from it gives the source's rows.
TEST_F(ServeS3Test, ImportPnpIntoAnS3WarehouseThenExportsIt) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  ScopedEnv env(s3_.env());
  const fs::path work = dir_ / "work";
  ServerProcess b(fs::path(), {"--warehouse", WarehouseUrl(), "--allow-source", a.base_url(), "--work-dir",
                               work.string(), "--retry-after", "1", "--views",
                               (kViews / "observation_values.json").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  auto first = ImportPnp(b.base_url(), a.base_url());
  ASSERT_EQ(first.status, 200) << first.body << b.stderr_text();
  Download();
  ExpectWarehouseEqualsSource("$import-pnp into S3");
  for (const auto& type : kTypes) {  // (DuckDB's BIGINT comes back as text)
    EXPECT_EQ(DuckDb("SELECT count(*) AS n FROM t", {{"t", wh() / type}})[0]["n"],
              std::to_string(Source(type).size()))
        << type;
  }
  std::vector<std::string> records;
  for (const auto& k : Keys("_fhirlake/imports/")) records.push_back(k);
  ASSERT_EQ(records.size(), 1u) << "the job's record is in the bucket, and nothing else of the job";
  EXPECT_TRUE(records[0].ends_with(".json"));
  EXPECT_TRUE(fs::is_directory(work / "imports")) << "the export was staged in the work directory";
  EXPECT_TRUE(fs::is_empty(work / "imports")) << "and removed once the job finished";

  // A second pull with _since applies the updates and deletions to the S3 tables.
  ChangeSource();
  const json result = json::parse(first.body);
  auto second = ImportPnp(b.base_url(), a.base_url(), result["parameter"][0]["valueInstant"].get<std::string>());
  ASSERT_EQ(second.status, 200) << second.body;
  Download();
  ExpectWarehouseEqualsSource("an incremental $import-pnp into S3");
  EXPECT_EQ(ViewTableRows("observation_values"), ViewRunRows()) << "serve --views refreshed the view in the bucket";
  EXPECT_EQ(Commits("_views/observation_values").size(), 2u) << "one view commit per import";

  // B serves its S3 warehouse as a Bulk Data source.
  auto exported = RunFhirlake({"export", b.base_url(), (dir_ / "from-b").string(), "--poll-interval", "50ms", "--quiet"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const auto& type : kTypes) {
    std::map<std::string, std::string> got;
    for (const auto& l : Lines(dir_ / "from-b" / (type + ".000.ndjson"))) got[json::parse(l)["id"]] = l;
    EXPECT_TRUE(got == Source(type)) << type << " exported from B's S3 warehouse";
  }
  EXPECT_FALSE(fs::exists(fs::current_path() / "s3:")) << "nothing was written to a local path named after the URL";

  // A restarted B finds the finished jobs' records in the bucket.
  const std::string location = "http://127.0.0.1:" + std::to_string(b.port()) + "/metrics";
  const std::string metrics = Http("GET", location).body;
  EXPECT_NE(metrics.find("fhirlake_import_jobs{state=\"completed\"} 2"), std::string::npos) << metrics;
  ServerProcess b2(fs::path(), {"--warehouse", WarehouseUrl(), "--allow-source", a.base_url(), "--work-dir",
                                work.string()});
  ASSERT_TRUE(b2.ok()) << b2.stderr_text();
  const std::string metrics2 = Http("GET", "http://127.0.0.1:" + std::to_string(b2.port()) + "/metrics").body;
  EXPECT_NE(metrics2.find("fhirlake_import_jobs{state=\"completed\"} 2"), std::string::npos) << metrics2;
}

// A job's per-line problems are an object under _errors/ in the bucket, served at the URL its
// result links.
TEST_F(ServeS3Test, ErrorFilesOfAnImportIntoS3AreServedFromTheBucket) {
  {
    std::ofstream bad(src() / "Patient.000.ndjson", std::ios::app);
    for (int i = 0; i < 30000; ++i) bad << "{not json\n";  // an error file of several ranged GETs
  }
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  ScopedEnv env(s3_.env());
  ServerProcess b(fs::path(), {"--warehouse", WarehouseUrl(), "--allow-source", a.base_url(), "--work-dir",
                               (dir_ / "work").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  auto done = ImportPnp(b.base_url(), a.base_url());
  ASSERT_EQ(done.status, 200) << done.body;
  std::string url;
  const json result = json::parse(done.body);
  for (const auto& p : result["parameter"]) {
    if (p["name"] != "error") continue;
    for (const auto& part : p["part"])
      if (part["name"] == "url") url = part["valueUrl"].get<std::string>();
  }
  ASSERT_FALSE(url.empty()) << done.body;
  const std::string name = url.substr(url.rfind('/') + 1);
  const auto keys = Keys("_errors/");
  EXPECT_TRUE(std::find(keys.begin(), keys.end(), "_errors/" + name) != keys.end()) << name << " is in the bucket";
  auto errors = Http("GET", url);
  ASSERT_EQ(errors.status, 200) << errors.body;
  json outcome = json::parse(errors.body.substr(0, errors.body.find('\n')), nullptr, false);
  EXPECT_EQ(outcome.value("resourceType", ""), "OperationOutcome") << errors.body;
  EXPECT_NE(errors.body.find("line 13"), std::string::npos) << "names the bad line: " << errors.body.substr(0, 500);
  // Read by ranged GETs from the bucket as the client takes it, in pieces joined in order.
  EXPECT_EQ(std::count(errors.body.begin(), errors.body.end(), '\n'), 30000);
  ASSERT_GT(errors.body.size(), 4u << 20) << "more than one 4 MiB ranged GET";
  ASSERT_EQ(s3_.Sdk({"get", S3Server::kBucket, "wh/_errors/" + name, (dir_ / "errors.ndjson").string()}), 0);
  EXPECT_TRUE(ReadFile(dir_ / "errors.ndjson") == errors.body) << "the bucket's object, byte for byte";
  const size_t from = (4u << 20) - 7;  // across the first piece's end
  auto tail = Http("GET", url, "", {{"Range", "bytes=" + std::to_string(from) + "-"}});
  EXPECT_EQ(tail.status, 206);
  EXPECT_TRUE(tail.body == errors.body.substr(from)) << tail.body.size();
  auto past = Http("GET", url, "", {{"Range", "bytes=" + std::to_string(errors.body.size()) + "-"}});
  EXPECT_EQ(past.status, 416) << past.body;
}

// A sync killed with SIGKILL while a multipart upload is sending its parts (the Observation
// file, several 8 MiB parts), then run again: the rerun completes with exact row counts, and
// the interrupted upload left nothing behind that a reader sees as data.
TEST_F(ServeS3Test, SigkillDuringAMultipartUploadThenARerunCompletes) {
  ASSERT_TRUE(fhir::GenerateSample(src(), {2500, 7, 1'000'000}).ok());
  ASSERT_GT(fs::file_size(src() / "Observation.000.ndjson"), 3u * (8u << 20)) << "large enough for several parts";
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  const std::vector<std::string> args = {FhirlakeBinary(), "sync", "--source", server.base_url(), "--warehouse",
                                         WarehouseUrl(), "--work-dir", (dir_ / "work").string(), "--types",
                                         "Patient,Observation", "--poll-interval", "50ms", "--quiet",
                                         "--lease-ttl", "1s"};
  auto part_two = [&] {
    for (const auto& [method, url] : s3_.Requests())
      if (method == "PUT" && url.find("partNumber=2") != std::string::npos) return url.substr(0, url.find('?'));
    return std::string();
  };
  std::string interrupted;  // the key whose upload was under way
  {
    Child killed(args, s3_.env(), dir_ / "killed.out", dir_ / "killed.err");
    ASSERT_TRUE(WaitFor([&] { return !(interrupted = part_two()).empty(); }, std::chrono::seconds(120)))
        << ReadFile(dir_ / "killed.err");
    ASSERT_EQ(::kill(killed.pid(), SIGKILL), 0);
    EXPECT_EQ(killed.Wait(), 128 + SIGKILL);
  }
  std::vector<std::string> completed;  // multipart uploads completed before the kill
  for (const auto& [method, url] : s3_.Requests())
    if (method == "POST" && url.find("uploadId=") != std::string::npos) completed.push_back(url.substr(0, url.find('?')));
  EXPECT_TRUE(std::find(completed.begin(), completed.end(), interrupted) == completed.end())
      << "the kill came while " << interrupted << " was uploading its parts";

  RunResult rerun;
  ASSERT_TRUE(WaitFor([&] {
    rerun = RunFhirlake(std::vector<std::string>(args.begin() + 1, args.end()), s3_.env());
    return rerun.exit_code == 0;
  }, std::chrono::seconds(180)))
      << rerun.err;
  Download();
  for (const auto& type : kTypes) {
    json counts = DuckDb("SELECT count(*) AS n, count(DISTINCT id) AS d FROM t", {{"t", wh() / type}});
    ASSERT_TRUE(counts.is_array()) << counts.dump();
    const std::string expected = std::to_string(Lines(src() / (type + ".000.ndjson")).size());
    EXPECT_EQ(counts[0]["n"], expected) << type << ": every row once";
    EXPECT_EQ(counts[0]["d"], expected) << type << ": no id twice";
  }
  EXPECT_TRUE(Table("Patient") == Source("Patient"));
  // The interrupted object is absent, or whole (the rerun uploaded the same key again).
  const std::string prefix = std::string("/") + S3Server::kBucket + "/wh/";
  ASSERT_EQ(interrupted.rfind(prefix, 0), 0u) << interrupted;
  const fs::path local = wh() / http::DecodeQueryComponent(interrupted.substr(prefix.size()));
  if (fs::exists(local) && local.extension() == ".ndjson") {
    EXPECT_EQ(Lines(local).size(), Lines(src() / local.filename()).size()) << local;
  } else if (fs::exists(local)) {
    EXPECT_GT(fs::file_size(local), 8u << 20) << local << " is a whole object, not a part";
  }
}

}  // namespace
}  // namespace fhirlake::testing
