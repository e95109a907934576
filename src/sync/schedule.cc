#include "fhirlake/sync/schedule.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <ctime>
#include <thread>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/sync/state.h"

namespace fhirlake::sync {
namespace {

using nlohmann::json;

std::optional<int> Number(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// One field: `allowed[v - lo]` for every value it names.
Status ParseField(std::string_view text, int lo, int hi, std::vector<bool>& allowed, bool& any, const char* name) {
  allowed.assign(static_cast<size_t>(hi - lo + 1), false);
  any = text == "*";
  auto bad = [&] { return InvalidArgument(std::string("cron ") + name + " field '" + std::string(text) + "' is not valid"); };
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    int step = 1, from = lo, to = hi;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      auto s = Number(part.substr(slash + 1));
      if (!s || *s <= 0) return bad();
      step = *s;
      part = part.substr(0, slash);
    }
    if (part != "*") {
      size_t dash = part.find('-');
      auto a = Number(part.substr(0, dash));
      auto b = dash == std::string_view::npos ? a : Number(part.substr(dash + 1));
      if (!a || !b || *a < lo || *b > hi || *a > *b) return bad();
      from = *a;
      to = dash == std::string_view::npos && step > 1 ? hi : *b;
    }
    for (int v = from; v <= to; v += step) allowed[static_cast<size_t>(v - lo)] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return Status::Ok();
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) fields.push_back(text.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) return InvalidArgument("a cron expression has five fields (minute hour day month weekday): '" + std::string(text) + "'");
  CronSchedule c;
  bool unused = false;
  FHIRLAKE_RETURN_IF_ERROR(ParseField(fields[0], 0, 59, c.minute_, unused, "minute"));
  FHIRLAKE_RETURN_IF_ERROR(ParseField(fields[1], 0, 23, c.hour_, unused, "hour"));
  FHIRLAKE_RETURN_IF_ERROR(ParseField(fields[2], 1, 31, c.dom_, c.dom_any_, "day-of-month"));
  FHIRLAKE_RETURN_IF_ERROR(ParseField(fields[3], 1, 12, c.month_, unused, "month"));
  FHIRLAKE_RETURN_IF_ERROR(ParseField(fields[4], 0, 7, c.dow_, c.dow_any_, "day-of-week"));
  if (c.dow_[7]) c.dow_[0] = true;  // 7 is Sunday too
  return c;
}

int64_t CronSchedule::Next(int64_t after_micros) const {
  int64_t t = (after_micros / 60'000'000 + 1) * 60;  // the next whole minute, in seconds
  for (int guard = 0; guard < 60 * 24 * 366 * 5; ++guard, t += 60) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    if (!month_[static_cast<size_t>(tm.tm_mon)]) {  // skip to the next month
      tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
      ++tm.tm_mon;
      t = static_cast<int64_t>(timegm(&tm)) - 60;
      continue;
    }
    bool dom = dom_[static_cast<size_t>(tm.tm_mday - 1)], dow = dow_[static_cast<size_t>(tm.tm_wday)];
    bool day = dom_any_ ? dow : dow_any_ ? dom : (dom || dow);
    if (!day) {  // skip to the next day
      t += (24 * 60 - tm.tm_hour * 60 - tm.tm_min - 1) * 60;
      continue;
    }
    if (!hour_[static_cast<size_t>(tm.tm_hour)]) {
      t += (60 - tm.tm_min - 1) * 60;
      continue;
    }
    if (minute_[static_cast<size_t>(tm.tm_min)]) return t * 1'000'000;
  }
  return INT64_MAX;
}

void SyncMetrics::RunStarted() {
  std::lock_guard lock(mu_);
  running_ = true;
  if (started_us_ == 0) started_us_ = fhir::NowMicros();
}

void SyncMetrics::RunFinished(const Result<SyncSummary>& r, double seconds) {
  std::lock_guard lock(mu_);
  running_ = false;
  if (!r.ok() && r.status().code() == StatusCode::kCancelled) return;  // stopped, not failed
  ++runs_;
  last_seconds_ = seconds;
  if (r.ok()) {
    last_success_us_ = fhir::NowMicros();
    inserted_ += r->inserted;
    updated_ += r->updated;
    deleted_ += r->deleted;
    bytes_ += r->exported.bytes;
    resources_ += r->exported.resources;
    last_transaction_time_ = r->transaction_time;
  } else {
    ++failures_;
    last_failure_us_ = fhir::NowMicros();
    last_error_ = r.status().message();
  }
}

void SyncMetrics::RememberSuccess(int64_t micros_since_epoch, std::string transaction_time) {
  std::lock_guard lock(mu_);
  if (micros_since_epoch <= last_success_us_) return;
  last_success_us_ = micros_since_epoch;
  last_transaction_time_ = std::move(transaction_time);
}

std::pair<int, std::string> SyncMetrics::Health(std::chrono::milliseconds max_lag) const {
  std::lock_guard lock(mu_);
  const int64_t now = fhir::NowMicros();
  const bool fresh = last_success_us_ > 0 && now - last_success_us_ <= max_lag.count() * 1000;
  json body = {{"status", fresh ? "ok" : "stale"},
               {"lastSuccess", last_success_us_ ? fhir::FormatInstant(last_success_us_) : ""},
               {"lastTransactionTime", last_transaction_time_},
               {"lagSeconds", last_success_us_ ? json((now - last_success_us_) / 1e6) : json(nullptr)},
               {"maxLagSeconds", static_cast<double>(max_lag.count()) / 1000.0},
               {"running", running_},
               {"runs", runs_},
               {"failures", failures_},
               {"lastError", last_error_},
               {"lastErrorAt", last_failure_us_ ? fhir::FormatInstant(last_failure_us_) : ""}};
  return {fresh ? 200 : 503, body.dump()};
}

std::string SyncMetrics::Prometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + buf + "\n";
  };
  const int64_t now = fhir::NowMicros();
  metric("fhirlake_sync_runs_total", "counter", "Sync runs finished.", static_cast<double>(runs_));
  metric("fhirlake_sync_failures_total", "counter", "Sync runs that failed.", static_cast<double>(failures_));
  metric("fhirlake_sync_rows_inserted_total", "counter", "Rows inserted by syncs.", static_cast<double>(inserted_));
  metric("fhirlake_sync_rows_updated_total", "counter", "Rows updated by syncs.", static_cast<double>(updated_));
  metric("fhirlake_sync_rows_deleted_total", "counter", "Rows deleted by syncs.", static_cast<double>(deleted_));
  metric("fhirlake_sync_bytes_total", "counter", "NDJSON bytes exported by syncs.", static_cast<double>(bytes_));
  metric("fhirlake_sync_resources_total", "counter", "Resources exported by syncs.", static_cast<double>(resources_));
  metric("fhirlake_sync_last_duration_seconds", "gauge", "Duration of the last sync run.", last_seconds_);
  metric("fhirlake_sync_last_success_timestamp_seconds", "gauge", "When the last sync succeeded (0: never).",
         static_cast<double>(last_success_us_) / 1e6);
  metric("fhirlake_sync_lag_seconds", "gauge", "Seconds since the last successful sync (since start if none).",
         static_cast<double>(now - (last_success_us_ ? last_success_us_ : started_us_ ? started_us_ : now)) / 1e6);
  metric("fhirlake_sync_running", "gauge", "1 while a sync runs.", running_ ? 1 : 0);
  return out;
}

void RunSchedule(const ScheduleOptions& schedule, SyncOptions base, bulk::ExportObserver* observer, SyncMetrics& metrics,
                 const std::atomic<bool>& stop,
                 const std::function<void(const Result<SyncSummary>&, FailureKind)>& on_result) {
  base.stop = &stop;
  if (auto entries = StateFile(base.warehouse).Read(); entries.ok()) {
    auto it = entries->find(SyncKey(base.source, base.group, base.types));
    if (it != entries->end()) {
      if (auto at = fhir::ParseFhirTime(it->second.last_success)) metrics.RememberSuccess(*at, it->second.transaction_time);
    }
  }  // an unreadable state fails the first run, which says why
  int64_t next_run = fhir::NowMicros();  // the first run starts at once
  int64_t next_full = schedule.full_refresh_cron ? schedule.full_refresh_cron->Next(next_run) : INT64_MAX;
  while (!stop) {
    while (!stop && fhir::NowMicros() < next_run) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (stop) break;
    const int64_t started = fhir::NowMicros();
    SyncOptions o = base;
    const bool full = base.full_refresh || started >= next_full;
    o.full_refresh = full;
    metrics.RunStarted();
    FailureKind kind = FailureKind::kNone;
    auto result = RunSync(o, observer, &kind);
    metrics.RunFinished(result, static_cast<double>(fhir::NowMicros() - started) / 1e6);
    if (on_result) on_result(result, kind);
    if (full && result.ok() && schedule.full_refresh_cron) next_full = schedule.full_refresh_cron->Next(fhir::NowMicros());
    if (schedule.every) {
      next_run = started + schedule.every->count() * 1000;
    } else if (schedule.cron) {
      next_run = schedule.cron->Next(fhir::NowMicros());
    } else {
      break;
    }
  }
}

}  // namespace fhirlake::sync
