#include "fhirlake/http/retry_policy.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace fhirlake::http {

Millis RetryPolicy::DelayBefore(int next_attempt, std::optional<Millis> retry_after) const {
  int exponent = std::clamp(next_attempt - 2, 0, 30);
  long long backoff = base_delay.count();
  for (int i = 0; i < exponent && backoff < max_delay.count(); ++i) backoff *= 2;
  Millis delay{std::min<long long>(backoff, max_delay.count())};
  if (retry_after) delay = std::max(delay, std::min(*retry_after, max_delay));
  return delay;
}

bool IsRetryableStatus(long s) {
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

std::optional<Millis> ParseRetryAfter(std::string_view value,
                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    long long seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    constexpr long long kCentury = 100LL * 366 * 24 * 3600;  // beyond any wait; no overflow below
    return Millis(std::min(seconds, kCentury) * 1000);
  }
  // HTTP-date; curl_getdate understands IMF-fixdate and the obsolete forms.
  std::string owned(value);
  time_t when = curl_getdate(owned.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  auto target = std::chrono::system_clock::from_time_t(when);
  if (target <= now) return Millis(0);
  return std::chrono::duration_cast<Millis>(target - now);
}

}  // namespace fhirlake::http
