// Warehouses on S3: `fhirlake sync --warehouse s3://…`, `load … s3://…` and `status s3://…`
// against the s3rver test server. What fhirlake wrote is read back independently: the AWS SDK
// for JavaScript downloads the objects, and DuckDB (through the tests' Delta reader) queries the
// downloaded tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tests/e2e/s3_warehouse_fixture.h"

namespace fhirlake::testing {
namespace {

class SyncS3Test : public S3WarehouseTest {
 protected:
  std::vector<std::string> S3SyncArgs(const ServerProcess& server, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sync", "--source", server.base_url(), "--warehouse", WarehouseUrl(),
                                     "--work-dir", (dir_ / "work").string(), "--types", "Patient,Observation",
                                     "--poll-interval", "50ms", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  RunResult SyncS3(const ServerProcess& server, std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    return RunFhirlake(S3SyncArgs(server, std::move(extra)), Env(std::move(env)));
  }
};

TEST_F(SyncS3Test, SyncsIntoAnS3WarehouseThenIncrementally) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto first = SyncS3(server, {"--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  json s1 = json::parse(first.out);
  EXPECT_EQ(s1["archivedTo"].get<std::string>().rfind(WarehouseUrl() + "/_exports/", 0), 0u) << first.out;
  Download();
  ExpectWarehouseEqualsSource("the first sync to S3");
  EXPECT_EQ(StateEntry("transactionTime"), s1["transactionTime"].dump()) << "the state is an object in the bucket";
  EXPECT_FALSE(fs::exists(dir_ / "work" / "inflight") && !fs::is_empty(dir_ / "work" / "inflight"))
      << "the archived export's local copy is gone";

  ChangeSource();
  auto second = SyncS3(server, {"--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  json s2 = json::parse(second.out);
  EXPECT_EQ(s2["since"], s1["transactionTime"]) << "the next _since is the last export's transactionTime";
  EXPECT_EQ(s2["inserted"], 1);
  EXPECT_EQ(s2["updated"], 3);
  EXPECT_EQ(s2["deleted"], 2);
  Download();
  ExpectWarehouseEqualsSource("the incremental sync to S3");
  EXPECT_EQ(Commits("Patient").size(), 2u);
  size_t manifests = 0;
  for (const auto& k : Keys("_exports/")) manifests += k.ends_with("/manifest.json");
  EXPECT_EQ(manifests, 2u) << "both exports are archived in the bucket";

  auto status = RunFhirlake({"status", WarehouseUrl(), "--json"}, s3_.env());
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json st = json::parse(status.out);
  ASSERT_EQ(st["tables"].size(), 2u) << status.out;
  EXPECT_EQ(st["tables"][1]["table"], "Patient");
  EXPECT_EQ(st["tables"][1]["version"], 1);
  EXPECT_EQ(st["tables"][1]["rows"], static_cast<int64_t>(Source("Patient").size()));
  EXPECT_EQ(st["syncs"][0]["transactionTime"], s2["transactionTime"]);
}

TEST_F(SyncS3Test, TwoLoadsRacingForACommitOnS3BothLand) {
  // Version 0 from the generated export, then two writers with different changes to Patient
  // reach the commit of version 1 together; put-if-absent lets one win and the other re-plans
  // on the new version.
  auto base = RunFhirlake({"load", src().string(), WarehouseUrl(), "--types", "Patient", "--quiet"}, s3_.env());
  ASSERT_EQ(base.exit_code, 0) << base.err;
  auto patients = Lines(src() / "Patient.000.ndjson");
  auto changed = [&](size_t i, const std::string& family) {
    json p = json::parse(patients[i]);
    p["meta"]["lastUpdated"] = "2031-01-01T00:00:00Z";
    p["name"] = json::array({{{"family", family}}});
    return p.dump();
  };
  const std::string a_line = changed(0, "from-a"), b_line = changed(1, "from-b");
  fs::create_directories(dir_ / "a");
  fs::create_directories(dir_ / "b");
  WriteLines(dir_ / "a" / "Patient.000.ndjson", {a_line});
  WriteLines(dir_ / "b" / "Patient.000.ndjson", {b_line});
  const fs::path gate = dir_ / "gate";
  fs::create_directories(gate);
  auto env = s3_.env();
  env.push_back("FHIRLAKE_TEST_COMMIT_GATE=" + gate.string());
  auto argv = [&](const fs::path& from) {
    return std::vector<std::string>{FhirlakeBinary(), "load", from.string(), WarehouseUrl(), "--types", "Patient"};
  };
  Child a(argv(dir_ / "a"), env, dir_ / "a.out", dir_ / "a.err");
  Child b(argv(dir_ / "b"), env, dir_ / "b.out", dir_ / "b.err");
  ASSERT_TRUE(WaitFor([&] { return std::distance(fs::directory_iterator(gate), fs::directory_iterator()) == 2; }))
      << "both writers reach the commit";
  std::ofstream(gate / "open");
  EXPECT_EQ(a.Wait(), 0) << ReadFile(dir_ / "a.err");
  EXPECT_EQ(b.Wait(), 0) << ReadFile(dir_ / "b.err");
  EXPECT_EQ(Commits("Patient"), (std::vector<std::string>{"Patient/_delta_log/00000000000000000000.json",
                                                          "Patient/_delta_log/00000000000000000001.json",
                                                          "Patient/_delta_log/00000000000000000002.json"}))
      << "one writer lost version 1, re-planned and wrote version 2";
  Download();
  auto table = Table("Patient");
  EXPECT_EQ(table.size(), patients.size()) << "no row lost or doubled";
  EXPECT_EQ(table[json::parse(a_line)["id"]], a_line);
  EXPECT_EQ(table[json::parse(b_line)["id"]], b_line) << "the loser's change was not overwritten by the winner's";
  size_t puts_with_condition = 0;
  for (const auto& [method, url] : s3_.Requests()) puts_with_condition += method == "PUT" && url.find("_delta_log/0") != std::string::npos;
  EXPECT_GE(puts_with_condition, 4u) << "three commits plus the lost attempt";
}

TEST_F(SyncS3Test, KilledDuringUploadAndCommitResumesWithoutLossOrDuplicates) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  // Data files uploaded, no commit yet. A killed run's lease stays until it expires (1s here):
  // the next run is refused with a message naming the holder until then.
  auto killed = SyncS3(server, {"--lease-ttl", "1s"}, {"FHIRLAKE_TEST_CRASH=before-commit"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  EXPECT_TRUE(Commits("Patient").empty() && Commits("Observation").empty());
  RunResult resumed;
  ASSERT_TRUE(WaitFor([&] { return (resumed = SyncS3(server, {"--json", "--lease-ttl", "1s"})).exit_code == 0; },
                      std::chrono::seconds(60)))
      << resumed.err;
  EXPECT_FALSE(Keys("Patient/part-").empty());
  Download();
  ExpectWarehouseEqualsSource("a run killed before its commits");
  EXPECT_EQ(Commits("Patient").size(), 1u);

  // A commit in the log, the state not advanced: the rerun finds its txn and loads nothing twice.
  ChangeSource();
  killed = SyncS3(server, {"--lease-ttl", "1s"}, {"FHIRLAKE_TEST_CRASH=after-commit"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  ASSERT_TRUE(WaitFor([&] { return (resumed = SyncS3(server, {"--json", "--lease-ttl", "1s"})).exit_code == 0; },
                      std::chrono::seconds(60)))
      << resumed.err;
  Download();
  ExpectWarehouseEqualsSource("a run killed after a commit");
  EXPECT_EQ(Commits("Patient").size(), 2u) << "the committed load was not repeated";

  // Killed while uploading the archive: the next run finishes it and advances the state.
  ChangeSource();
  killed = SyncS3(server, {"--lease-ttl", "1s"}, {"FHIRLAKE_TEST_CRASH=archive-uploading"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  const std::string before = StateEntry("transactionTime");
  ASSERT_TRUE(WaitFor([&] { return (resumed = SyncS3(server, {"--json", "--lease-ttl", "1s"})).exit_code == 0; },
                      std::chrono::seconds(60)))
      << resumed.err;
  Download();
  ExpectWarehouseEqualsSource("a run killed while archiving");
  EXPECT_NE(StateEntry("transactionTime"), before) << "the state advanced after the resumed run";
  size_t manifests = 0;
  for (const auto& k : Keys("_exports/")) manifests += k.ends_with("/manifest.json");
  EXPECT_EQ(manifests, 3u) << "every finished export is archived once with its manifest";
}

TEST_F(SyncS3Test, BadCredentialsGiveAClearErrorNamingTheBucket) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto r = SyncS3(server, {}, {"AWS_ACCESS_KEY_ID=AKIDNOTVALID"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("S3 refused the credentials for bucket fhirlake-test"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("S3RVER"), std::string::npos) << "no secret in the message";
  auto status = RunFhirlake({"status", WarehouseUrl()}, Env({"AWS_ACCESS_KEY_ID=AKIDNOTVALID"}));
  EXPECT_NE(status.exit_code, 0);
  EXPECT_NE(status.err.find("fhirlake-test"), std::string::npos) << status.err;
}

}  // namespace
}  // namespace fhirlake::testing
