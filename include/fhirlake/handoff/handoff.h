// handoff: export from a FHIR server, stage the NDJSON in an object store (S3), import it into a
// Pathling-style `$import` endpoint — the five steps pathling-import runs as AWS Lambda
// functions under Step Functions, with the same inputs, outputs and error names:
//
//   1 StartExport       ()                → {"statusUrl"}
//   2 CheckJob (export) {"statusUrl"}     → {"result": manifest}   or JobInProgressError
//   3 Transfer          {"result"}        → {"parameters": $import Parameters with staged URLs}
//   4 StartImport       {"parameters"}    → {"statusUrl"}, null when there is nothing to import
//   5 CheckJob (import) {"statusUrl"}     → {"result": import result} or JobInProgressError
//
// Each step is a function of its input and the configuration, so a step retried by an
// orchestrator does the same thing again: the transfer stages a run under one prefix derived
// from the manifest (same export → same keys) and skips objects already staged (an object
// appears only when complete, so existing means finished). RunHandoff chains the steps with
// pathling-import's retry rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/http/client.h"
#include "fhirlake/status.h"

namespace fhirlake::handoff {

// pathling-import's retry settings for one operation: up to `times` retries, the first after
// `wait`, each later one `back_off` times longer than the one before.
struct RetryConfig {
  int times = 24;
  double wait_seconds = 900;
  double back_off = 1.0;
};

// One side's HTTP settings. `http.tokens` is set when the side authenticates (client
// credentials with SMART discovery); `http.token_origin` is derived from `endpoint`.
struct Side {
  std::string endpoint;  // FHIR base
  http::ClientOptions http;
};

struct HandoffConfig {
  Side source;
  std::vector<std::string> types;    // TYPES; empty: every type
  std::optional<std::string> since;  // SINCE
  std::string staging_url;           // STAGING_URL: s3://bucket/prefix (or a local directory)
  Side target;
  std::string import_mode = "merge";  // the `mode` of each staged source
  int parallel = 4;                   // files downloaded (and staged) at once
  RetryConfig export_retry, transfer_retry, import_retry;
};

// The error name pathling-import throws while a job runs; Step Functions' Retry matches it.
inline constexpr const char* kJobInProgressError = "JobInProgressError";

// Where a step failed, for exit codes and error names.
enum class Stage { kConfig, kSource, kStaging, kTarget };

// One look at an async job's status URL (Bulk Data IG §5.3; Pathling's $import status).
struct JobStatus {
  bool done = false;
  std::string progress;  // X-Progress while running ("(no progress message)" when absent)
  std::string result;    // the 200 body (JSON) when done
};

// Step 1: kicks off a system-level $export (GET, `_outputFormat`, `_since`, `_type`) at the
// source with `Prefer: respond-async`; returns the Content-Location status URL.
Result<std::string> StartExport(const HandoffConfig& config);

// Steps 2 and 5: one GET of `status_url` with `side`'s credentials. A 202 is not an error
// (done = false); any other answer than 200/202 is kServer with the server's message.
Result<JobStatus> CheckJob(const Side& side, const std::string& status_url);

struct TransferSummary {
  std::string parameters;     // the $import Parameters (JSON)
  std::string run_prefix;     // the run's key prefix under the staging URL
  size_t files = 0;           // output files in the manifest
  size_t files_staged = 0;    // uploaded by this call
  size_t files_skipped = 0;   // already staged by an earlier attempt
  uint64_t bytes = 0;         // bytes uploaded by this call
};

// Called after each file is staged or found staged (for progress).
using TransferProgress = std::function<void(const std::string& key, uint64_t bytes, bool skipped)>;

// Step 3: downloads every `output` file of `manifest_json` (a Bulk Data completion manifest)
// from the source and streams it to `<staging>/<run>/<Type>-<hash>.ndjson`, where <run> comes
// from the manifest's transactionTime and request and <hash> from the file URL. Files are
// downloaded to a temporary directory a batch (`parallel`) at a time and uploaded in bounded
// pieces, so memory does not grow with file size. Returns Parameters with one `source`
// (resourceType, url, mode) per file — the staged files of an earlier attempt included, so a
// retried transfer gives the same result. Staging failures are kUnauthenticated (credentials)
// or another code with a message naming the staging URL; `failed` (may be null) says whether
// the source, the staging store or the input failed.
Result<TransferSummary> Transfer(const HandoffConfig& config, const std::string& manifest_json,
                                 const TransferProgress& progress = {}, Stage* failed = nullptr);

// Step 4: POSTs `parameters_json` to `<target>/$import` with `Prefer: respond-async`;
// returns the status URL, or nullopt ("Import not necessary") when the Parameters hold no
// `source` (pathling-import's test) and no `input`.
Result<std::optional<std::string>> StartImport(const HandoffConfig& config, const std::string& parameters_json);

// Why a RunHandoff failed: the stage, and whether its job was still running when the retries
// ran out (pathling-import's JobInProgressError).
struct RunFailure {
  Stage stage = Stage::kConfig;
  bool in_progress = false;
};

struct RunSummary {
  std::string export_status_url;
  std::string transaction_time;
  TransferSummary transfer;
  std::optional<std::string> import_status_url;  // nullopt: import not necessary
  std::string import_result;                      // the import's final status body
  std::chrono::milliseconds duration{0};
};

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void OnStep(std::string_view /*step*/, int /*attempt*/) {}
  virtual void OnInProgress(std::string_view /*step*/, std::string_view /*progress*/,
                            std::chrono::milliseconds /*next_wait*/) {}
  virtual void OnRetry(std::string_view /*step*/, const Status& /*error*/, std::chrono::milliseconds /*wait*/) {}
  virtual void OnStaged(const std::string& /*key*/, uint64_t /*bytes*/, bool /*skipped*/) {}
};

// The whole sequence, as pathling-import's command runs it: kick-off, export status retried
// while in progress (export_retry), transfer retried on transient failures (transfer_retry;
// refused credentials and bad input are final), import kick-off, import status retried while
// in progress (import_retry). `observer` may be null; on error `failure` (may be null) says
// which stage failed.
Result<RunSummary> RunHandoff(const HandoffConfig& config, RunObserver* observer, RunFailure* failure);

// Wait before retry number `attempt` (1-based): wait × back_off^(attempt-1).
std::chrono::milliseconds RetryWait(const RetryConfig& retry, int attempt);

// Whether a failed transfer is worth retrying: network, server and I/O trouble, not refused
// credentials or bad input.
bool IsTransient(const Status& status);

}  // namespace fhirlake::handoff
