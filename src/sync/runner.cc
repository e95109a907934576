#include "fhirlake/sync/runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "fhirlake/delta/maintenance.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/sync/state.h"

namespace fhirlake::sync {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string KeyHash(const std::string& key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// "2026-11-23T08:45:00.123Z" → "2026-11-23T08-45-00.123Z" (a portable directory name).
std::string DirName(std::string tt) {
  for (char& c : tt) {
    if (c == ':' || c == '/' || c == '\\') c = '-';
  }
  return tt;
}

// Forwards export progress and crashes at the test hooks' export steps.
class CrashPoints : public bulk::ExportObserver {
 public:
  explicit CrashPoints(bulk::ExportObserver* inner) : inner_(inner) {}
  void OnPhase(std::string_view phase) override {
    if (phase == "waiting") store::CrashPoint("export-waiting");
    if (inner_) inner_->OnPhase(phase);
  }
  void OnServerProgress(std::string_view text) override {
    if (inner_) inner_->OnServerProgress(text);
  }
  void OnDownloadsPlanned(const std::vector<http::DownloadTask>& tasks) override {
    if (inner_) inner_->OnDownloadsPlanned(tasks);
  }
  void OnNotice(std::string_view text) override {
    if (inner_) inner_->OnNotice(text);
  }
  void OnRequest(size_t index, const http::DownloadTask& t, uint64_t from) override {
    if (inner_) inner_->OnRequest(index, t, from);
  }
  void OnBytes(uint64_t n) override {
    if (!downloading_) {
      downloading_ = true;
      store::CrashPoint("export-downloading");
    }
    if (inner_) inner_->OnBytes(n);
  }
  void OnRetry(size_t index, const http::DownloadTask& t, const std::string& reason, http::Millis delay) override {
    if (inner_) inner_->OnRetry(index, t, reason, delay);
  }
  void OnFinished(size_t index, const http::DownloadTask& t, const http::DownloadResult& r) override {
    if (inner_) inner_->OnFinished(index, t, r);
  }
  void OnTick() override {
    if (inner_) inner_->OnTick();
  }

 private:
  bulk::ExportObserver* inner_;
  bool downloading_ = false;
};

}  // namespace

std::vector<fs::path> ArchivedExports(const fs::path& archive) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(archive, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "manifest.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<SyncSummary> RunSync(const SyncOptions& o, bulk::ExportObserver* user_observer, FailureKind* kind) {
  auto phase = [&](std::string_view name) {
    if (o.on_phase) o.on_phase(name);
  };
  *kind = FailureKind::kConfig;
  auto started = std::chrono::steady_clock::now();
  if (o.source.empty()) return InvalidArgument("no source: give --source (or FHIRLAKE_SOURCE, or \"source\" in the config file)");
  if (o.warehouse.empty()) return InvalidArgument("no warehouse: give --warehouse (or FHIRLAKE_WAREHOUSE, or \"warehouse\")");
  if (o.since && !fhir::ParseFhirTime(*o.since)) return InvalidArgument("--since '" + *o.since + "' is not a FHIR instant");

  SyncSummary summary;
  summary.key = SyncKey(o.source, o.group, o.types);
  StateFile state(o.warehouse);
  auto entries = state.Read();
  if (!entries.ok()) return entries.status();
  SyncEntry entry = (*entries)[summary.key];
  entry.source = o.source;
  entry.group = o.group;
  entry.types = o.types;
  std::sort(entry.types.begin(), entry.types.end());

  auto record_error = [&](FailureKind k, const Status& s) -> Status {
    *kind = k;
    entry.last_error = s.message();
    entry.last_error_at = fhir::FormatInstant(fhir::NowMicros());
    Status written = state.Put(summary.key, entry);
    return written.ok() ? s : Status(s.code(), s.message() + " (and the state could not be written: " + written.message() + ")");
  };

  // One run at a time per key: an advisory lock held until this process ends or returns.
  const fs::path inflight_dir = o.warehouse / "_fhirlake" / "inflight" / KeyHash(summary.key);
  std::error_code mk;
  fs::create_directories(inflight_dir.parent_path(), mk);
  const std::string lock_path = inflight_dir.string() + ".lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return IoError("cannot create " + lock_path + ": " + std::strerror(errno));
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); }
  } lock_guard{lock_fd};
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    *kind = FailureKind::kLoad;
    return Status(StatusCode::kConflict, "another sync of " + o.source + " into " + o.warehouse.string() +
                                             " is running; try again when it has finished");
  }

  // The export: resume the one in flight when it asked for the same thing, else start anew.
  summary.full_refresh = o.full_refresh;
  summary.since = o.since ? *o.since : (o.full_refresh ? "" : entry.transaction_time);
  std::error_code ec;
  if (entry.in_flight && fs::exists(inflight_dir, ec) && entry.in_flight->since == summary.since &&
      entry.in_flight->full_refresh == o.full_refresh) {
    summary.resumed = true;
  } else {
    fs::remove_all(inflight_dir, ec);
    entry.in_flight = InFlight{inflight_dir.string(), summary.since, o.full_refresh,
                               fhir::FormatInstant(fhir::NowMicros()), ""};
    FHIRLAKE_RETURN_IF_ERROR(state.Put(summary.key, entry));
  }
  fs::create_directories(inflight_dir, ec);

  auto stopping = [&] { return o.stop && o.stop->load(); };
  if (stopping()) {
    *kind = FailureKind::kNone;
    return Cancelled("stopped before the export");
  }
  CrashPoints observer(user_observer);
  phase("export");
  bulk::ExportOptions eo = o.export_options;
  eo.base_url = o.source;
  eo.out_dir = inflight_dir;
  eo.parameters.types = o.types;
  if (!o.group.empty()) {
    eo.parameters.level = bulk::ExportLevel::kGroup;
    eo.parameters.group_id = o.group;
  }
  if (!summary.since.empty()) eo.parameters.since = summary.since;
  eo.stop = o.stop;  // a stop request interrupts the wait and the downloads; the next run resumes
  bulk::ExportClient exporter(eo);
  auto exported = exporter.Run(&observer);
  if (!exported.ok() && stopping()) {
    *kind = FailureKind::kNone;
    return Cancelled("stopped during the export; the next run resumes it");
  }
  if (!exported.ok()) return record_error(FailureKind::kSource, exported.status());
  if (!exported->complete()) {
    return record_error(FailureKind::kSource,
                        NetworkError(std::to_string(exported->failures.size()) + " of " +
                                     std::to_string(exported->files) + " files could not be downloaded (first: " +
                                     exported->failures[0] + "); run again to resume"));
  }
  summary.exported = *exported;
  summary.transaction_time = exported->transaction_time;
  if (summary.transaction_time.empty() || !fhir::ParseFhirTime(summary.transaction_time)) {
    return record_error(FailureKind::kSource, DataLoss("the export's manifest has no valid transactionTime"));
  }
  if (entry.in_flight->status_url.empty()) {
    entry.in_flight->status_url = exported->status_url;
    FHIRLAKE_RETURN_IF_ERROR(state.Put(summary.key, entry));
  }
  store::CrashPoint("after-export");
  if (stopping()) {
    *kind = FailureKind::kNone;
    return Cancelled("stopped after the export; the next run loads it");
  }

  // The load: merge (overwrite for a full refresh), with this export's txn in every commit.
  phase("load");
  load::LoadOptions lo = o.load_options;
  lo.export_dir = inflight_dir;
  lo.warehouse = o.warehouse;
  lo.mode = o.full_refresh ? load::SaveMode::kOverwrite : load::SaveMode::kMerge;
  lo.types = o.types;
  lo.txn = std::make_pair("fhirlake-sync-" + KeyHash(summary.key), *fhir::ParseFhirTime(summary.transaction_time));
  auto loaded = load::Load(lo);
  if (!loaded.ok()) return record_error(FailureKind::kLoad, loaded.status());
  summary.tables = loaded->tables;
  summary.bad_lines = loaded->bad_lines;
  for (const auto& t : loaded->tables) {
    summary.rows += t.rows;
    summary.inserted += t.inserted;
    summary.updated += t.updated;
    summary.deleted += t.deleted;
  }
  store::CrashPoint("after-load");

  // Archive, then advance the state.
  phase("archive");
  const fs::path archive = o.archive.empty() ? o.warehouse / "_exports" : o.archive;
  fs::create_directories(archive, ec);
  fs::path target = archive / DirName(summary.transaction_time);
  for (int n = 2; fs::exists(target, ec); ++n) target = archive / (DirName(summary.transaction_time) + "-" + std::to_string(n));
  fs::rename(inflight_dir, target, ec);
  if (ec) return record_error(FailureKind::kLoad, IoError("cannot archive the export to " + target.string() + ": " + ec.message()));
  summary.archived_to = target;
  store::CrashPoint("after-archive");

  entry.transaction_time = summary.transaction_time;
  entry.last_success = fhir::FormatInstant(fhir::NowMicros());
  entry.last_error.clear();
  entry.last_error_at.clear();
  entry.in_flight.reset();
  Status written = state.Put(summary.key, entry);
  if (!written.ok()) return record_error(FailureKind::kLoad, written);
  store::CrashPoint("after-state");

  // Table maintenance after the load (vacuum, log cleanup; commits checkpoint themselves),
  // best effort: a table not maintained now is by the next run or `fhirlake maintain`.
  for (const auto& t : loaded->tables) {
    delta::MaintenancePolicy policy;
    policy.checkpoint = false;
    (void)delta::Maintain(o.warehouse / t.type, policy);
  }

  if (o.keep > 0) {
    auto archived = ArchivedExports(archive);
    for (size_t i = 0; i + static_cast<size_t>(o.keep) < archived.size(); ++i) fs::remove_all(archived[i], ec);
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  *kind = FailureKind::kNone;
  return summary;
}

}  // namespace fhirlake::sync
