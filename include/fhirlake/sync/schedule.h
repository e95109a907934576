// Scheduled syncs: `--every DURATION` or `--cron "m h dom mon dow"` (UTC), with an optional
// full-refresh cron, one run at a time (the next starts after the current one ends), and a
// stop flag (SIGTERM/SIGINT) honoured between steps. SyncMetrics counts what happened for
// /health and /metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"
#include "fhirlake/sync/runner.h"

namespace fhirlake::sync {

// A standard five-field cron expression: minute hour day-of-month month day-of-week, each
// `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those. Day of week
// 0-7 (0 and 7 are Sunday). As in cron, when both day fields are restricted, either matches.
class CronSchedule {
 public:
  static Result<CronSchedule> Parse(std::string_view text);
  // The first matching minute strictly after `after` (UTC), in micros since the epoch.
  int64_t Next(int64_t after_micros) const;

 private:
  std::vector<bool> minute_, hour_, dom_, month_, dow_;
  bool dom_any_ = true, dow_any_ = true;
};

class SyncMetrics {
 public:
  void RunStarted();
  void RunFinished(const Result<SyncSummary>& result, double seconds);
  // The last success before this process (from the warehouse's state), so that a restarted
  // schedule is as fresh as that until its own first run ends.
  void RememberSuccess(int64_t micros_since_epoch, std::string transaction_time);

  // 200 and a JSON body when the last success is younger than `max_lag`, else 503.
  std::pair<int, std::string> Health(std::chrono::milliseconds max_lag) const;
  // Prometheus text exposition format.
  std::string Prometheus() const;

 private:
  mutable std::mutex mu_;
  uint64_t runs_ = 0, failures_ = 0, inserted_ = 0, updated_ = 0, deleted_ = 0, bytes_ = 0, resources_ = 0;
  double last_seconds_ = 0;
  int64_t last_success_us_ = 0, last_failure_us_ = 0, started_us_ = 0;
  std::string last_error_, last_transaction_time_;
  bool running_ = false;
};

struct ScheduleOptions {
  std::optional<std::chrono::milliseconds> every;
  std::optional<CronSchedule> cron;
  std::optional<CronSchedule> full_refresh_cron;
};

// Runs `base` on the schedule until `stop` is set; each run's result goes to `metrics` and to
// `on_result`. Returns when stopped (after the current run).
void RunSchedule(const ScheduleOptions& schedule, SyncOptions base, bulk::ExportObserver* observer, SyncMetrics& metrics,
                 const std::atomic<bool>& stop,
                 const std::function<void(const Result<SyncSummary>&, FailureKind)>& on_result);

}  // namespace fhirlake::sync
