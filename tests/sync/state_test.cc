// The sync state file: syncs of different keys into one warehouse run at the same time, and
// each Put rewrites the whole file; no entry may be lost, in a directory or on S3.
#include "fhirlake/sync/state.h"
#include "fhirlake/sync/runner.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fhirlake/store/names.h"
#include "fhirlake/store/s3_store.h"
#include "tests/support/s3_server.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::sync {
namespace {

// `writers` threads, each with a StateFile of its own (as separate processes would have), put
// `rounds` versions of their own key; then every key must hold its last version.
void ExpectConcurrentPutsLoseNothing(const std::function<StateFile()>& open, int writers, int rounds) {
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      StateFile state = open();
      for (int r = 0; r < rounds; ++r) {
        SyncEntry e;
        e.source = "http://source-" + std::to_string(w);
        e.transaction_time = std::to_string(r);
        Status put = state.Put("key-" + std::to_string(w), e);
        EXPECT_TRUE(put.ok()) << put.message();
      }
    });
  }
  for (auto& t : threads) t.join();
  auto read = open().Read();
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_EQ(read->size(), static_cast<size_t>(writers));
  for (int w = 0; w < writers; ++w) {
    EXPECT_EQ(read->at("key-" + std::to_string(w)).transaction_time, std::to_string(rounds - 1)) << w;
  }
}

TEST(StateFileTest, ConcurrentPutsOfOtherKeysLoseNothing) {
  testing::TempDir dir;
  ExpectConcurrentPutsLoseNothing([&] { return StateFile(dir.path()); }, 6, 25);
}

TEST(StateFileTest, ConcurrentPutsOfOtherKeysLoseNothingOnS3) {
  testing::S3Server s3;
  ASSERT_TRUE(s3.ok()) << s3.stderr_text();
  const std::string prefix = "state-" + store::RandomHex(4);
  ExpectConcurrentPutsLoseNothing(
      [&] {
        return StateFile(std::shared_ptr<store::ObjectStore>(store::NewS3Store(s3.config(), {testing::S3Server::kBucket, prefix})));
      },
      4, 8);
}

// What --keep counts: finished archives (with their manifest), not the unfinished `.part` copy
// an interrupted run left on another file system.
TEST(ArchivedExportsTest, AreTheDirectoriesWithAManifestOldestFirst) {
  testing::TempDir dir;
  for (const char* d : {"2024-02-01T00-00-00Z", "2024-01-01T00-00-00Z", "2024-03-01T00-00-00Z.part"}) {
    std::filesystem::create_directories(dir / d);
    std::ofstream(dir / d / "manifest.json") << "{}";
  }
  std::filesystem::create_directories(dir / "2024-04-01T00-00-00Z");  // no manifest
  EXPECT_EQ(ArchivedExports(dir.path()),
            (std::vector<std::filesystem::path>{dir / "2024-01-01T00-00-00Z", dir / "2024-02-01T00-00-00Z"}));
  // With an owner: its archives and those that name none, not another sync's.
  std::ofstream(dir / "2024-01-01T00-00-00Z" / ArchiveOwnerFile("aaaa"));
  std::ofstream(dir / "2024-02-01T00-00-00Z" / ArchiveOwnerFile("bbbb"));
  std::filesystem::create_directories(dir / "2024-05-01T00-00-00Z");
  std::ofstream(dir / "2024-05-01T00-00-00Z" / "manifest.json") << "{}";
  EXPECT_EQ(ArchivedExports(dir.path(), "aaaa"),
            (std::vector<std::filesystem::path>{dir / "2024-01-01T00-00-00Z", dir / "2024-05-01T00-00-00Z"}));
}

}  // namespace
}  // namespace fhirlake::sync
