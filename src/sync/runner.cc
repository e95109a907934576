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

#include "fhirlake/bulk/export_log.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/sync/export_load.h"
#include "fhirlake/sync/maintenance.h"
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

namespace {

// One run of RunSync, as its steps. Each step returns a status; a failure of the source or
// the warehouse is recorded in the state (RecordError) and `kind` says which it was.
class SyncRun {
 public:
  SyncRun(const SyncOptions& o, bulk::ExportObserver* observer, FailureKind* kind)
      : o_(o), observer_(observer), kind_(kind), state_(o.warehouse) {}

  Result<SyncSummary> Run() {
    const auto started = std::chrono::steady_clock::now();
    *kind_ = FailureKind::kConfig;
    FHIRLAKE_RETURN_IF_ERROR(CheckOptions());
    FHIRLAKE_RETURN_IF_ERROR(ReadEntry());
    LockGuard lock;
    FHIRLAKE_RETURN_IF_ERROR(LockKey(lock));
    FHIRLAKE_RETURN_IF_ERROR(ResumeOrStartInFlight());
    if (Stopping()) return Stopped("stopped before the export");
    Phase("export");
    ExportLoad pipeline(PipelineOptions());
    auto exported = Export(pipeline);
    if (!exported.ok()) return exported.status();
    Phase("load");
    FHIRLAKE_RETURN_IF_ERROR(Load(pipeline, *exported));
    store::CrashPoint("after-load");
    Phase("archive");
    FHIRLAKE_RETURN_IF_ERROR(Archive());
    store::CrashPoint("after-archive");
    FHIRLAKE_RETURN_IF_ERROR(AdvanceState());
    store::CrashPoint("after-state");
    Maintain();
    PruneArchive();
    summary_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    *kind_ = FailureKind::kNone;
    return summary_;
  }

 private:
  // Closes the advisory lock's file (which releases the lock) when the run returns.
  struct LockGuard {
    int fd = -1;
    ~LockGuard() {
      if (fd >= 0) ::close(fd);
    }
  };

  void Phase(std::string_view name) const {
    if (o_.on_phase) o_.on_phase(name);
  }
  bool Stopping() const { return o_.stop && o_.stop->load(); }
  Status Stopped(std::string message) const {
    *kind_ = FailureKind::kNone;
    return Cancelled(std::move(message));
  }

  // Records the failure as the entry's lastError (the last success is kept).
  Status RecordError(FailureKind k, const Status& s) {
    *kind_ = k;
    entry_.last_error = s.message();
    entry_.last_error_at = fhir::FormatInstant(fhir::NowMicros());
    Status written = state_.Put(summary_.key, entry_);
    return written.ok() ? s : Status(s.code(), s.message() + " (and the state could not be written: " + written.message() + ")");
  }

  Status CheckOptions() const {
    if (o_.source.empty()) return InvalidArgument("no source: give --source (or FHIRLAKE_SOURCE, or \"source\" in the config file)");
    if (o_.warehouse.empty()) return InvalidArgument("no warehouse: give --warehouse (or FHIRLAKE_WAREHOUSE, or \"warehouse\")");
    if (o_.since && !fhir::ParseFhirTime(*o_.since)) return InvalidArgument("--since '" + *o_.since + "' is not a FHIR instant");
    return Status::Ok();
  }

  // The state's entry for this source + group + types.
  Status ReadEntry() {
    summary_.key = SyncKey(o_.source, o_.group, o_.types);
    auto entries = state_.Read();
    if (!entries.ok()) return entries.status();
    entry_ = (*entries)[summary_.key];
    entry_.source = o_.source;
    entry_.group = o_.group;
    entry_.types = o_.types;
    std::sort(entry_.types.begin(), entry_.types.end());
    inflight_dir_ = o_.warehouse / "_fhirlake" / "inflight" / KeyHash(summary_.key);
    return Status::Ok();
  }

  // One run at a time per key: an advisory lock held until this process ends or returns.
  Status LockKey(LockGuard& lock) {
    std::error_code mk;
    fs::create_directories(inflight_dir_.parent_path(), mk);
    const std::string lock_path = inflight_dir_.string() + ".lock";
    lock.fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock.fd < 0) return IoError("cannot create " + lock_path + ": " + std::strerror(errno));
    if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0) {
      *kind_ = FailureKind::kLoad;
      return Status(StatusCode::kConflict, "another sync of " + o_.source + " into " + o_.warehouse.string() +
                                               " is running; try again when it has finished");
    }
    return Status::Ok();
  }

  // The export: resume the one in flight when it asked for the same thing, else start anew.
  Status ResumeOrStartInFlight() {
    summary_.full_refresh = o_.full_refresh;
    summary_.since = o_.since ? *o_.since : (o_.full_refresh ? "" : entry_.transaction_time);
    std::error_code ec;
    if (entry_.in_flight && fs::exists(inflight_dir_, ec) && entry_.in_flight->since == summary_.since &&
        entry_.in_flight->full_refresh == o_.full_refresh) {
      summary_.resumed = true;
    } else {
      fs::remove_all(inflight_dir_, ec);
      entry_.in_flight = InFlight{inflight_dir_.string(), summary_.since, o_.full_refresh,
                                  fhir::FormatInstant(fhir::NowMicros()), ""};
      FHIRLAKE_RETURN_IF_ERROR(state_.Put(summary_.key, entry_));
    }
    fs::create_directories(inflight_dir_, ec);
    return Status::Ok();
  }

  // The export (with _since) into the in-flight directory, then a merge (overwrite for a full
  // refresh) with this export's txn in every commit.
  ExportLoadOptions PipelineOptions() const {
    ExportLoadOptions pipeline_options;
    bulk::ExportOptions& eo = pipeline_options.export_options;
    eo = o_.export_options;
    eo.base_url = o_.source;
    eo.out_dir = inflight_dir_;
    eo.parameters.types = o_.types;
    if (!o_.group.empty()) {
      eo.parameters.level = bulk::ExportLevel::kGroup;
      eo.parameters.group_id = o_.group;
    }
    if (!summary_.since.empty()) eo.parameters.since = summary_.since;
    eo.stop = o_.stop;  // a stop request interrupts the wait and the downloads; the next run resumes
    load::LoadOptions& lo = pipeline_options.load_options;
    lo = o_.load_options;
    lo.warehouse = o_.warehouse;
    lo.mode = o_.full_refresh ? load::SaveMode::kOverwrite : load::SaveMode::kMerge;
    lo.types = o_.types;
    pipeline_options.txn_app_id = "fhirlake-sync-" + KeyHash(summary_.key);
    return pipeline_options;
  }

  Result<bulk::ExportSummary> Export(ExportLoad& pipeline) {
    CrashPoints observer(observer_);
    auto exported = pipeline.Export(&observer);
    if (!exported.ok() && Stopping()) return Stopped("stopped during the export; the next run resumes it");
    if (!exported.ok() && exported.status().code() == StatusCode::kNetwork) {
      return RecordError(FailureKind::kSource, NetworkError(exported.status().message() + "; run again to resume"));
    }
    if (!exported.ok()) return RecordError(FailureKind::kSource, exported.status());
    summary_.exported = *exported;
    summary_.transaction_time = exported->transaction_time;
    if (summary_.transaction_time.empty() || !fhir::ParseFhirTime(summary_.transaction_time)) {
      return RecordError(FailureKind::kSource, DataLoss("the export's manifest has no valid transactionTime"));
    }
    if (entry_.in_flight->status_url.empty()) {
      entry_.in_flight->status_url = exported->status_url;
      FHIRLAKE_RETURN_IF_ERROR(state_.Put(summary_.key, entry_));
    }
    store::CrashPoint("after-export");
    if (Stopping()) return Stopped("stopped after the export; the next run loads it");
    return exported;
  }

  Status Load(const ExportLoad& pipeline, const bulk::ExportSummary& exported) {
    auto loaded = pipeline.Load(exported);
    if (!loaded.ok()) return RecordError(FailureKind::kLoad, loaded.status());
    summary_.tables = loaded->tables;
    summary_.bad_lines = loaded->bad_lines;
    for (const auto& t : loaded->tables) {
      summary_.rows += t.rows;
      summary_.inserted += t.inserted;
      summary_.updated += t.updated;
      summary_.deleted += t.deleted;
    }
    return Status::Ok();
  }

  // The finished export moves to ARCHIVE/<transactionTime>/ (-2, -3, ... when taken).
  Status Archive() {
    archive_ = o_.archive.empty() ? o_.warehouse / "_exports" : o_.archive;
    std::error_code ec;
    fs::create_directories(archive_, ec);
    fs::path target = archive_ / DirName(summary_.transaction_time);
    for (int n = 2; fs::exists(target, ec); ++n) target = archive_ / (DirName(summary_.transaction_time) + "-" + std::to_string(n));
    fs::rename(inflight_dir_, target, ec);
    if (ec) return RecordError(FailureKind::kLoad, IoError("cannot archive the export to " + target.string() + ": " + ec.message()));
    summary_.archived_to = target;
    return Status::Ok();
  }

  // Last: the next run's _since is this export's transactionTime.
  Status AdvanceState() {
    entry_.transaction_time = summary_.transaction_time;
    entry_.last_success = fhir::FormatInstant(fhir::NowMicros());
    entry_.last_error.clear();
    entry_.last_error_at.clear();
    entry_.in_flight.reset();
    Status written = state_.Put(summary_.key, entry_);
    if (!written.ok()) return RecordError(FailureKind::kLoad, written);
    return Status::Ok();
  }

  // Table maintenance after the load, on the run's policy. A table not maintained now is by
  // the next run or `fhirlake maintain`, so a failure does not fail the sync; it is reported
  // (the summary, and the archived export's log.ndjson) with the table it concerns.
  void Maintain() {
    if (!o_.maintenance.enabled) return;
    MaintenancePolicy policy = o_.maintenance;
    policy.compaction.schema = o_.load_options.schema;  // compaction writes the loads' schema
    bulk::ExportLog log(summary_.archived_to / "log.ndjson");
    log.set_export_id(summary_.exported.status_url);
    for (const auto& t : summary_.tables) {
      if (Stopping()) break;
      TableMaintenance done = MaintainTable(o_.warehouse, t.type, policy);
      log.Event(done.status.ok() ? "maintenance" : "maintenance_error", MaintenanceJson(done));
      summary_.maintenance.push_back(std::move(done));
    }
  }

  // --keep N: only the newest N archived exports stay.
  void PruneArchive() const {
    if (o_.keep <= 0) return;
    std::error_code ec;
    auto archived = ArchivedExports(archive_);
    for (size_t i = 0; i + static_cast<size_t>(o_.keep) < archived.size(); ++i) fs::remove_all(archived[i], ec);
  }

  const SyncOptions& o_;
  bulk::ExportObserver* observer_;
  FailureKind* kind_;
  StateFile state_;
  SyncEntry entry_;
  SyncSummary summary_;
  fs::path inflight_dir_;
  fs::path archive_;
};

}  // namespace

Result<SyncSummary> RunSync(const SyncOptions& o, bulk::ExportObserver* observer, FailureKind* kind) {
  return SyncRun(o, observer, kind).Run();
}

}  // namespace fhirlake::sync
