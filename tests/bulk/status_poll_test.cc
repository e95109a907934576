#include "fhirlake/bulk/status_poll.h"

#include <gtest/gtest.h>

namespace fhirlake::bulk {
namespace {

using http::Millis;
using namespace std::chrono_literals;

StatusPoll Poll(Millis first = 1000ms, Millis max = 4000ms, Millis max_retry_after = 3'600'000ms) {
  return StatusPoll(first, max, max_retry_after, StatusPoll::Clock::now() + 1h);
}

TEST(StatusPoll, WithoutRetryAfterTheIntervalGrowsByHalfUpToItsCap) {
  StatusPoll p = Poll();
  EXPECT_EQ(p.NextWait(std::nullopt), 1000ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 1500ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 2250ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 3375ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 4000ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 4000ms);
}

TEST(StatusPoll, RetryAfterSecondsWinsAndDoesNotGrowTheInterval) {
  StatusPoll p = Poll();
  EXPECT_EQ(p.NextWait("7"), 7000ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 1000ms);
}

TEST(StatusPoll, RetryAfterHttpDateIsHonoured) {
  StatusPoll p = Poll();
  // A date in the past means "now": the shortest wait.
  EXPECT_EQ(p.NextWait("Wed, 21 Oct 2015 07:28:00 GMT"), 50ms);
}

TEST(StatusPoll, UnparseableRetryAfterFallsBackToTheInterval) {
  StatusPoll p = Poll();
  EXPECT_EQ(p.NextWait("soon"), 1000ms);
  EXPECT_EQ(p.NextWait("soon"), 1500ms);
}

TEST(StatusPoll, WaitsAreClampedBetween50msAndMaxRetryAfter) {
  StatusPoll p = Poll(10ms, 10ms, 5000ms);
  EXPECT_EQ(p.NextWait(std::nullopt), 50ms);
  EXPECT_EQ(p.NextWait("0"), 50ms);
  EXPECT_EQ(p.NextWait("3600"), 5000ms);
}

TEST(StatusPoll, RestartGoesBackToTheFirstInterval) {
  StatusPoll p = Poll();
  p.NextWait(std::nullopt);
  p.NextWait(std::nullopt);
  p.Restart();
  EXPECT_EQ(p.NextWait(std::nullopt), 1000ms);
}

TEST(StatusPoll, AWaitEndingAfterTheDeadlineIsPastIt) {
  const auto now = StatusPoll::Clock::now();
  StatusPoll p(1000ms, 1000ms, 3'600'000ms, now + 10s);
  EXPECT_FALSE(p.PastDeadline(9s, now));
  EXPECT_FALSE(p.PastDeadline(10s, now));
  EXPECT_TRUE(p.PastDeadline(11s, now));
}

TEST(StatusPoll, WaitStopsEarlyWhenAskedTo) {
  std::atomic<bool> stop{true};
  const auto started = StatusPoll::Clock::now();
  EXPECT_FALSE(StatusPoll::Wait(10s, &stop));
  EXPECT_LT(StatusPoll::Clock::now() - started, 1s);
}

TEST(StatusPoll, WaitRunsToItsEndWithoutAStop) {
  std::atomic<bool> stop{false};
  const auto started = StatusPoll::Clock::now();
  EXPECT_TRUE(StatusPoll::Wait(60ms, &stop));
  EXPECT_GE(StatusPoll::Clock::now() - started, 60ms);
  EXPECT_TRUE(StatusPoll::Wait(0ms, nullptr));
}

}  // namespace
}  // namespace fhirlake::bulk
