// When and how long to wait before trying a request again: 429, transient 5xx and transport
// errors are retried with capped exponential backoff, and a server's Retry-After wins when it
// asks for longer.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace fhirlake::http {

using Millis = std::chrono::milliseconds;

struct RetryPolicy {
  int max_attempts = 6;          // first try included
  Millis base_delay{500};        // delay before the 2nd attempt
  Millis max_delay{60'000};      // cap for the exponential part and for Retry-After
  // Returns the delay before attempt number `next_attempt` (2 for the first retry), honouring
  // a server-provided Retry-After (capped at max_delay).
  Millis DelayBefore(int next_attempt, std::optional<Millis> retry_after) const;
  bool CanRetry(int attempts_made) const { return attempts_made < max_attempts; }
};

// 408, 429, 500, 502, 503, 504: worth another try.
bool IsRetryableStatus(long http_status);

// Parses a Retry-After value: delta-seconds or an HTTP-date (RFC 9110 §10.2.3; Bulk Data IG
// status requests may use either). Returns nullopt for anything else. Dates in the past give 0.
std::optional<Millis> ParseRetryAfter(std::string_view value,
                                      std::chrono::system_clock::time_point now =
                                          std::chrono::system_clock::now());

}  // namespace fhirlake::http
