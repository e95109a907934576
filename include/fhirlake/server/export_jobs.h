// ExportJobs: the export side of `fhirlake serve --source DIR`. A kick-off becomes a job that
// selects and filters the NDJSON files of DIR (read afresh for each job) into output files, and
// the job's manifest lists them. Files that need no filtering are served from DIR as they are;
// filtered ones are written under the job's folder in the work directory.
//
// Each job is recorded in WORK_DIR/<id>/job.json once complete, so a second server sharing the
// work directory (a file host on another origin, say) can serve the job's files too.
//
// A finished job expires `ttl` after it ended (the Bulk Data IG lets a server say when with an
// Expires header): its folder is deleted and its status and files answer 404. A background
// sweep does this, also for folders that earlier runs of the server (or another server sharing
// the work directory) left behind; a cancelled job's folder goes at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/status.h"

namespace fhirlake::server {

struct JobFile {
  std::string kind;              // output | deleted | error
  std::string type;
  std::string name;              // URL name, unique within the job
  std::filesystem::path path;    // where the bytes are
  uint64_t count = 0;
};

enum class JobState { kRunning, kDone, kFailed, kCancelled };

struct JobView {
  std::string id;
  JobState state = JobState::kRunning;
  std::string request;
  std::string owner;             // client id of the requester ("" = anyone)
  std::string transaction_time;
  int percent = 0;
  std::string error;             // kFailed: what went wrong
  int http_error = 500;          // kFailed: status to answer with
  bool allow_partial_manifests = false;
  std::vector<JobFile> files;    // kDone
  int64_t expires_at = 0;        // µs since the epoch when a finished job's files go (0 while running)
};

class ExportJobs {
 public:
  // `source_dir` holds <Type>.<anything>.ndjson and optionally deleted/*.ndjson. With a
  // `warehouse` instead, each job first writes the warehouse's tables (live rows, and the
  // deletions merges recorded) into its folder in that layout (load::WriteTablesAsNdjson).
  ExportJobs(std::filesystem::path source_dir, std::filesystem::path work_dir, std::filesystem::path warehouse = {},
             std::chrono::seconds ttl = std::chrono::hours(24));
  ~ExportJobs();  // stops and joins running jobs and the sweep

  // Forgets the jobs whose time is up and deletes their folders, and the folders of jobs this
  // object does not know (earlier runs, another server) that are past theirs. The sweep calls it.
  void Expire();

  // Validates the request and starts a job. kInvalidArgument (→ 400) for parameters the
  // server cannot honour unless `lenient` (Bulk Data IG: Prefer: handling=lenient), kNotFound
  // (→ 404) for an unknown Group. Returns the job id.
  // `owner` is the client that may see the job ("" without authorization).
  Result<std::string> Start(const bulk::ExportParameters& params, std::string request_url, bool lenient,
                            std::string owner = "");

  // The job's current state, or nullopt when unknown (never started, cancelled, expired).
  // Falls back to WORK_DIR/<id>/job.json for jobs another server ran.
  std::optional<JobView> Get(const std::string& id);

  // Cancels a job and deletes its files. False when the job is unknown.
  bool Cancel(const std::string& id);

 private:
  struct Job;
  class JobRun;  // one job's selection of lines into its files (export_jobs.cc)
  void Run(std::shared_ptr<Job> job, std::stop_token stop);
  // When a job folder this object does not know expires: its job.json's expiresAt; without one
  // (an older record, or a job killed before it finished), `ttl` after its last write.
  int64_t ForeignExpiry(const std::filesystem::path& dir) const;

  std::filesystem::path source_dir_;
  std::filesystem::path work_dir_;
  std::filesystem::path warehouse_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  struct Worker {
    std::shared_ptr<Job> job;
    std::jthread thread;
  };
  std::vector<Worker> workers_;  // the threads of finished jobs are joined at the next Start
  std::chrono::seconds ttl_;
  std::mutex sweep_mu_;
  std::condition_variable_any sweep_wake_;
  std::jthread sweeper_;  // last: stopped and joined before the members it uses go
};

}  // namespace fhirlake::server
