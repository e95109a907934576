// bulk::StatusPoll: the rule for waiting on a Bulk Data export's status URL between polls
// (Bulk Data IG §5.3: a 202 may carry Retry-After, as delta-seconds or an HTTP-date, and
// X-Progress). ExportClient asks it how long to wait after each 202, whether that wait still
// ends before the deadline, and waits through it unless a stop is requested.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>

#include "fhirlake/http/retry_policy.h"

namespace fhirlake::bulk {

class StatusPoll {
 public:
  using Clock = std::chrono::steady_clock;

  // `interval`: the first wait without Retry-After, growing 1.5x per poll up to
  // `interval_max`; `max_retry_after`: the longest wait honoured; the whole wait ends by
  // `deadline`.
  StatusPoll(http::Millis interval, http::Millis interval_max, http::Millis max_retry_after,
             Clock::time_point deadline);

  // The wait before the next poll after a 202 whose Retry-After header is `retry_after`
  // (nullopt when absent). A parseable Retry-After wins; otherwise the growing interval. The
  // result is clamped to [50 ms, max_retry_after].
  http::Millis NextWait(std::optional<std::string_view> retry_after);

  // A new manifest page is polled from the first interval again.
  void Restart() { interval_ = first_; }

  // True when waiting `wait` from `now` would end after the deadline.
  bool PastDeadline(http::Millis wait, Clock::time_point now = Clock::now()) const { return now + wait > deadline_; }

  // Sleeps for `wait`, checking `stop` (may be null) every 50 ms. Returns false when a stop
  // was requested before the wait ended.
  static bool Wait(http::Millis wait, const std::atomic<bool>* stop);

 private:
  const http::Millis first_;
  const http::Millis interval_max_;
  const http::Millis max_retry_after_;
  const Clock::time_point deadline_;
  http::Millis interval_;
};

}  // namespace fhirlake::bulk
