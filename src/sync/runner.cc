#include "fhirlake/sync/runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "fhirlake/bulk/export_log.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/load/tombstones.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/file_transfer.h"
#include "fhirlake/store/lease.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/sync/export_load.h"
#include "fhirlake/sync/maintenance.h"
#include "fhirlake/sync/state.h"

namespace fhirlake::sync {
namespace fs = std::filesystem;
using nlohmann::json;
using store::WarehouseLayout;

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

namespace {
constexpr std::string_view kOwnerPrefix = "fhirlake-sync-";
// In an object-store archive, the object by which one export claims its prefix (ArchiveToStore).
constexpr std::string_view kArchiveClaim = "fhirlake-archive-claim";

// Whether an archive whose files include `names` belongs to `owner` (or names no owner).
template <typename Names>
bool OwnedBy(const Names& names, const std::string& owner) {
  for (const std::string& name : names) {
    if (name.starts_with(kOwnerPrefix)) return name == ArchiveOwnerFile(owner);
  }
  return true;
}
}  // namespace

std::string ArchiveOwnerFile(const std::string& owner) { return std::string(kOwnerPrefix) + owner; }

std::vector<fs::path> ArchivedExports(const fs::path& archive, const std::string& owner) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(archive, ec)) {
    // A `.part` directory is a copy that an interrupted run left unfinished, no archive.
    if (!e.is_directory() || e.path().extension() == ".part" || !fs::exists(e.path() / "manifest.json")) continue;
    if (!owner.empty()) {
      std::vector<std::string> names;
      for (const auto& f : fs::directory_iterator(e.path(), ec)) names.push_back(f.path().filename().string());
      if (!OwnedBy(names, owner)) continue;
    }
    out.push_back(e.path());
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
      : o_(o), observer_(observer), kind_(kind), layout_(o.warehouse.string()) {}

  Result<SyncSummary> Run() {
    const auto started = std::chrono::steady_clock::now();
    *kind_ = FailureKind::kConfig;
    FHIRLAKE_RETURN_IF_ERROR(CheckOptions());
    FHIRLAKE_RETURN_IF_ERROR(OpenWarehouse());
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
    FHIRLAKE_RETURN_IF_ERROR(lock.Check());
    FHIRLAKE_RETURN_IF_ERROR(Load(pipeline, *exported));
    store::CrashPoint("after-load");
    Phase("archive");
    FHIRLAKE_RETURN_IF_ERROR(Archive());
    store::CrashPoint("after-archive");
    FHIRLAKE_RETURN_IF_ERROR(lock.Check());
    FHIRLAKE_RETURN_IF_ERROR(AdvanceState());
    store::CrashPoint("after-state");
    Maintain();
    PruneArchive();
    summary_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    *kind_ = FailureKind::kNone;
    return summary_;
  }

 private:
  // One run at a time: locally an advisory lock on a file (closing it releases the lock); on
  // an object store a lease, renewed by a thread of its own every third of its time to live
  // and released when the run returns.
  class LockGuard {
   public:
    ~LockGuard() {
      {
        std::lock_guard<std::mutex> l(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      if (renewer_.joinable()) renewer_.join();
      lease_.reset();  // releases it (best effort)
      if (fd_ >= 0) ::close(fd_);
    }
    void HoldFile(int fd) { fd_ = fd; }
    void HoldLease(std::unique_ptr<store::Lease> lease, std::chrono::milliseconds ttl) {
      lease_ = std::move(lease);
      renewer_ = std::thread([this, period = std::max(ttl / 3, std::chrono::milliseconds(100))] {
        std::unique_lock<std::mutex> l(mu_);
        while (!cv_.wait_for(l, period, [&] { return stop_; })) {
          Status renewed = lease_->Renew();
          if (renewed.code() == StatusCode::kConflict) {
            lost_ = renewed;
            return;
          }
        }
      });
    }
    // kConflict when the lease expired and another run took it over: this run must not write on.
    Status Check() {
      std::lock_guard<std::mutex> l(mu_);
      return lost_;
    }

   private:
    int fd_ = -1;
    std::unique_ptr<store::Lease> lease_;
    std::thread renewer_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    Status lost_;
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
    if (!state_) return s;
    Status written = state_->Put(summary_.key, entry_);
    return written.ok() ? s : Status(s.code(), s.message() + " (and the state could not be written: " + written.message() + ")");
  }

  Status CheckOptions() const {
    if (o_.source.empty()) return InvalidArgument("no source: give --source (or FHIRLAKE_SOURCE, or \"source\" in the config file)");
    if (o_.warehouse.empty()) return InvalidArgument("no warehouse: give --warehouse (or FHIRLAKE_WAREHOUSE, or \"warehouse\")");
    if (o_.since && !fhir::ParseFhirTime(*o_.since)) return InvalidArgument("--since '" + *o_.since + "' is not a FHIR instant");
    return Status::Ok();
  }

  // The warehouse's store (a directory or S3) and its state file.
  Status OpenWarehouse() {
    auto opened = store::OpenStore(o_.warehouse.string());
    if (!opened.ok()) return opened.status();
    store_ = std::move(opened.value());
    state_.emplace(store_);
    return Status::Ok();
  }

  // The state's entry for this source + group + types.
  Status ReadEntry() {
    summary_.key = SyncKey(o_.source, o_.group, o_.types);
    auto entries = state_->Read();
    if (!entries.ok()) return entries.status();
    entry_ = (*entries)[summary_.key];
    entry_.source = o_.source;
    entry_.group = o_.group;
    entry_.types = o_.types;
    std::sort(entry_.types.begin(), entry_.types.end());
    if (!layout_.is_s3()) {
      inflight_dir_ = layout_.Path(WarehouseLayout::kInflight) / KeyHash(summary_.key);
    } else {
      // An object store cannot hold a file being downloaded: the export in flight stays local.
      const fs::path work = !o_.work_dir.empty() ? o_.work_dir
                                                  : fs::temp_directory_path() / ("fhirlake-work-" + KeyHash(layout_.location()));
      inflight_dir_ = work / "inflight" / KeyHash(summary_.key);
    }
    return Status::Ok();
  }

  // One run at a time per key: an advisory lock held until this process ends or returns; on an
  // object store, where flock() cannot reach, a lease.
  Status LockKey(LockGuard& lock) {
    if (layout_.is_s3()) {
      char host[256] = "";
      ::gethostname(host, sizeof host - 1);
      store::LeaseOptions lease_options;
      lease_options.ttl = o_.lease_ttl;
      lease_options.owner = "fhirlake sync on " + std::string(host) + " (pid " + std::to_string(::getpid()) + ")";
      auto lease = store::Lease::Acquire(*store_, WarehouseLayout::SyncLock(KeyHash(summary_.key)), lease_options);
      if (lease.status().code() == StatusCode::kConflict) {
        *kind_ = FailureKind::kLoad;
        return Status(StatusCode::kConflict, "another sync of " + o_.source + " into " + layout_.location() +
                                                 " is running (" + lease.status().message() +
                                                 "); try again when it has finished");
      }
      if (!lease.ok()) return lease.status();
      lock.HoldLease(std::move(lease.value()), o_.lease_ttl);
      return Status::Ok();
    }
    std::error_code mk;
    fs::create_directories(inflight_dir_.parent_path(), mk);
    const std::string lock_path = inflight_dir_.string() + ".lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("cannot create " + lock_path + ": " + std::strerror(errno));
    lock.HoldFile(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
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
      fs::create_directories(inflight_dir_, ec);
      return Status::Ok();
    }
    return StartInFlight();
  }

  // A new export in flight: what an earlier one left is dropped.
  Status StartInFlight() {
    std::error_code ec;
    fs::remove_all(inflight_dir_, ec);
    entry_.in_flight = InFlight{inflight_dir_.string(), summary_.since, o_.full_refresh,
                                fhir::FormatInstant(fhir::NowMicros()), ""};
    FHIRLAKE_RETURN_IF_ERROR(state_->Put(summary_.key, entry_));
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
    lo.warehouse_store = store_;
    lo.mode = o_.full_refresh ? load::SaveMode::kOverwrite : load::SaveMode::kMerge;
    lo.overwrite_missing_types = o_.full_refresh;  // a type the source no longer has is emptied
    lo.types = o_.types;
    pipeline_options.txn_app_id = "fhirlake-sync-" + KeyHash(summary_.key);
    return pipeline_options;
  }

  Result<bulk::ExportSummary> Export(ExportLoad& pipeline) {
    CrashPoints observer(observer_);
    auto exported = pipeline.Export(&observer);
    // A resumed export the source no longer has (its status URL or files answer 404 or 410:
    // expired, or the source restarted) is not resumable: a new one asks for the same changes.
    // Nothing of it was loaded: loads start once every file is here.
    if (!exported.ok() && exported.status().code() == StatusCode::kNotFound && summary_.resumed && !Stopping()) {
      if (observer_) observer_->OnNotice("the export in flight is gone from the source (" + exported.status().message() +
                                         "); starting a new one");
      FHIRLAKE_RETURN_IF_ERROR(StartInFlight());
      summary_.resumed = false;
      exported = pipeline.Export(&observer);
    }
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
      FHIRLAKE_RETURN_IF_ERROR(state_->Put(summary_.key, entry_));
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

  // The finished export moves to ARCHIVE/<transactionTime>/ (-2, -3, ... when taken): a rename
  // when the archive is a directory, an upload when it is an object store (--archive s3://…, or
  // the _exports/ of an s3:// warehouse).
  Status Archive() {
    FHIRLAKE_RETURN_IF_ERROR(OpenArchive());
    // Which sync made it, for --keep in an archive that several syncs share.
    std::ofstream(inflight_dir_ / ArchiveOwnerFile(KeyHash(summary_.key)));
    if (archive_store_) return ArchiveToStore();
    std::error_code ec;
    fs::create_directories(archive_, ec);
    const auto manifest = store::ReadSmallFile(inflight_dir_ / "manifest.json");
    fs::path target = archive_ / DirName(summary_.transaction_time);
    for (int n = 2; fs::exists(target, ec); ++n) {
      // A run stopped after copying the export (another file system) but before removing the
      // in-flight copy: the archive holds it already.
      auto archived = store::ReadSmallFile(target / "manifest.json");
      if (manifest.ok() && archived.ok() && *archived == *manifest) {
        fs::remove_all(inflight_dir_, ec);
        summary_.archived_to = target;
        return Status::Ok();
      }
      target = archive_ / (DirName(summary_.transaction_time) + "-" + std::to_string(n));
    }
    fs::rename(inflight_dir_, target, ec);
    if (ec == std::errc::cross_device_link) {
      // Another file system: copied under a temporary name, renamed there, then the in-flight
      // copy goes. A run stopped midway leaves only the temporary copy, made again next time.
      const fs::path staging = target.string() + ".part";
      std::error_code ignored;
      fs::remove_all(staging, ignored);
      ec.clear();
      fs::copy(inflight_dir_, staging, fs::copy_options::recursive, ec);
      if (!ec) fs::rename(staging, target, ec);
      if (!ec) fs::remove_all(inflight_dir_, ignored);
    }
    if (ec) return RecordError(FailureKind::kLoad, IoError("cannot archive the export to " + target.string() + ": " + ec.message()));
    summary_.archived_to = target;
    return Status::Ok();
  }

  Status OpenArchive() {
    const std::string archive = o_.archive.string();
    if (store::IsS3Location(archive)) {
      auto opened = store::OpenStore(archive);
      if (!opened.ok()) return RecordError(FailureKind::kLoad, opened.status().WithContext("--archive"));
      archive_store_ = std::move(opened.value());
      archive_prefix_.clear();
      archive_location_ = archive;
      while (archive_location_.ends_with('/')) archive_location_.pop_back();
    } else if (archive.empty() && layout_.is_s3()) {
      archive_store_ = store_;
      archive_prefix_ = WarehouseLayout::kArchive;
      archive_location_ = layout_.Locate(archive_prefix_);
    } else {
      archive_ = archive.empty() ? layout_.Path(WarehouseLayout::kArchive) : o_.archive;
    }
    return Status::Ok();
  }

  // On an object store: the export's files are uploaded under <transactionTime>/, manifest.json
  // last, so a prefix with a manifest is a complete archive. Before uploading, a run claims the
  // prefix with a conditional write of its manifest (kArchiveClaim): a prefix claimed by another
  // export (a sync of other types that got the same transactionTime, uploading at the same time)
  // is left to it, and the run takes the next (-2, -3, ...). A run that finds its own claim
  // resumes an interrupted upload there. Then the local copy goes.
  Status ArchiveToStore() {
    auto manifest = store::ReadSmallFile(inflight_dir_ / "manifest.json");
    // Without a manifest (never so for a finished export) the claim is this run's alone.
    const std::string claim = manifest.ok() ? *manifest : store::RandomHex(16);
    std::string base;
    for (int n = 1;; ++n) {
      base = WarehouseLayout::Join(archive_prefix_,
                                   DirName(summary_.transaction_time) + (n == 1 ? "" : "-" + std::to_string(n)));
      auto archived = archive_store_->Get(WarehouseLayout::Join(base, "manifest.json"));
      if (archived.ok()) {
        // A run stopped after the upload but before removing the in-flight copy: done already.
        if (manifest.ok() && *archived == *manifest) return FinishStoreArchive(base);
        continue;
      }
      if (archived.status().code() != StatusCode::kNotFound) return RecordError(FailureKind::kLoad, archived.status());
      const std::string claim_key = WarehouseLayout::Join(base, kArchiveClaim);
      Status claimed = archive_store_->PutIfAbsent(claim_key, claim);
      if (claimed.ok()) break;
      if (claimed.code() != StatusCode::kConflict) return RecordError(FailureKind::kLoad, claimed.WithContext("--archive"));
      auto holder = archive_store_->Get(claim_key);
      if (holder.ok() && *holder == claim) break;  // this export's own claim: resume its upload
      // Another export's claim, or one gone between the two requests (pruned): the next prefix.
      if (!holder.ok() && holder.status().code() != StatusCode::kNotFound) {
        return RecordError(FailureKind::kLoad, holder.status());
      }
    }
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(inflight_dir_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return RecordError(FailureKind::kLoad, IoError("cannot list " + inflight_dir_.string() + ": " + ec.message()));
    std::stable_partition(files.begin(), files.end(), [](const fs::path& f) { return f.filename() != "manifest.json"; });
    for (const fs::path& file : files) {
      const std::string key = WarehouseLayout::Join(base, fs::relative(file, inflight_dir_, ec).generic_string());
      Status uploaded = store::UploadFile(*archive_store_, file, key);
      if (!uploaded.ok()) return RecordError(FailureKind::kLoad, uploaded.WithContext("cannot archive the export"));
      if (&file == &files.front()) store::CrashPoint("archive-uploading");
    }
    store::CrashPoint("archive-uploaded");
    return FinishStoreArchive(base);
  }

  // The export is archived under `base`: the local copy goes.
  Status FinishStoreArchive(const std::string& base) {
    std::error_code ec;
    fs::remove_all(inflight_dir_, ec);
    summary_.archived_to = archive_location_ + "/" + base.substr(archive_prefix_.empty() ? 0 : archive_prefix_.size() + 1);
    return Status::Ok();
  }

  // Last: the next run's _since is this export's transactionTime.
  Status AdvanceState() {
    entry_.transaction_time = summary_.transaction_time;
    entry_.last_success = fhir::FormatInstant(fhir::NowMicros());
    entry_.last_error.clear();
    entry_.last_error_at.clear();
    entry_.in_flight.reset();
    Status written = state_->Put(summary_.key, entry_);
    if (!written.ok()) return RecordError(FailureKind::kLoad, written);
    return Status::Ok();
  }

  // Table maintenance after the load, on the run's policy. A table not maintained now is by
  // the next run or `fhirlake maintain`, so a failure does not fail the sync; it is reported
  // (the summary, and, in a local warehouse, the archived export's log.ndjson) with the table
  // it concerns. On an object store the same steps run through the store.
  void Maintain() {
    if (!o_.maintenance.enabled) return;
    MaintenancePolicy policy = o_.maintenance;
    policy.compaction.schema = o_.load_options.schema;  // compaction writes the loads' schema
    policy.compaction.jobs = std::max(1, o_.load_options.jobs);  // and on as many threads
    std::optional<bulk::ExportLog> log;  // an archive in an object store is uploaded already
    if (!archive_store_) {
      log.emplace(summary_.archived_to / "log.ndjson");
      log->set_export_id(summary_.exported.status_url);
    }
    auto record = [&](TableMaintenance done) {
      if (log) log->Event(done.status.ok() ? "maintenance" : "maintenance_error", MaintenanceJson(done));
      summary_.maintenance.push_back(std::move(done));
    };
    for (const auto& t : summary_.tables) {
      if (Stopping()) break;
      record(MaintainTable(store_, t.type, policy));
    }
    // The merges' tombstones (load/tombstones.h), once the tables are done.
    if (summary_.tables.empty() || Stopping()) return;
    auto tombstone_log = delta::ListLogFiles(*store_, WarehouseLayout::kTombstones);
    if (!tombstone_log.ok() || !tombstone_log->empty()) record(MaintainTable(store_, WarehouseLayout::kTombstones, policy));
  }

  // --keep N: only the newest N archived exports stay.
  void PruneArchive() const {
    if (o_.keep <= 0) return;
    if (archive_store_) return PruneStoreArchive();
    std::error_code ec;
    auto archived = ArchivedExports(archive_, KeyHash(summary_.key));
    for (size_t i = 0; i + static_cast<size_t>(o_.keep) < archived.size(); ++i) fs::remove_all(archived[i], ec);
  }

  // PruneArchive on an object store: the complete archives (with a manifest), oldest first, go
  // object by object. Best effort, as locally.
  void PruneStoreArchive() const {
    const std::string prefix = archive_prefix_.empty() ? "" : archive_prefix_ + "/";
    auto listed = store::ListAll(*archive_store_, prefix);
    if (!listed.ok()) return;
    std::set<std::string> complete;
    std::map<std::string, std::vector<std::string>> names;  // archive -> its files' names
    for (const auto& object : *listed) {
      std::string rest = object.key.substr(prefix.size());
      size_t slash = rest.find('/');
      if (slash == std::string::npos) continue;
      names[rest.substr(0, slash)].push_back(rest.substr(slash + 1));
      if (rest.substr(slash + 1) == "manifest.json") complete.insert(rest.substr(0, slash));
    }
    const std::string owner = KeyHash(summary_.key);
    std::erase_if(complete, [&](const std::string& base) { return !OwnedBy(names[base], owner); });
    if (complete.size() <= static_cast<size_t>(o_.keep)) return;
    std::set<std::string> drop(complete.begin(), std::prev(complete.end(), o_.keep));
    for (const auto& object : *listed) {
      std::string rest = object.key.substr(prefix.size());
      if (drop.count(rest.substr(0, rest.find('/')))) (void)archive_store_->Delete(object.key);
    }
  }

  const SyncOptions& o_;
  bulk::ExportObserver* observer_;
  FailureKind* kind_;
  WarehouseLayout layout_;
  std::shared_ptr<store::ObjectStore> store_;
  std::optional<StateFile> state_;
  SyncEntry entry_;
  SyncSummary summary_;
  fs::path inflight_dir_;
  fs::path archive_;                                    // a directory archive
  std::shared_ptr<store::ObjectStore> archive_store_;  // or an object store archive:
  std::string archive_prefix_;                          //   its key prefix ("" or _exports)
  std::string archive_location_;                        //   and its s3:// URL
};

}  // namespace

Result<SyncSummary> RunSync(const SyncOptions& o, bulk::ExportObserver* observer, FailureKind* kind) {
  return SyncRun(o, observer, kind).Run();
}

}  // namespace fhirlake::sync
