// server::ImportJobs: the jobs behind `$import-pnp` and `$import`. A ping-and-pull job runs
// sync::ExportLoad (export from the requested Bulk Data endpoint into the job's work folder,
// then load into the warehouse with the requested save mode and a Delta txn per job); a
// `$import` job with a manifest fetches the listed files (file:// copied, http(s):// downloaded
// without a token) and loads them. Jobs run on worker threads; at most `concurrency` run, the
// rest wait in order. Cancel stops a job at its next step boundary (the export's wait and
// downloads stop at once; a load runs to its commits); nothing it had not committed becomes
// visible.
//
// Scheduling: a job does not start while another job pulls from the same FHIR base (it stays
// queued, later jobs for other sources may pass it), and a table is loaded by one job at a
// time (a job that reaches a table another job is loading waits for it).
//
// Jobs persist: each job's record is WAREHOUSE/_fhirlake/imports/<id>.json (rewritten
// atomically at every change; its fields are spelled in one place, RecordOf/ViewOf) beside its
// work folder <id>/. The work folder goes when the job finishes or is cancelled; a shutdown
// keeps it. A restarted server (after a kill or a shutdown) requeues jobs that were queued or
// running; a running job resumes its export (the export directory keeps the status URL and
// the finished files) and its load is made exact by the job's Delta txn. Records of finished
// jobs (and their error files) expire after `ttl`.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fhirlake/http/client.h"
#include "fhirlake/http/token_source.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/server/import_request.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"
#include "fhirlake/sync/maintenance.h"
#include "fhirlake/view/view_definition.h"

namespace fhirlake::server {

// Credentials for the sources under one URL prefix (the longest matching prefix wins). Export
// URLs under no prefix with credentials are pulled without a token.
struct PullSource {
  std::string prefix;
  std::shared_ptr<http::TokenSource> tokens;
};

struct ImportJobsOptions {
  // A directory, or s3://bucket/prefix. Job records live in the warehouse
  // (_fhirlake/imports/<id>.json, through its object store) either way.
  std::filesystem::path warehouse;
  // Where jobs download their exports and input files before loading them (<dir>/<id>/). Empty:
  // WAREHOUSE/_fhirlake/imports, which requires a directory warehouse; an s3:// warehouse needs
  // a local directory here (serve uses WORK_DIR/imports).
  std::filesystem::path staging_dir;
  http::ClientOptions client;          // TLS, retries; its token source is not used
  std::vector<PullSource> sources;
  int concurrency = 1;
  std::chrono::seconds ttl = std::chrono::hours(24);
  // Run on each table a job loaded, after its load and before the job completes (a failure is
  // logged and does not fail the job). Its compaction target is also the loads' file size.
  sync::MaintenancePolicy maintenance = sync::DefaultMaintenancePolicy();
  // Materialised views refreshed after each load, those over the tables the job loaded (null:
  // none). A job whose refresh fails fails, saying its load was committed.
  std::shared_ptr<const std::vector<view::ViewDefinition>> views;
};

enum class ImportState { kQueued, kRunning, kCompleted, kFailed, kCancelled };
// What a job is doing: waiting its turn, fetching a manifest's files ($import with inputs),
// exporting from the source (ping and pull), loading, or finished.
enum class ImportPhase { kQueued, kFetch, kExport, kLoad, kDone };
// Lower-case names, as job records and metrics spell them.
const char* ImportStateName(ImportState state);
const char* ImportPhaseName(ImportPhase phase);

struct ImportJobView {
  std::string id;
  ImportState state = ImportState::kQueued;
  ImportPhase phase = ImportPhase::kQueued;
  std::string progress;       // for X-Progress (not saved on every change)
  ImportRequest request;
  std::string transaction_time;
  std::string error;
  int error_status = 500;
  int64_t finished_at = 0;    // micros; 0 while unfinished
  std::vector<load::TableResult> tables;
  std::vector<std::string> error_files;  // names under WAREHOUSE/_errors/: OperationOutcome NDJSON
};

class ImportJobs {
 public:
  // `warehouse` is the store of options.warehouse (store::OpenStore). Recovers the recorded
  // jobs (requeueing unfinished ones) and starts the workers.
  ImportJobs(ImportJobsOptions options, std::unique_ptr<store::ObjectStore> warehouse);
  ~ImportJobs();  // cancels and joins

  // The warehouse's object store (records, error files).
  store::ObjectStore& warehouse_store() const { return *store_; }

  std::string Submit(ImportRequest request);
  std::optional<ImportJobView> Get(const std::string& id);  // nullopt: unknown, cancelled or expired
  // Marks the job cancelled (it stops at its next step) and forgets it: later Gets find nothing.
  bool Cancel(const std::string& id);

  // Prometheus text: jobs by state, and rows imported by completed jobs still on record.
  std::string Metrics() const;

 private:
  struct Job;
  class ExportProgress;
  void Worker();
  std::shared_ptr<Job> NextRunnable();  // REQUIRES: mu_ held
  std::shared_ptr<void> HoldTable(Job& job, const std::string& type);
  http::ClientOptions ClientFor(const std::string& url) const;
  void SetProgress(Job& job, std::string text);  // not saved: progress is for pollers
  void Run(Job& job);
  void RunManifest(Job& job, const std::filesystem::path& dir);
  void LoadInto(Job& job, load::LoadOptions options);
  void Finish(Job& job, const Result<load::LoadSummary>& loaded);  // completed or failed
  void MaintainTables(Job& job, const load::LoadSummary& loaded);
  Status RefreshViews(Job& job, const load::LoadSummary& loaded);  // the views over what it loaded
  void Update(Job& job, const std::function<void(ImportJobView&)>& change);  // under mu_, then saved
  void Fail(Job& job, const Status& status, int http_status);
  void Save(const Job& job) const;   // REQUIRES: mu_ held
  static nlohmann::json RecordOf(const ImportJobView& view);       // the job's record file
  static Result<ImportJobView> ViewOf(const nlohmann::json& record);
  void Recover();
  void Expire();                     // REQUIRES: mu_ held
  void Forget(const ImportJobView& job) const;  // removes its record, work folder and error files
  static std::string RecordKey(const std::string& id);

  const ImportJobsOptions options_;
  const std::filesystem::path work_dir_;  // the staging directory
  std::unique_ptr<store::ObjectStore> store_;  // the warehouse's
  mutable std::mutex mu_;
  std::condition_variable cv_;         // the queue or the busy sources changed
  std::condition_variable tables_cv_;  // a table was released
  std::mutex views_mu_;                // one job refreshes the views at a time (one writer per view table)
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<std::string, std::string> busy_sources_;  // FHIR base → id of the job pulling from it
  std::map<std::string, std::string> busy_tables_;   // type → id of the job loading it
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace fhirlake::server
