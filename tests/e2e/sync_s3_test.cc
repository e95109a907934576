// Warehouses on S3: `fhirlake sync --warehouse s3://…`, `load … s3://…` and `status s3://…`
// against the s3rver test server. What fhirlake wrote is read back independently: the AWS SDK
// for JavaScript downloads the objects, and DuckDB (through the tests' Delta reader) queries the
// downloaded tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fhirlake/delta/table.h"
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
  // The downloaded table's commits, one line each (for failure messages).
  std::string LogOf(const std::string& type) {
    std::string out;
    for (const auto& c : Commits(type)) out += c + ": " + ReadFile(wh() / c).substr(0, 400) + "\n";
    return out;
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

// Patient's first commit reaches S3 but its answer is lost on the way back: the retried write is
// refused (412, the object exists) and recognised as fhirlake's own, so the files the commit
// names stay and the sync goes on. (Taken for another writer's, the commit's files were deleted
// and the table named files that no longer exist.)
TEST_F(SyncS3Test, ACommitWhoseAnswerWasLostKeepsItsFiles) {
  S3Server lossy({"--drop-response", "^PUT /fhirlake-test/wh/Patient/_delta_log/0+\\.json$"});
  ASSERT_TRUE(lossy.ok()) << lossy.stderr_text();
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto run = RunFhirlake(S3SyncArgs(server), lossy.env());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  int commit_puts = 0;
  for (const auto& [method, url] : lossy.Requests()) {
    commit_puts += method == "PUT" && url.find("/wh/Patient/_delta_log/00000000000000000000.json") != std::string::npos;
  }
  EXPECT_EQ(commit_puts, 2) << "the commit was sent again after its answer was lost";
  fs::remove_all(wh());
  ASSERT_EQ(lossy.Sdk({"sync", S3Server::kBucket, "wh/", wh().string()}), 0);
  ExpectWarehouseEqualsSource("a sync whose first commit's answer was lost");
}

// --archive s3://…: a directory warehouse keeps its finished exports in a bucket, manifest.json
// uploaded last, and --keep 1 deletes the older archive object by object.
TEST_F(SyncS3Test, ADirectoryWarehouseArchivesItsExportsInABucket) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  const std::string archive = std::string("s3://") + S3Server::kBucket + "/archive";
  auto sync = [&] { return RunFhirlake(SyncArgs(server, {"--archive", archive + "/", "--keep", "1", "--json"}), Env()); };
  auto archived = [&] {
    std::string out;
    EXPECT_EQ(s3_.Sdk({"list", S3Server::kBucket, "archive/"}, &out), 0);
    std::vector<std::string> keys;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) keys.push_back(json::parse(line)["key"].get<std::string>());
    }
    return keys;
  };
  auto first = sync();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  json s1 = json::parse(first.out);
  const std::string to1 = s1["archivedTo"];
  EXPECT_EQ(to1.rfind(archive + "/", 0), 0u) << first.out;
  ExpectWarehouseEqualsSource("the first sync with a bucket archive");
  EXPECT_FALSE(fs::exists(wh() / "_exports")) << "nothing is archived in the warehouse directory";
  const std::vector<std::string> keys1 = archived();
  const std::string dir1 = to1.substr(std::string("s3://").size() + std::string(S3Server::kBucket).size() + 1);
  EXPECT_NE(std::find(keys1.begin(), keys1.end(), dir1 + "/manifest.json"), keys1.end()) << to1;
  EXPECT_NE(std::find(keys1.begin(), keys1.end(), dir1 + "/Patient.000.ndjson"), keys1.end()) << to1;

  ChangeSource();
  auto second = sync();
  ASSERT_EQ(second.exit_code, 0) << second.err;
  json s2 = json::parse(second.out);
  EXPECT_EQ(s2["inserted"], 1);
  ExpectWarehouseEqualsSource("the incremental sync with a bucket archive");
  const std::string to2 = s2["archivedTo"];
  ASSERT_NE(to2, to1);
  const std::string dir2 = to2.substr(std::string("s3://").size() + std::string(S3Server::kBucket).size() + 1);
  std::vector<std::string> manifests;
  for (const auto& k : archived()) {
    EXPECT_EQ(k.rfind(dir2 + "/", 0), 0u) << k << ": --keep 1 leaves only the newest archive";
    if (k.ends_with("/manifest.json")) manifests.push_back(k);
  }
  EXPECT_EQ(manifests, std::vector<std::string>{dir2 + "/manifest.json"});
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
  EXPECT_EQ(Commits("Patient").size(), 2u) << "the committed load was not repeated:\n" << LogOf("Patient") << resumed.err;

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
  auto manifests = [&] {
    size_t n = 0;
    for (const auto& k : Keys("_exports/")) n += k.ends_with("/manifest.json");
    return n;
  };
  EXPECT_EQ(manifests(), 3u) << "every finished export is archived once with its manifest";

  // Killed after the archive's last upload, before the local copy went: not archived twice.
  ChangeSource();
  killed = SyncS3(server, {"--lease-ttl", "1s"}, {"FHIRLAKE_TEST_CRASH=archive-uploaded"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  EXPECT_EQ(manifests(), 4u);
  ASSERT_TRUE(WaitFor([&] { return (resumed = SyncS3(server, {"--json", "--lease-ttl", "1s"})).exit_code == 0; },
                      std::chrono::seconds(60)))
      << resumed.err;
  EXPECT_EQ(manifests(), 4u) << "the archived export was recognised, not uploaded again";
  EXPECT_NE(json::parse(resumed.out, nullptr, false).value("archivedTo", ""), "") << resumed.out;
  Download();
  ExpectWarehouseEqualsSource("a run killed after archiving");
}

// Two syncs of other types can get the same transactionTime and upload their archives at once.
// An export claims its archive prefix before uploading; a prefix another export claimed is
// left to it, and this one takes the next. (A run killed while uploading stands in for the
// other export here: its claim is replaced by another export's.)
TEST_F(SyncS3Test, AnArchivePrefixClaimedByAnotherExportIsLeftToIt) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  auto killed = SyncS3(server, {"--lease-ttl", "1s"}, {"FHIRLAKE_TEST_CRASH=archive-uploading"});
  ASSERT_EQ(killed.exit_code, 86) << killed.err;
  const auto uploaded = Keys("_exports/");
  ASSERT_FALSE(uploaded.empty());
  const std::string base = uploaded[0].substr(0, uploaded[0].find('/', std::string("_exports/").size()));
  EXPECT_NE(std::find(uploaded.begin(), uploaded.end(), base + "/fhirlake-archive-claim"), uploaded.end())
      << "the upload began with a claim";
  const fs::path other = dir_ / "other-manifest.json";
  std::ofstream(other) << R"({"transactionTime":"another export","output":[]})";
  ASSERT_EQ(s3_.Sdk({"put", S3Server::kBucket, "wh/" + base + "/fhirlake-archive-claim", other.string()}), 0);
  const auto before = Keys(base + "/");
  RunResult resumed;
  ASSERT_TRUE(WaitFor([&] { return (resumed = SyncS3(server, {"--json", "--lease-ttl", "1s"})).exit_code == 0; },
                      std::chrono::seconds(60)))
      << resumed.err;
  EXPECT_EQ(Keys(base + "/"), before) << "nothing was written into the other export's prefix";
  const auto taken = Keys(base + "-2/");
  EXPECT_NE(std::find(taken.begin(), taken.end(), base + "-2/manifest.json"), taken.end());
  EXPECT_TRUE(json::parse(resumed.out)["archivedTo"].get<std::string>().ends_with("-2")) << resumed.out;
  Download();
  ExpectWarehouseEqualsSource("an archive prefix claimed by another export");
}

// A merge's deletions on S3 go where they go locally: a tombstone file written ahead of the data
// commit, appended to the warehouse's tombstone table after it; the commit carries only the count.
TEST_F(SyncS3Test, MergeDeletesOnS3LandInTheTombstoneTable) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(SyncS3(server, {"--no-maintenance"}).exit_code, 0);
  EXPECT_TRUE(Keys("_fhirlake/tombstones/").empty()) << "nothing deleted yet";
  ChangeSource();
  auto merged = SyncS3(server, {"--json", "--no-maintenance"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(json::parse(merged.out)["deleted"], 2);
  EXPECT_FALSE(Keys("_fhirlake/tombstones/_delta_log/").empty()) << "the tombstone table has a log in the bucket";

  Download();
  ExpectWarehouseEqualsSource("a merge with deletes on S3");
  json rows = DuckDb("SELECT type, id, tableVersion::INTEGER AS tableVersion FROM t ORDER BY type", {{"t", wh() / "_fhirlake" / "tombstones"}});
  ASSERT_TRUE(rows.is_array() && rows.size() == 2u) << rows.dump();
  EXPECT_EQ(rows[0]["type"], "Observation");
  EXPECT_EQ(rows[0]["id"], deleted_observation_);
  EXPECT_EQ(rows[1]["type"], "Patient");
  EXPECT_EQ(rows[1]["id"], deleted_patient_);
  EXPECT_EQ(rows[1]["tableVersion"], 1);

  std::ifstream commit(wh() / "Patient" / "_delta_log" / "00000000000000000001.json");
  json info;
  for (std::string line; std::getline(commit, line);) {
    json action = json::parse(line);
    if (action.contains("commitInfo")) info = action["commitInfo"];
  }
  ASSERT_TRUE(info.is_object());
  EXPECT_FALSE(info.contains("deletedIds")) << info.dump();
  EXPECT_EQ(info["numTargetRowsDeleted"], 1);
  EXPECT_EQ(info["tombstones"]["count"], 1) << info.dump();
  std::vector<std::string> members;
  for (const auto& [name, value] : info["tombstones"].items()) members.push_back(name);
  EXPECT_EQ(members, (std::vector<std::string>{"count", "file", "size", "stats"}))
      << "a reference to the tombstone file, no list of ids: " << info.dump();
  EXPECT_FALSE(Keys("_fhirlake/tombstones/" + info["tombstones"]["file"].get<std::string>()).empty())
      << "the file it names is in the bucket";
}

// `fhirlake maintain s3://…`: a dry run lists what vacuum would delete and deletes nothing; the
// real run compacts, checkpoints and deletes only what no retained version references.
TEST_F(SyncS3Test, MaintainCompactsCheckpointsAndVacuumsAnS3Warehouse) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(SyncS3(server, {"--no-maintenance"}).exit_code, 0);
  ChangeSource();
  ASSERT_EQ(SyncS3(server, {"--no-maintenance"}).exit_code, 0);
  // A merge that only adds leaves the table's file alone and adds a second small one.
  const std::string added = json{{"resourceType", "Patient"}, {"id", "added-by-load"},
                                 {"meta", {{"lastUpdated", fhir::FormatInstant(fhir::NowMicros())}}}}.dump();
  fs::create_directories(dir_ / "more");
  WriteLines(dir_ / "more" / "Patient.000.ndjson", {added});
  auto more = RunFhirlake({"load", (dir_ / "more").string(), WarehouseUrl(), "--quiet"}, s3_.env());
  ASSERT_EQ(more.exit_code, 0) << more.err;
  auto patients = Lines(src() / "Patient.000.ndjson");
  patients.push_back(added);
  WriteLines(src() / "Patient.000.ndjson", patients);  // what the warehouse should now hold
  const std::vector<std::string> short_retention = {"--retention", "0s", "--allow-short-retention", "--json"};
  auto maintain = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"maintain", WarehouseUrl()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), short_retention.begin(), short_retention.end());
    auto r = RunFhirlake(args, s3_.env());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json out = json::parse(r.out, nullptr, false);
    std::map<std::string, json> by_table;
    if (out.is_array()) {
      for (const auto& t : out) by_table[t["table"].get<std::string>()] = t;
    }
    return by_table;
  };
  auto part_files = [&](const std::string& type) {
    std::set<std::string> files;
    for (const auto& k : Keys(type + "/")) {
      if (k.find("/_delta_log/") == std::string::npos) files.insert(k.substr(type.size() + 1));
    }
    return files;
  };
  // The files of the table's current version, as its log (downloaded) says.
  auto current_files = [&](const std::string& type) {
    std::set<std::string> files;
    auto snap = delta::Table(wh() / type).Load();
    EXPECT_TRUE(snap.ok()) << snap.status().message();
    if (snap.ok()) {
      for (const auto& f : snap->files) files.insert(f.path);
    }
    return files;
  };

  const auto before = part_files("Patient");
  const auto all_before = Keys("");
  auto dry = maintain({"--dry-run", "--no-compact"});
  ASSERT_EQ(dry.count("Patient"), 1u);
  ASSERT_EQ(dry.count("_fhirlake/tombstones"), 1u) << "the tombstone table is maintained too";
  EXPECT_TRUE(dry["Patient"]["checkpoint"].get<bool>()) << dry["Patient"].dump();
  const auto would = dry["Patient"]["deletedFiles"].get<std::vector<std::string>>();
  EXPECT_FALSE(would.empty()) << "the merge replaced a file: " << dry["Patient"].dump();
  EXPECT_EQ(Keys(""), all_before) << "a dry run changes nothing in the bucket";
  Download();
  const auto merged_files = current_files("Patient");
  for (const auto& f : would) {
    EXPECT_TRUE(before.count(f)) << f << " is an object of the table";
    EXPECT_FALSE(merged_files.count(f)) << f << " is referenced by the current version";
  }

  auto done = maintain({});
  ASSERT_EQ(done.count("Patient"), 1u);
  EXPECT_FALSE(done["Patient"]["compacted"].is_null()) << "the merge left small files: " << done["Patient"].dump();
  EXPECT_TRUE(done["Patient"]["checkpoint"].get<bool>());
  for (const auto& f : would) EXPECT_EQ(part_files("Patient").count(f), 0u) << f << " was vacuumed";
  // Once more, without compaction: what the compaction replaced is now unreferenced too.
  maintain({"--no-compact"});
  Download();
  ExpectWarehouseEqualsSource("maintenance of the S3 warehouse");
  for (const std::string type : {"Patient", "Observation"}) {
    EXPECT_EQ(part_files(type), current_files(type)) << type << ": exactly the current version's files are left";
  }
  bool checkpoint = false;
  for (const auto& k : Keys("Patient/_delta_log/")) checkpoint |= k.ends_with(".checkpoint.parquet");
  EXPECT_TRUE(checkpoint) << "the checkpoint was written through the store";
  json n = DuckDb("SELECT count(*)::INTEGER AS n FROM t", {{"t", wh() / "_fhirlake" / "tombstones"}});
  EXPECT_EQ(n[0]["n"], 2) << "the tombstone table keeps its rows";

  // status: live bytes (the current version's files) against everything under the table.
  auto status = RunFhirlake({"status", WarehouseUrl(), "--json"}, s3_.env());
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json st = json::parse(status.out);
  ASSERT_EQ(st["tables"].size(), 2u) << status.out;
  std::string listing;
  ASSERT_EQ(s3_.Sdk({"list", S3Server::kBucket, "wh/Patient/"}, &listing), 0);
  int64_t stored = 0;
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) stored += line.empty() ? 0 : json::parse(line)["size"].get<int64_t>();
  const json& patient = st["tables"][1];
  EXPECT_EQ(patient["table"], "Patient");
  EXPECT_EQ(patient["liveBytes"], patient["bytes"]) << patient.dump();
  EXPECT_EQ(patient["diskBytes"], stored) << "every object under the table, as the AWS SDK lists them";
  EXPECT_GT(patient["diskBytes"].get<int64_t>(), patient["liveBytes"].get<int64_t>()) << "the log is stored too";
}

// sync --warehouse s3:// runs maintenance after its loads and reports it per table.
TEST_F(SyncS3Test, SyncMaintainsS3TablesAndReportsEach) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(SyncS3(server).exit_code, 0);
  ChangeSource();
  auto r = SyncS3(server, {"--json", "--checkpoint-interval", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  std::vector<std::string> tables;
  for (const auto& m : s["maintenance"]) {
    tables.push_back(m["table"].get<std::string>());
    EXPECT_FALSE(m.contains("error")) << m.dump();
    EXPECT_TRUE(m["checkpoint"].get<bool>()) << m.dump();
  }
  EXPECT_EQ(tables, (std::vector<std::string>{"Observation", "Patient", "_fhirlake/tombstones"})) << s.dump();
  for (const std::string table : {"Patient", "Observation", "_fhirlake/tombstones"}) {
    bool checkpoint = false;
    for (const auto& k : Keys(table + "/_delta_log/")) checkpoint |= k.ends_with(".checkpoint.parquet");
    EXPECT_TRUE(checkpoint) << table;
  }
  Download();
  ExpectWarehouseEqualsSource("a sync with maintenance on S3");
}

// --deletion-vectors on S3: merges write the DV file as an object, later merges and compaction
// read it back by ranged reads, and vacuum deletes it once no file references it.
TEST_F(SyncS3Test, DeletionVectorsWorkOnS3FromMergeToPurge) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(SyncS3(server, {"--deletion-vectors", "--no-maintenance"}).exit_code, 0);
  auto dv_objects = [&] {
    size_t n = 0;
    for (const auto& k : Keys("Patient/")) n += k.find("/deletion_vector_") != std::string::npos;
    return n;
  };
  for (int round = 1; round <= 2; ++round) {  // the second merge reads the first one's vectors
    ChangeSource();
    auto r = SyncS3(server, {"--deletion-vectors", "--no-maintenance"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(dv_objects(), static_cast<size_t>(round)) << "one DV file per merge that kept a touched file";
    Download();
    ExpectWarehouseEqualsSource("merge " + std::to_string(round) + " with deletion vectors on S3");
  }
  const std::string commit = ReadFile(wh() / "Patient" / "_delta_log" / "00000000000000000001.json");
  EXPECT_NE(commit.find("\"deletionVector\""), std::string::npos) << commit;

  auto purge = RunFhirlake({"maintain", WarehouseUrl(), "--purge-deletion-vectors", "--retention", "0s",
                            "--allow-short-retention", "--json"},
                           s3_.env());
  ASSERT_EQ(purge.exit_code, 0) << purge.err;
  auto clean = RunFhirlake({"maintain", WarehouseUrl(), "--no-compact", "--retention", "0s", "--allow-short-retention"},
                           s3_.env());
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_EQ(dv_objects(), 0u) << "no file references a vector after the purge, and vacuum deleted them";
  Download();
  ExpectWarehouseEqualsSource("a purge of the deletion vectors on S3");
  auto snap = delta::Table(wh() / "Patient").Load();
  ASSERT_TRUE(snap.ok()) << snap.status().message();
  for (const auto& f : snap->files) EXPECT_FALSE(f.deletion_vector) << f.path;
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
