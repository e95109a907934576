// Maintenance: vacuum keeps every file a retained version needs (also across kill -9), log
// cleanup keeps every retained version rebuildable, and both are checked by DuckDB.
#include "fhirlake/delta/maintenance.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>

#include "fhirlake/delta/checkpoint.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/schema.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::delta {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::RunFhirlake;
using fhirlake::testing::TempDir;
using nlohmann::json;

constexpr int64_t kDay = 86400000;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class MaintenanceTest : public ::testing::Test {
 protected:
  fs::path Root() const { return dir_ / "Patient"; }
  // A data file of `count` rows, its modification time `age_days` in the past.
  AddFile DataFile(const std::string& name, int first, int count, int age_days = 10) {
    std::vector<std::unique_ptr<parquet::SchemaNode>> cols;
    cols.push_back(parquet::Leaf("id", parquet::PhysicalType::kByteArray, parquet::LogicalType::kString));
    parquet::Schema schema(std::move(cols));
    fs::create_directories(Root());
    auto w = parquet::FileWriter::Open(Root() / name, schema);
    EXPECT_TRUE(w.ok());
    for (int i = first; i < first + count; ++i) {
      (*w)->column(0).AddBytes(0, "p" + std::to_string(i));
      EXPECT_TRUE((*w)->EndRow().ok());
    }
    EXPECT_TRUE((*w)->Close().ok());
    Age(name, age_days);
    AddFile f;
    f.path = name;
    f.size = static_cast<int64_t>(fs::file_size(Root() / name));
    f.modification_time = 1;
    f.num_records = count;
    f.stats_json = json{{"numRecords", count}}.dump();
    return f;
  }
  void Age(const std::string& name, int days) {
    fs::last_write_time(Root() / name, fs::file_time_type::clock::now() - std::chrono::hours(24 * days));
  }
  Snapshot Load() {
    auto s = Table(Root()).Load();
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : Snapshot{};
  }
  void Commit(std::vector<AddFile> adds, std::vector<AddFile> removes) {
    delta::Commit c;
    c.operation = "MERGE";
    c.operation_parameters_json = "{}";
    c.adds = std::move(adds);
    c.removes = std::move(removes);
    Snapshot s = Load();
    if (s.version < 0) c.schema_string = R"({"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}}]})";
    ASSERT_TRUE(Table(Root()).Write(s, c).ok());
  }
  // A remove written by hand with an old deletionTimestamp: a file removed `days` ago.
  void RemovedDaysAgo(const AddFile& f, int days) {
    Snapshot s = Load();
    std::ofstream out(Root() / "_delta_log" / CommitFileName(s.version + 1));
    out << json{{"commitInfo", {{"timestamp", Now() - days * kDay}, {"operation", "DELETE"}}}}.dump() << "\n"
        << json{{"remove", {{"path", f.path}, {"deletionTimestamp", Now() - days * kDay}, {"dataChange", true},
                            {"size", f.size}}}}.dump() << "\n";
  }
  int Rows() {
    json rows = DuckDb("SELECT count(*)::INTEGER AS n FROM t", {{"t", Root()}});
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    return rows.is_array() ? rows[0]["n"].get<int>() : -1;
  }
  // Builds: a (removed 10 days ago), b (removed now: an older version still needs it),
  // c (current), an orphan older than the window, and a young orphan (a load in flight).
  void Build() {
    AddFile a = DataFile("a.parquet", 0, 3), b = DataFile("b.parquet", 3, 4);
    Commit({a, b}, {});
    RemovedDaysAgo(a, 10);
    AddFile c = DataFile("c.parquet", 7, 5);
    Commit({c}, {Load().files[0]});  // removes b
    DataFile("orphan-old.parquet", 100, 1, 10);
    DataFile("orphan-young.parquet", 200, 1, 0);
  }

  TempDir dir_;
};

// Other writers may record a file by absolute path or file: URI: such a file of the current
// version is kept like any other, and one removed long ago still goes.
TEST_F(MaintenanceTest, VacuumKeepsFilesNamedByAbsolutePathsAndUris) {
  AddFile c = DataFile("c.parquet", 0, 2);
  Commit({c}, {});
  AddFile by_path = DataFile("by-path.parquet", 10, 3), by_uri = DataFile("by-uri.parquet", 20, 4);
  AddFile gone = DataFile("gone.parquet", 30, 1);
  const std::string abs = fs::absolute(Root()).lexically_normal().generic_string();
  {
    std::ofstream out(Root() / "_delta_log" / CommitFileName(1));
    for (const auto& [f, path] : {std::pair{by_path, abs + "/by-path.parquet"}, {by_uri, "file://" + abs + "/by-uri.parquet"}}) {
      out << json{{"add", {{"path", path}, {"partitionValues", json::object()}, {"size", f.size},
                           {"modificationTime", 1}, {"dataChange", true}, {"stats", f.stats_json}}}}.dump() << "\n";
    }
    out << json{{"add", {{"path", "file:" + abs + "/gone.parquet"}, {"partitionValues", json::object()},
                         {"size", gone.size}, {"modificationTime", 1}, {"dataChange", true}}}}.dump() << "\n";
  }
  {
    std::ofstream out(Root() / "_delta_log" / CommitFileName(2));
    out << json{{"remove", {{"path", "file:" + abs + "/gone.parquet"}, {"deletionTimestamp", Now() - 10 * kDay},
                            {"dataChange", true}}}}.dump() << "\n";
  }
  ASSERT_EQ(Load().files.size(), 3u);
  auto done = Maintain(Root(), MaintenancePolicy{});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done->deleted_files, (std::vector<std::string>{"gone.parquet"}));
  EXPECT_TRUE(fs::exists(Root() / "by-path.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "by-uri.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "c.parquet"));
}

TEST_F(MaintenanceTest, VacuumDeletesOnlyWhatNoRetainedVersionNeeds) {
  Build();
  ASSERT_EQ(Rows(), 5);
  MaintenancePolicy dry;
  dry.dry_run = true;
  auto listed = Maintain(Root(), dry);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_EQ(listed->deleted_files, (std::vector<std::string>{"a.parquet", "orphan-old.parquet"}));
  EXPECT_TRUE(fs::exists(Root() / "a.parquet")) << "a dry run deletes nothing";
  EXPECT_FALSE(fs::exists(Root() / "_delta_log" / CheckpointFileName(3)));

  auto done = Maintain(Root(), MaintenancePolicy{});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_TRUE(done->checkpoint_written);
  EXPECT_FALSE(fs::exists(Root() / "a.parquet"));
  EXPECT_FALSE(fs::exists(Root() / "orphan-old.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "b.parquet")) << "removed within the window: version 1 still reads it";
  EXPECT_TRUE(fs::exists(Root() / "c.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "orphan-young.parquet")) << "may belong to a commit in flight";
  EXPECT_EQ(Rows(), 5);

  // Eight days on, b's tombstone has expired too.
  MaintenancePolicy later;
  later.now_ms = Now() + 8 * kDay;
  auto after = Maintain(Root(), later);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_FALSE(fs::exists(Root() / "b.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "c.parquet"));
  EXPECT_EQ(Rows(), 5);
}

TEST_F(MaintenanceTest, RetentionBelowTheFloorNeedsAnOverride) {
  Build();
  MaintenancePolicy short_window;
  short_window.retention_ms = kDay;
  auto refused = Maintain(Root(), short_window);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--allow-short-retention"), std::string::npos);
  EXPECT_NE(refused.status().message().find("a retention of 24 hours is below"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("(168 hours)"), std::string::npos) << refused.status().message();
  short_window.retention_ms = 90 * 60 * 1000 + 1;
  auto odd = Maintain(Root(), short_window);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("a retention of 5400001 milliseconds"), std::string::npos)
      << odd.status().message();
  short_window.retention_ms = 60 * 60 * 1000;
  auto hour = Maintain(Root(), short_window);
  ASSERT_FALSE(hour.ok());
  EXPECT_NE(hour.status().message().find("a retention of 1 hour is"), std::string::npos) << hour.status().message();
  EXPECT_TRUE(fs::exists(Root() / "a.parquet"));
  short_window.allow_short_retention = true;
  short_window.retention_ms = 0;
  auto done = Maintain(Root(), short_window);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_FALSE(fs::exists(Root() / "b.parquet"));
  EXPECT_EQ(Rows(), 5);
}

TEST_F(MaintenanceTest, LogCleanupKeepsEveryRetainedVersionReadable) {
  Build();
  Snapshot before = Load();
  MaintenancePolicy later;
  later.now_ms = Now() + 31 * kDay;  // every log file is older than the 30-day log retention
  later.vacuum = false;
  auto done = Maintain(Root(), later);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done->deleted_log_files.size(), 2u);  // commits 0 and 1; the checkpoint at 2 and commit 2 stay
  auto listed = ListLogFiles(Root());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  Snapshot after = Load();
  EXPECT_EQ(after.version, before.version);
  EXPECT_EQ(after.files.size(), before.files.size());
  EXPECT_TRUE(after.tombstones.empty());  // a month on, every tombstone has expired
  EXPECT_EQ(Rows(), 5);
}

// Delta's version checksums and log compaction files go with the commits they describe.
TEST_F(MaintenanceTest, LogCleanupTakesChecksumsAndCompactionFilesBeforeTheCheckpoint) {
  Build();  // versions 0..2
  const fs::path log = Root() / "_delta_log";
  const std::string compacted_0_1 = "00000000000000000000.00000000000000000001.compacted.json";
  const std::string compacted_1_2 = "00000000000000000001.00000000000000000002.compacted.json";
  for (int v = 0; v <= 2; ++v) {
    std::string crc = CommitFileName(v);
    std::ofstream(log / crc.replace(crc.size() - 5, 5, ".crc")) << "{}";
  }
  std::ofstream(log / compacted_0_1) << "";
  std::ofstream(log / compacted_1_2) << "";
  MaintenancePolicy later;
  later.now_ms = Now() + 31 * kDay;
  later.vacuum = false;
  auto done = Maintain(Root(), later);
  ASSERT_TRUE(done.ok()) << done.status().message();
  std::set<std::string> deleted(done->deleted_log_files.begin(), done->deleted_log_files.end());
  EXPECT_EQ(deleted, (std::set<std::string>{CommitFileName(0), CommitFileName(1), "00000000000000000000.crc",
                                            "00000000000000000001.crc", compacted_0_1}));
  for (const auto& name : deleted) EXPECT_FALSE(fs::exists(log / name)) << name;
  EXPECT_TRUE(fs::exists(log / "00000000000000000002.crc"));
  EXPECT_TRUE(fs::exists(log / compacted_1_2)) << "it holds version 2, which stays";
  EXPECT_EQ(Load().version, 2);
  EXPECT_EQ(Rows(), 5);
}

// A multi-part checkpoint with a part missing is no checkpoint (readers ignore it): log cleanup
// does not take it as the point before which everything may go.
TEST_F(MaintenanceTest, LogCleanupDoesNotStopAtAnIncompleteCheckpoint) {
  Build();  // versions 0..2
  MaintenancePolicy checkpoint_only;
  checkpoint_only.vacuum = false;
  checkpoint_only.clean_log = false;
  ASSERT_TRUE(Maintain(Root(), checkpoint_only).ok());  // a checkpoint at 2
  Commit({DataFile("d.parquet", 20, 2)}, {});             // 3
  const fs::path log = Root() / "_delta_log";
  fs::copy_file(log / CheckpointFileName(2), log / CheckpointPartFileName(3, 1, 2));  // part 2 of 2 never written
  Commit({DataFile("e.parquet", 30, 2)}, {});             // 4
  ASSERT_TRUE(Maintain(Root(), checkpoint_only).ok());  // a checkpoint at 4
  // Everything but version 4 (its commit and checkpoint) is 40 days old.
  for (const auto& e : fs::directory_iterator(log)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("00000000000000000004.", 0) == 0 || name == kLastCheckpointName) continue;
    fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(24 * 40));
  }
  MaintenancePolicy clean;
  clean.vacuum = false;
  clean.checkpoint = false;
  auto done = Maintain(Root(), clean);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done->deleted_log_files, (std::vector<std::string>{CommitFileName(0), CommitFileName(1)}))
      << "the checkpoint at 2 is the last whole one before version 3";
  EXPECT_TRUE(fs::exists(log / CheckpointFileName(2)));
  EXPECT_EQ(Rows(), 9);
}

TEST_F(MaintenanceTest, ACheckpointIsWrittenOnlyWhenTheNewestIsIntervalCommitsOld) {
  Build();  // versions 0..2, no checkpoint
  MaintenancePolicy policy;
  policy.vacuum = false;
  policy.clean_log = false;
  policy.checkpoint_interval = 4;
  auto early = Maintain(Root(), policy);
  ASSERT_TRUE(early.ok()) << early.status().message();
  EXPECT_FALSE(early->checkpoint_written) << "3 commits without a checkpoint, interval 4";
  EXPECT_FALSE(fs::exists(Root() / "_delta_log" / "00000000000000000002.checkpoint.parquet"));
  policy.checkpoint_interval = 3;
  auto due = Maintain(Root(), policy);
  ASSERT_TRUE(due.ok()) << due.status().message();
  EXPECT_TRUE(due->checkpoint_written);
  EXPECT_TRUE(fs::exists(Root() / "_delta_log" / "00000000000000000002.checkpoint.parquet"));
  Commit({DataFile("d.parquet", 20, 2)}, {});
  policy.checkpoint_interval = 2;
  auto behind_one = Maintain(Root(), policy);
  ASSERT_TRUE(behind_one.ok());
  EXPECT_FALSE(behind_one->checkpoint_written) << "the checkpoint at 2 is one commit behind version 3";
  EXPECT_EQ(Load().checkpoint_version, 2);
  EXPECT_EQ(Rows(), 7);
}

TEST_F(MaintenanceTest, ALogRetentionOfThePolicyOverridesTheTables) {
  Build();
  MaintenancePolicy policy;
  policy.vacuum = false;
  policy.now_ms = Now() + 2 * kDay;  // every log file is two days old: kept by the 30-day default
  auto kept = Maintain(Root(), policy);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_TRUE(kept->deleted_log_files.empty());
  policy.log_retention_ms = kDay;
  auto cleaned = Maintain(Root(), policy);
  ASSERT_TRUE(cleaned.ok()) << cleaned.status().message();
  EXPECT_EQ(cleaned->deleted_log_files.size(), 2u);  // commits 0 and 1; the checkpoint at 2 and commit 2 stay
  EXPECT_EQ(Load().version, 2);
  EXPECT_EQ(Rows(), 5);
}

TEST_F(MaintenanceTest, KillNineDuringVacuumLosesNoRetainedFile) {
  Build();
  auto crashed = RunFhirlake({"maintain", dir_.path().string()}, {"FHIRLAKE_TEST_CRASH=vacuum-after-delete"});
  EXPECT_EQ(crashed.exit_code, 86) << crashed.err;
  EXPECT_TRUE(fs::exists(Root() / "b.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "c.parquet"));
  EXPECT_EQ(Rows(), 5);
  const int gone = !fs::exists(Root() / "a.parquet") + !fs::exists(Root() / "orphan-old.parquet");
  EXPECT_EQ(gone, 1) << "the process stopped after its first deletion";
  auto again = RunFhirlake({"maintain", dir_.path().string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(fs::exists(Root() / "a.parquet"));
  EXPECT_FALSE(fs::exists(Root() / "orphan-old.parquet"));
  EXPECT_TRUE(fs::exists(Root() / "b.parquet"));
  EXPECT_EQ(Rows(), 5);
  auto dry = RunFhirlake({"maintain", dir_.path().string(), "--dry-run", "--retention", "1h"});
  EXPECT_EQ(dry.exit_code, 2) << "a retention below the floor is refused: " << dry.err;
}

TEST_F(MaintenanceTest, UsageCountsLiveBytesAgainstBytesOnDisk) {
  Build();
  Snapshot s = Load();
  auto usage = MeasureUsage(Root(), s);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->live_bytes, s.files[0].size);
  EXPECT_GT(usage->disk_bytes, usage->live_bytes);
  EXPECT_EQ(usage->log_files, 3);
}

}  // namespace
}  // namespace fhirlake::delta
