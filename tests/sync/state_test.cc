// The sync state file: syncs of different keys into one warehouse run at the same time, and
// each Put rewrites the whole file; no entry may be lost.
#include "fhirlake/sync/state.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace fhirlake::sync {
namespace {

TEST(StateFileTest, ConcurrentPutsOfOtherKeysLoseNothing) {
  testing::TempDir dir;
  constexpr int kWriters = 6, kRounds = 25;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      StateFile state(dir.path());  // each its own, as separate processes would be
      for (int r = 0; r < kRounds; ++r) {
        SyncEntry e;
        e.source = "http://source-" + std::to_string(w);
        e.transaction_time = std::to_string(r);
        EXPECT_TRUE(state.Put("key-" + std::to_string(w), e).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  auto read = StateFile(dir.path()).Read();
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_EQ(read->size(), static_cast<size_t>(kWriters));
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(read->at("key-" + std::to_string(w)).transaction_time, std::to_string(kRounds - 1)) << w;
  }
}

}  // namespace
}  // namespace fhirlake::sync
