// load::SharedWork: work posted by several threads runs each item exactly once, on the poster
// or on threads that help, and a helping thread stays until every thread that joined has left.
#include "fhirlake/load/shared_work.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace fhirlake::load {
namespace {

TEST(SharedWork, EveryItemRunsOnceWhoeverRunsIt) {
  SharedWork work;
  constexpr int kPosters = 3, kJobs = 40, kItems = 57;
  std::vector<std::atomic<int>> runs(kPosters * kJobs * kItems);
  std::atomic<int> helped{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kPosters; ++p) work.Join();
  for (int p = 0; p < kPosters; ++p) {
    threads.emplace_back([&, p] {
      const auto me = std::this_thread::get_id();
      for (int j = 0; j < kJobs; ++j) {
        const std::function<void(size_t)> item = [&, p, j](size_t i) {
          if (std::this_thread::get_id() != me) ++helped;
          ++runs[static_cast<size_t>((p * kJobs + j) * kItems) + i];
          std::this_thread::yield();
        };
        work.Run(kItems, item);
        // Run returns only when all items of its job have run, on whichever thread.
        for (int i = 0; i < kItems; ++i) ASSERT_EQ(runs[static_cast<size_t>((p * kJobs + j) * kItems + i)].load(), 1);
      }
      work.Leave();
      work.Help();  // stays until the other posters are done, running their items
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  // Not asserted: whether another thread took an item depends on the scheduler.
  std::printf("items run by a thread other than their poster: %d of %zu\n", helped.load(), runs.size());
}

TEST(SharedWork, HelpReturnsOnceAllLeftAndNothingWaits) {
  SharedWork work;
  work.Join();
  std::atomic<bool> returned{false};
  std::thread helper([&] {
    work.Help();
    returned = true;
  });
  std::atomic<int> sum{0};
  const std::function<void(size_t)> add = [&](size_t i) { sum += static_cast<int>(i); };
  work.Run(100, add);
  EXPECT_EQ(sum.load(), 4950);
  EXPECT_FALSE(returned.load()) << "a joined thread has not left: the helper waits";
  work.Leave();
  helper.join();
  EXPECT_TRUE(returned.load());
  EXPECT_FALSE(work.Waiting());
}

}  // namespace
}  // namespace fhirlake::load
