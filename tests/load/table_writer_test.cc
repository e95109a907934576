// The pieces every table writer shares: the rolling data-file writer and the commit-retry loop.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/load/commit_retry.h"
#include "fhirlake/load/data_files.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/load/table_schema.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::TempDir;

// Writes one Patient row into `out`.
void AddPatient(DataFiles& out, const std::string& id) {
  std::string line = R"({"resourceType":"Patient","id":")" + id + R"("})";
  const size_t size = line.size();
  line.append(fhir::NdjsonReader::kPadding, '\0');
  Status refused;
  ASSERT_TRUE(out.Add(std::string_view(line.data(), size), nullptr, &refused).ok());
  ASSERT_TRUE(refused.ok()) << refused.message();
}

size_t FilesIn(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(DataFiles, RemovesItsFilesWhenDroppedWithoutKeep) {
  TempDir dir;
  const parquet::Schema schema = BuildTableSchema("Patient");
  {
    DataFiles out(dir.path(), schema, parquet::WriterOptions{}, 0);
    AddPatient(out, "a");
    ASSERT_TRUE(out.Close().ok());
    ASSERT_EQ(out.Adds().size(), 1u);
    EXPECT_EQ(out.Adds()[0].num_records, 1);
    EXPECT_TRUE(fs::exists(dir.path() / out.Adds()[0].path));
  }
  EXPECT_EQ(FilesIn(dir.path()), 0u);
}

TEST(DataFiles, KeepsItsFilesOnceKept) {
  TempDir dir;
  const parquet::Schema schema = BuildTableSchema("Patient");
  {
    DataFiles out(dir.path(), schema, parquet::WriterOptions{}, 0);
    AddPatient(out, "a");
    AddPatient(out, "b");
    ASSERT_TRUE(out.Close().ok());
    out.Keep();
  }
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(DataFiles, WritesNoFileForNoRows) {
  TempDir dir;
  const parquet::Schema schema = BuildTableSchema("Patient");
  DataFiles out(dir.path(), schema, parquet::WriterOptions{}, 0);
  ASSERT_TRUE(out.Close().ok());
  EXPECT_TRUE(out.Adds().empty());
  EXPECT_EQ(FilesIn(dir.path()), 0u);
}

// An attempt that records whether it was kept or dropped.
struct CountingAttempt : PreparedCommit {
  int* dropped;
  bool kept = false;
  explicit CountingAttempt(int* d) : dropped(d) {}
  ~CountingAttempt() override {
    if (!kept) ++*dropped;
  }
  void Keep() override { kept = true; }
};

TEST(CommitWithRetries, PreparesAgainOnTheNewVersionAfterLosingARace) {
  TempDir dir;
  delta::Table table(dir.path() / "T");
  const std::string schema = delta::SparkSchemaJson(BuildTableSchema("Patient"));
  auto empty = table.Load();
  ASSERT_TRUE(empty.ok());
  int prepared = 0, dropped = 0;
  std::vector<int64_t> seen_versions;
  auto result = CommitWithRetries<CountingAttempt>(
      table, *empty, CommitRetryOptions{},
      [&](const delta::Snapshot& s) -> Result<std::unique_ptr<CountingAttempt>> {
        ++prepared;
        seen_versions.push_back(s.version);
        if (prepared == 1) {  // another writer commits version 0 first
          delta::Commit other;
          other.operation = "WRITE";
          other.operation_parameters_json = "{}";
          other.schema_string = schema;
          EXPECT_TRUE(table.Write(s, other).ok());
        }
        auto a = std::make_unique<CountingAttempt>(&dropped);
        a->commit.operation = "WRITE";
        a->commit.operation_parameters_json = "{}";
        a->commit.schema_string = schema;
        a->commit.adds.push_back({"part-x.parquet", 1, 0, 0, "{}", std::nullopt, {}, {}});
        return a;
      });
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(prepared, 2);
  EXPECT_EQ(dropped, 1);  // the attempt that lost
  EXPECT_EQ(seen_versions, (std::vector<int64_t>{-1, 0}));
  EXPECT_EQ((*result)->version, 1);
  EXPECT_TRUE((*result)->kept);
}

TEST(CommitWithRetries, GivesUpAfterTheLastAttempt) {
  TempDir dir;
  delta::Table table(dir.path() / "T");
  const std::string schema = delta::SparkSchemaJson(BuildTableSchema("Patient"));
  auto empty = table.Load();
  ASSERT_TRUE(empty.ok());
  int prepared = 0, dropped = 0;
  CommitRetryOptions options;
  options.attempts = 2;
  auto result = CommitWithRetries<CountingAttempt>(
      table, *empty, options, [&](const delta::Snapshot& s) -> Result<std::unique_ptr<CountingAttempt>> {
        ++prepared;
        delta::Commit other;  // every attempt loses
        other.operation = "WRITE";
          other.operation_parameters_json = "{}";
        other.schema_string = schema;
        EXPECT_TRUE(table.Write(s, other).ok());
        auto a = std::make_unique<CountingAttempt>(&dropped);
        a->commit.operation = "WRITE";
        a->commit.operation_parameters_json = "{}";
        a->commit.schema_string = schema;
        a->commit.adds.push_back({"part-x.parquet", 1, 0, 0, "{}", std::nullopt, {}, {}});
        return a;
      });
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(delta::Table::IsConflict(result.status()));
  EXPECT_EQ(prepared, 2);
  EXPECT_EQ(dropped, 2);
}

TEST(CommitWithRetries, WritesNothingWhenAnExistingTableWouldNotChange) {
  TempDir dir;
  delta::Table table(dir.path() / "T");
  auto empty = table.Load();
  ASSERT_TRUE(empty.ok());
  delta::Commit first;
  first.operation = "WRITE";
  first.operation_parameters_json = "{}";
  first.schema_string = delta::SparkSchemaJson(BuildTableSchema("Patient"));
  ASSERT_TRUE(table.Write(*empty, first).ok());
  auto snapshot = table.Load();
  ASSERT_TRUE(snapshot.ok());
  int dropped = 0;
  auto result = CommitWithRetries<CountingAttempt>(
      table, *snapshot, CommitRetryOptions{},
      [&](const delta::Snapshot&) -> Result<std::unique_ptr<CountingAttempt>> {
        return std::make_unique<CountingAttempt>(&dropped);
      });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ((*result)->version, 0);
  EXPECT_TRUE((*result)->kept);
  auto after = table.Load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, 0);
}

// A load whose commit loses the race to a commit carrying its own txn (the same load, committed
// by an earlier run whose last request landed late) writes nothing more: the retry sees the txn.
TEST(Load, ARetryFindingItsOwnTxnCommitsNothing) {
  TempDir dir;
  const fs::path exp = dir / "export", gate = dir / "gate";
  fs::create_directories(exp);
  fs::create_directories(gate);
  std::ofstream(exp / "Patient.000.ndjson") << R"({"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}})"
                                            << "\n";
  LoadOptions o;
  o.export_dir = exp;
  o.warehouse = dir / "wh";
  o.txn = std::make_pair(std::string("fhirlake-test"), int64_t{7});
  auto first = Load(o);  // version 0, with the txn at 7
  ASSERT_TRUE(first.ok()) << first.status().message();
  o.txn->second = 8;
  // Set while the load runs, unset once it has ended (the environment is not changed under a
  // running thread; declared before the load's future, so destroyed after it).
  struct Gate {
    explicit Gate(const fs::path& dir) { ::setenv("FHIRLAKE_TEST_COMMIT_GATE", dir.c_str(), 1); }
    ~Gate() { ::unsetenv("FHIRLAKE_TEST_COMMIT_GATE"); }
  } held(gate);
  auto second = std::async(std::launch::async, [&] { return Load(o); });
  for (int i = 0; i < 3000 && fs::is_empty(gate); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_FALSE(fs::is_empty(gate)) << "the load reached its commit";
  // Meanwhile the same load (txn 8) lands from elsewhere, as version 1.
  const delta::Table table(dir / "wh" / "Patient");
  auto snapshot = table.Load();
  ASSERT_TRUE(snapshot.ok());
  delta::Commit landed;
  landed.operation = "MERGE";
  landed.operation_parameters_json = R"({"mode":"merge"})";
  landed.txn = o.txn;
  ASSERT_TRUE(table.Write(*snapshot, landed).ok());
  std::ofstream(gate / "open");
  auto loaded = second.get();
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_EQ(loaded->tables.size(), 1u);
  EXPECT_TRUE(loaded->tables[0].already_committed);
  EXPECT_EQ(loaded->tables[0].version, 1);
  auto after = table.Load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, 1) << "no second commit of the same load";
}

}  // namespace
}  // namespace fhirlake::load
