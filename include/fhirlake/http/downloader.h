// http::Downloader: fetches many files in parallel on one libcurl multi handle, streaming each
// straight to disk. A file is written as "<destination>.part" and renamed to its destination
// only once it is complete and verified, so a destination that exists is always whole.
//
// Recovery: transport errors, 429 and transient 5xx are retried with backoff (Retry-After
// honoured); a retry of a partial file asks for the rest with `Range: bytes=N-`. A body that
// ends in the middle of an NDJSON line is treated as truncated and resumed the same way; when
// the server confirms the end (416 at that size), the file is taken as it is. A line count that
// differs from the manifest's `count` fails the file: no retry can make the server's data agree.
#pragma once

#include <cstdint>
#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/http/client.h"
#include "fhirlake/status.h"

namespace fhirlake::http {

struct DownloadTask {
  std::string url;
  std::filesystem::path destination;
  bool send_token = false;                 // the bulk layer's decision (requiresAccessToken)
  std::optional<uint64_t> expected_lines;  // the manifest's `count`, when given
};

struct DownloadResult {
  Status status;
  uint64_t bytes = 0;       // size of the file on disk
  uint64_t lines = 0;       // NDJSON lines in it
  int attempts = 0;         // HTTP requests made for it in this run
  bool skipped = false;     // complete before this run; not requested
  long http_status = 0;     // last HTTP status seen (0 when none)
  std::string error_body;   // the server's error body (bounded), for OperationOutcome text
};

// Callbacks from the thread that calls Downloader::Run. Default: do nothing.
class DownloadObserver {
 public:
  virtual ~DownloadObserver() = default;
  virtual void OnRequest(size_t /*index*/, const DownloadTask&, uint64_t /*resume_from*/) {}
  virtual void OnBytes(uint64_t /*n*/) {}
  virtual void OnRetry(size_t /*index*/, const DownloadTask&, const std::string& /*reason*/,
                       Millis /*delay*/) {}
  virtual void OnFinished(size_t /*index*/, const DownloadTask&, const DownloadResult&) {}
  virtual void OnTick() {}  // at least every 200 ms while running
};

struct DownloadOptions {
  ClientOptions client;                // retry, TLS, timeouts, tokens (request_timeout unused)
  int parallel = 4;
  bool accept_gzip = true;             // first requests ask for gzip; Range resumes ask identity
  long stall_bytes_per_second = 1;     // below this for `stall_time` = a stalled transfer
  Millis stall_time{120'000};
  size_t buffer_bytes = 512u << 10;
  // When set (from another thread), Run stops within about 100 ms: open transfers are dropped
  // (their .part files stay, so a later run resumes them) and unfinished tasks fail with
  // kCancelled.
  const std::atomic<bool>* stop = nullptr;
};

class Downloader {
 public:
  explicit Downloader(DownloadOptions options);

  // Downloads every task; returns one result per task, in order. Runs until each task is
  // complete or has failed for good. `observer` may be null.
  std::vector<DownloadResult> Run(const std::vector<DownloadTask>& tasks, DownloadObserver* observer);

 private:
  DownloadOptions options_;
};

// Path of the partial file for `destination`.
std::filesystem::path PartialPath(const std::filesystem::path& destination);

}  // namespace fhirlake::http
