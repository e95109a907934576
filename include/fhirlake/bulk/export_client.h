// bulk::ExportClient: the client side of a FHIR Bulk Data export (Bulk Data IG v2), from
// kick-off to verified files on disk. It is the first stage of the data flow: everything it
// writes lands in OUT_DIR, which later stages (load) read and users archive:
//
//   OUT_DIR/<Type>.<nnn>.ndjson, deleted/<Type>.<nnn>.ndjson, error/<Type>.<nnn>.ndjson
//   OUT_DIR/manifest.json      the complete manifest (pages merged)
//   OUT_DIR/log.ndjson         export events (bulk-data-client log layout)
//   OUT_DIR/export-state.json  request, status URL and phase, so a rerun resumes
//
// Resume: running the same request into the same OUT_DIR continues where the last run stopped
// (polling the remembered status URL, downloading only missing files, Range-resuming partial
// ones). A different request into an OUT_DIR that holds one is refused.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/bulk/manifest.h"
#include "fhirlake/http/client.h"
#include "fhirlake/http/downloader.h"
#include "fhirlake/status.h"

namespace fhirlake::bulk {

class ExportLog;

struct ExportOptions {
  std::string base_url;                 // FHIR base of the source; may be empty with resume_status_url
  std::filesystem::path out_dir;
  ExportParameters parameters;
  bool use_post = false;                // kick off with POST and a Parameters body
  bool lenient = false;                 // Prefer: handling=lenient (ignore unsupported parameters)
  std::string resume_status_url;        // poll this instead of kicking off
  http::ClientOptions client;           // token_origin defaults to the base URL's origin
  int parallel = 4;
  bool accept_gzip = true;
  http::Millis poll_interval{1000};     // without Retry-After: first wait, growing 1.5x per poll
  http::Millis poll_interval_max{60'000};
  http::Millis max_retry_after{3'600'000};  // longest Retry-After honoured while polling
  std::chrono::seconds timeout{24 * 3600};  // for the whole wait on the server
  // When set (from another thread), Run returns kCancelled soon: while polling, or within
  // about 100 ms while downloading (finished files and .part files stay for a resume).
  const std::atomic<bool>* stop = nullptr;
  // When true, a manifest listing a file on another origin than the FHIR server fails the
  // export (kServer) before anything is downloaded; otherwise such files are fetched without
  // the token. A server pulling on someone else's behalf sets it: a manifest must not make it
  // fetch arbitrary URLs.
  bool same_origin_files_only = false;
};

struct ExportSummary {
  std::string status_url;
  std::string transaction_time;
  size_t files = 0;            // files in the manifest
  size_t files_skipped = 0;    // complete before this run
  uint64_t bytes = 0;
  uint64_t resources = 0;      // lines in output files
  std::vector<std::string> failures;  // one message per file that could not be completed
  bool files_gone = false;            // a failed file was answered 404 or 410 (expired)
  bool complete() const { return failures.empty(); }
};

// Progress callbacks (from the thread running the export). Download callbacks come from
// http::DownloadObserver.
class ExportObserver : public http::DownloadObserver {
 public:
  virtual void OnPhase(std::string_view /*phase*/) {}        // "kick-off", "waiting", "downloading"
  virtual void OnServerProgress(std::string_view /*text*/) {}  // X-Progress while waiting
  virtual void OnDownloadsPlanned(const std::vector<http::DownloadTask>& /*tasks*/) {}
  virtual void OnNotice(std::string_view /*text*/) {}         // things a user should read
};

class ExportClient {
 public:
  explicit ExportClient(ExportOptions options);

  // Runs (or resumes) the export. Returns an error when the export could not be obtained
  // (kick-off refused, server error, timeout, malformed manifest); returns a summary whose
  // failures() lists files that could not be completed otherwise. `observer` may be null.
  Result<ExportSummary> Run(ExportObserver* observer);

  // What the export directory `out_dir` remembers of the export it holds (its
  // export-state.json), or nothing when it holds none.
  struct Saved {
    std::string request;     // the kick-off URL
    std::string status_url;  // "" until the kick-off was accepted
  };
  static std::optional<Saved> SavedIn(const std::filesystem::path& out_dir);

  // Cancels a running export: DELETE on its status URL (Bulk Data IG: 202 expected). The
  // token goes to `client.token_origin`, by default the kick-off's origin: the status URL is
  // the source's word, and may name another host.
  static Status Cancel(const Saved& saved, http::ClientOptions client);

 private:
  struct State;  // request, status URL and phase, saved in export-state.json

  // The steps of Run, in order.
  Result<State> ResumeOrStart(ExportObserver* observer) const;
  Status KickOff(http::Client& client, State& state, ExportLog& log, ExportObserver* observer);
  Result<Manifest> ObtainManifest(http::Client& client, State& state, ExportLog& log, ExportObserver* observer);
  Result<Manifest> PollManifest(http::Client& client, const State& state, ExportLog& log, ExportObserver* observer);
  Status CheckFileOrigins(const Manifest& manifest, const std::vector<http::DownloadTask>& tasks,
                          ExportObserver* observer) const;
  Result<ExportSummary> Download(const Manifest& manifest, State& state, ExportLog& log, ExportObserver* observer);

  ExportOptions options_;
};

// The OUT_DIR-relative file name for each manifest entry, "<Type>.<nnn>.ndjson" numbered per
// type in manifest order; deleted and error files under deleted/ and error/.
std::vector<http::DownloadTask> PlanDownloads(const Manifest& manifest,
                                              const std::filesystem::path& out_dir);

}  // namespace fhirlake::bulk
