// delta::Table over store::ObjectStore, the same tests on a local directory and on the S3 test
// server: racing commits (put-if-absent lets one win; the other learns it lost and nothing is
// overwritten), and data files and checkpoints written and read back through the store.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "fhirlake/delta/checkpoint.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/delta/object_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/file_writer.h"
#include "tests/support/store_backends.h"

namespace fhirlake::delta {
namespace {

using fhirlake::testing::Backend;
using nlohmann::json;

class TableStoreTest : public fhirlake::testing::StoreBackendTest {
 protected:
  TableStoreTest() : StoreBackendTest("delta-") {}
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (HasFatalFailure()) return;
    shared_ = std::shared_ptr<store::ObjectStore>(std::move(store_));
    table_.emplace(shared_, "Patient");
  }

  // A data file of `count` Patients written through the store; its add action.
  AddFile DataFile(const std::string& name, int first, int count) {
    auto sink = OpenObjectSink(*shared_, table_->Key(name));
    EXPECT_TRUE(sink.ok()) << sink.status().message();
    auto writer = parquet::FileWriter::Open(std::move(sink.value()), schema_);
    EXPECT_TRUE(writer.ok());
    load::JsonShredder shredder(schema_, **writer, {"_json"});
    for (int i = first; i < first + count; ++i) {
      std::string line = json{{"resourceType", "Patient"}, {"id", "p" + std::to_string(i)}}.dump();
      simdjson::padded_string padded(line);
      EXPECT_TRUE(shredder.ShredRow(std::string_view(padded.data(), padded.size())).ok());
      (*writer)->column(schema_.leaves().size() - 1).AddBytes(0, line);
      EXPECT_TRUE((*writer)->EndRow().ok());
    }
    EXPECT_TRUE((*writer)->Close().ok());
    return AddFile{name, static_cast<int64_t>((*writer)->bytes_written()), 1, count,
                   json{{"numRecords", count}}.dump(), std::nullopt, {}, {}};
  }
  Commit Append(std::vector<AddFile> adds, const std::string& writer) {
    Commit c;
    c.operation = "WRITE";
    c.operation_parameters_json = R"({"mode":"Append"})";
    c.schema_string = SparkSchemaJson(schema_);
    c.adds = std::move(adds);
    c.commit_info_extra_json = json{{"writer", writer}}.dump();
    return c;
  }

  std::shared_ptr<store::ObjectStore> shared_;
  std::optional<Table> table_;
  parquet::Schema schema_ = load::BuildTableSchema("Patient");
};

TEST_P(TableStoreTest, OfTwoCommitsRacingForAVersionOneWinsAndNothingIsOverwritten) {
  auto empty = table_->Load();
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  ASSERT_TRUE(table_->Write(*empty, Append({DataFile("base.parquet", 0, 3)}, "base")).ok());
  auto v0 = table_->Load();
  ASSERT_TRUE(v0.ok());
  ASSERT_EQ(v0->version, 0);

  // Both writers planned against version 0.
  auto a = table_->Write(*v0, Append({DataFile("a.parquet", 10, 2)}, "a"));
  auto b = table_->Write(*v0, Append({DataFile("b.parquet", 20, 2)}, "b"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(*a, 1);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Table::IsConflict(b.status())) << b.status().message();
  EXPECT_NE(b.status().message().find("another writer committed version 1"), std::string::npos);

  auto commit1 = shared_->Get("Patient/_delta_log/00000000000000000001.json");
  ASSERT_TRUE(commit1.ok());
  EXPECT_NE(commit1->find("\"writer\":\"a\""), std::string::npos) << "the winner's commit stays: " << *commit1;

  // The loser re-plans on the new version.
  auto v1 = table_->Load();
  ASSERT_TRUE(v1.ok());
  auto again = table_->Write(*v1, Append({DataFile("b2.parquet", 20, 2)}, "b"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, 2);
  auto v2 = table_->Load();
  ASSERT_TRUE(v2.ok());
  int64_t rows = 0;
  for (const auto& f : v2->files) rows += f.num_records;
  EXPECT_EQ(rows, 7);
  auto infos = table_->CommitInfos();
  ASSERT_TRUE(infos.ok());
  ASSERT_EQ(infos->size(), 3u);
  EXPECT_NE((*infos)[2].second.find("\"writer\":\"b\""), std::string::npos);
}

TEST_P(TableStoreTest, CheckpointsAndDataFilesAreReadBackByRangedReads) {
  for (int i = 0; i < 10; ++i) {
    auto snap = table_->Load();
    ASSERT_TRUE(snap.ok()) << snap.status().message();
    auto v = table_->Write(*snap, Append({DataFile("f" + std::to_string(i) + ".parquet", i * 10, 10)}, "w"));
    ASSERT_TRUE(v.ok()) << v.status().message();
  }
  auto at10 = table_->Load();
  ASSERT_TRUE(at10.ok());
  EXPECT_EQ(at10->version, 9);
  auto snap = table_->Load();
  ASSERT_TRUE(table_->Write(*snap, Append({DataFile("f10.parquet", 100, 10)}, "w")).ok());
  auto last = ReadLastCheckpoint(*shared_, "Patient");
  ASSERT_TRUE(last.has_value()) << "version 10 wrote a checkpoint and _last_checkpoint";
  EXPECT_EQ(last->version, 10);
  auto loaded = table_->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->version, 10);
  EXPECT_EQ(loaded->checkpoint_version, 10);
  EXPECT_EQ(loaded->log_files_read, 1) << "the state came from the checkpoint alone";
  ASSERT_EQ(loaded->files.size(), 11u);

  // A data file's _json column, read through the store.
  auto reader = parquet::FileReader::Open(OpenObjectSource(*shared_, table_->Key(loaded->files[3].path)));
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  const int col = (*reader)->FindColumn("_json");
  ASSERT_GE(col, 0);
  auto values = (*reader)->ReadColumn(0, col);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 10u);
  EXPECT_EQ(json::parse(values->string(0))["id"], "p30");
}

// Opening a table starts at the checkpoint _last_checkpoint names: the listing holds that
// version and the ones after it, not the whole log; a hint that names no checkpoint (ahead of
// the log, or deleted) makes the reader list everything, as the protocol allows.
TEST_P(TableStoreTest, OpeningStartsAtTheLastCheckpoint) {
  for (int i = 0; i < 25; ++i) {  // versions 0..24; fhirlake checkpoints at 10 and 20
    auto snap = table_->Load();
    ASSERT_TRUE(snap.ok()) << snap.status().message();
    Commit c = Append({DataFile("f" + std::to_string(i) + ".parquet", i, 1)}, "w");
    // Only the loads up to version 18 carry a transactionTime (later ones stand for maintenance).
    if (i <= 18) c.commit_info_extra_json = json{{"transactionTime", "2024-01-01T00:00:" + std::to_string(10 + i) + "Z"}}.dump();
    ASSERT_TRUE(table_->Write(*snap, c).ok());
  }
  auto check = [&](const Snapshot& s, int64_t checkpoint) {
    EXPECT_EQ(s.version, 24);
    EXPECT_EQ(s.checkpoint_version, checkpoint);
    EXPECT_EQ(s.files.size(), 25u);
    EXPECT_EQ(s.log_files_read, 1 + 24 - checkpoint);
    // Found in a commit before the checkpoint, which the listing did not hold.
    EXPECT_EQ(s.last_transaction_time, "2024-01-01T00:00:28Z");
  };
  auto hinted = table_->Load();
  ASSERT_TRUE(hinted.ok()) << hinted.status().message();
  check(*hinted, 20);
  EXPECT_EQ(hinted->log_files_listed, 6) << "commits 20..24 and the checkpoint at 20";

  const std::string log = "Patient/_delta_log/";
  ASSERT_TRUE(shared_->Put(log + kLastCheckpointName, R"({"version":40,"size":3})").ok());
  auto ahead = table_->Load();
  ASSERT_TRUE(ahead.ok()) << ahead.status().message();
  check(*ahead, 20);
  EXPECT_EQ(ahead->log_files_listed, 27) << "25 commits, checkpoints at 10 and 20";

  ASSERT_TRUE(shared_->Put(log + kLastCheckpointName, R"({"version":20,"size":3})").ok());
  ASSERT_TRUE(shared_->Delete(log + CheckpointFileName(20)).ok());
  auto deleted = table_->Load();
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  check(*deleted, 10);
  EXPECT_EQ(deleted->log_files_listed, 26);
}

TEST_P(TableStoreTest, AMissingDataFileIsReportedWithItsName) {
  auto reader = parquet::FileReader::Open(OpenObjectSource(*shared_, table_->Key("absent.parquet")));
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("absent.parquet"), std::string::npos) << reader.status().message();
}

INSTANTIATE_TEST_SUITE_P(Backends, TableStoreTest, ::testing::Values(Backend::kLocal, Backend::kS3),
                         fhirlake::testing::BackendName);

}  // namespace
}  // namespace fhirlake::delta
