#include "fhirlake/bulk/status_poll.h"

#include <algorithm>
#include <thread>

namespace fhirlake::bulk {

StatusPoll::StatusPoll(http::Millis interval, http::Millis interval_max, http::Millis max_retry_after,
                       Clock::time_point deadline)
    : first_(interval), interval_max_(interval_max), max_retry_after_(max_retry_after), deadline_(deadline),
      interval_(interval) {}

http::Millis StatusPoll::NextWait(std::optional<std::string_view> retry_after) {
  std::optional<http::Millis> wait;
  if (retry_after) wait = http::ParseRetryAfter(*retry_after);
  if (!wait) {
    wait = interval_;
    interval_ = std::min(interval_max_, http::Millis(interval_.count() * 3 / 2));
  }
  return std::clamp(*wait, http::Millis(50), max_retry_after_);
}

bool StatusPoll::Wait(http::Millis wait, const std::atomic<bool>* stop) {
  for (auto until = Clock::now() + wait; Clock::now() < until;) {
    if (stop && stop->load()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
  }
  return true;
}

}  // namespace fhirlake::bulk
