#include "fhirlake/http/retry_policy.h"

#include <gtest/gtest.h>

namespace fhirlake::http {
namespace {

using std::chrono::system_clock;

TEST(RetryPolicy, BackoffDoublesAndIsCapped) {
  RetryPolicy p;
  p.base_delay = Millis(100);
  p.max_delay = Millis(1000);
  EXPECT_EQ(p.DelayBefore(2, std::nullopt), Millis(100));
  EXPECT_EQ(p.DelayBefore(3, std::nullopt), Millis(200));
  EXPECT_EQ(p.DelayBefore(4, std::nullopt), Millis(400));
  EXPECT_EQ(p.DelayBefore(10, std::nullopt), Millis(1000));
}

TEST(RetryPolicy, RetryAfterWinsWhenLongerButIsCapped) {
  RetryPolicy p;
  p.base_delay = Millis(100);
  p.max_delay = Millis(5000);
  EXPECT_EQ(p.DelayBefore(2, Millis(3000)), Millis(3000));
  EXPECT_EQ(p.DelayBefore(2, Millis(50)), Millis(100));
  EXPECT_EQ(p.DelayBefore(2, Millis(60000)), Millis(5000));
}

TEST(RetryPolicy, CountsAttempts) {
  RetryPolicy p;
  p.max_attempts = 3;
  EXPECT_TRUE(p.CanRetry(1));
  EXPECT_TRUE(p.CanRetry(2));
  EXPECT_FALSE(p.CanRetry(3));
}

TEST(RetryPolicy, RetryableStatuses) {
  for (long s : {408, 429, 500, 502, 503, 504}) EXPECT_TRUE(IsRetryableStatus(s)) << s;
  for (long s : {200, 202, 400, 401, 403, 404, 410, 501}) EXPECT_FALSE(IsRetryableStatus(s)) << s;
}

TEST(ParseRetryAfter, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("120"), Millis(120000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), Millis(0));
  // Huge values stay huge (the caller caps them), never wrap to a short or negative wait.
  EXPECT_GT(ParseRetryAfter("10000000000000000").value(), Millis(1000LL * 3600 * 24 * 365 * 50));
  EXPECT_GT(ParseRetryAfter("9223372036854775807").value(), Millis(0));
}

TEST(ParseRetryAfter, HttpDateRelativeToNow) {
  auto now = system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", now), Millis(30000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now), Millis(0));
}

TEST(ParseRetryAfter, RejectsGarbage) {
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_FALSE(ParseRetryAfter("soon").has_value());
  EXPECT_FALSE(ParseRetryAfter("-5").has_value());
  EXPECT_FALSE(ParseRetryAfter("1.5").has_value());
}

}  // namespace
}  // namespace fhirlake::http
