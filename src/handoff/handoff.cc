#include "fhirlake/handoff/handoff.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

#include "fhirlake/bulk/export_parameters.h"
#include "fhirlake/bulk/manifest.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/fhir/type_model.h"
#include "fhirlake/http/downloader.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/file_transfer.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/json_field.h"

namespace fhirlake::handoff {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kFhirJson = "application/fhir+json";
constexpr const char* kFhirNdjson = "application/fhir+ndjson";

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string HttpError(const http::Response& r) {
  return "HTTP " + std::to_string(r.status) + ": " + fhir::DescribeErrorBody(r.body);
}

// The status URL of an async kick-off (Bulk Data IG §5.1; Pathling's $import): a 202 with
// Content-Location, resolved against the URL that answered.
Result<std::string> StatusUrlOf(const http::Response& r, const std::string& what) {
  if (r.status != 202) return ServerError(what + " failed: " + HttpError(r));
  auto location = r.headers.Get("Content-Location");
  if (!location || location->empty()) {
    return ServerError(what + " answered 202 without a Content-Location header (no status URL)");
  }
  return http::ResolveUrl(r.url, *location);
}

// The run's prefix: the export's transactionTime (readable, sorts by time) and a hash of the
// request and time, so a retried transfer of the same export names the same keys and another
// export never shares them.
std::string RunPrefix(const bulk::Manifest& m) {
  std::string time;
  for (char c : m.transaction_time) time += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
  std::string hash = Sha256Hex(m.request + "\n" + m.transaction_time).substr(0, 12);
  return time.empty() ? hash : time + "-" + hash;
}

// A temporary directory removed with everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("fhirlake-handoff-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_, ec_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  const std::error_code& error() const { return ec_; }

 private:
  fs::path path_;
  std::error_code ec_;
};

// The URL a target reads a staged key from.
std::string StagedUrl(const std::string& staging_url, const std::string& key) {
  if (store::IsS3Location(staging_url)) return staging_url + "/" + key;
  return "file://" + (fs::absolute(staging_url) / key).lexically_normal().string();
}

struct StagedFile {
  std::string type, key, url;
};

std::string SourcesParameters(const std::vector<StagedFile>& files, const std::string& mode) {
  json params = {{"resourceType", "Parameters"}, {"parameter", json::array()}};
  for (const auto& f : files) {
    params["parameter"].push_back({{"name", "source"},
                                   {"part", {{{"name", "resourceType"}, {"valueCode", f.type}},
                                             {{"name", "url"}, {"valueUrl", f.url}},
                                             {{"name", "mode"}, {"valueCode", mode}}}}});
  }
  return params.dump();
}

Status StagingError(const Status& s, const std::string& staging_url) {
  std::string hint = s.code() == StatusCode::kUnauthenticated
                         ? " (check the staging credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                           "AWS_SESSION_TOKEN, or the role's s3:GetObject/s3:PutObject permissions)"
                         : "";
  return Status(s.code(), "staging to " + http::RedactUrl(staging_url) + " failed: " + s.message() + hint);
}

// Waits `wait`; the retry loops' only sleep.
void Sleep(std::chrono::milliseconds wait) { std::this_thread::sleep_for(wait); }

}  // namespace

std::chrono::milliseconds RetryWait(const RetryConfig& retry, int attempt) {
  double seconds = retry.wait_seconds * std::pow(retry.back_off, std::max(0, attempt - 1));
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

bool IsTransient(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNetwork:
    case StatusCode::kServer:
    case StatusCode::kIoError:
    case StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

Result<std::string> StartExport(const HandoffConfig& config) {
  bulk::ExportParameters params;
  params.output_format = kFhirNdjson;
  params.since = config.since;
  params.types = config.types;
  http::Request req;
  req.url = params.KickoffPath(config.source.endpoint);
  if (std::string q = params.ToQuery(); !q.empty()) req.url += "?" + q;
  req.headers.Add("Accept", kFhirJson);
  req.headers.Add("Prefer", "respond-async");
  http::Client client(config.source.http);
  auto r = client.Send(req);
  if (!r.ok()) return r.status().WithContext("export kick-off at " + http::RedactUrl(config.source.endpoint));
  return StatusUrlOf(*r, "export kick-off at " + http::RedactUrl(req.url));
}

Result<JobStatus> CheckJob(const Side& side, const std::string& status_url) {
  if (status_url.empty()) return InvalidArgument("the input has no statusUrl");
  http::Request req;
  req.url = status_url;
  req.headers.Add("Accept", kFhirJson);
  http::ClientOptions options = side.http;
  if (options.token_origin.empty()) {
    if (auto u = http::Url::Parse(status_url); u.ok()) options.token_origin = u->Origin();
  }
  http::Client client(options);
  auto r = client.Send(req);
  if (!r.ok()) return r.status().WithContext("status check of " + http::RedactUrl(status_url));
  JobStatus status;
  if (r->status == 202) {
    status.progress = r->headers.Get("X-Progress").value_or("");
    if (status.progress.empty()) status.progress = "(no progress message)";
    return status;
  }
  if (r->status != 200) return ServerError("status check of " + http::RedactUrl(status_url) + " failed: " + HttpError(*r));
  status.done = true;
  status.result = std::move(r->body);
  return status;
}

Result<TransferSummary> Transfer(const HandoffConfig& config, const std::string& manifest_json,
                                 const TransferProgress& progress, Stage* failed) {
  auto fail = [&](Stage stage, Status s) -> Status {
    if (failed) *failed = stage;
    return s;
  };
  auto manifest = bulk::Manifest::Parse(manifest_json, config.source.endpoint);
  if (!manifest.ok()) return fail(Stage::kConfig, manifest.status().WithContext("the input's result is not a Bulk Data manifest"));
  if (config.staging_url.empty()) return fail(Stage::kConfig, InvalidArgument("STAGING_URL is not set"));
  auto staging = store::OpenStore(config.staging_url);
  if (!staging.ok()) return fail(Stage::kConfig, StagingError(staging.status(), config.staging_url));
  store::ObjectStore& store = **staging;

  TransferSummary summary;
  summary.run_prefix = RunPrefix(*manifest);
  summary.files = manifest->output.size();
  std::vector<StagedFile> staged;
  std::vector<size_t> pending;  // indexes into output of files not yet staged
  for (size_t i = 0; i < manifest->output.size(); ++i) {
    const auto& f = manifest->output[i];
    if (!fhir::IsResourceTypeName(f.type)) {
      return fail(Stage::kSource, InvalidArgument("output[" + std::to_string(i) + "].type '" + f.type + "' is not a resource type"));
    }
    std::string key = summary.run_prefix + "/" + f.type + "-" + Sha256Hex(f.url).substr(0, 7) + ".ndjson";
    staged.push_back({f.type, key, StagedUrl(config.staging_url, key)});
    // An object appears only once it is complete (ObjectWriter), so one that exists is done.
    auto size = store.Size(key);
    if (size.ok()) {
      ++summary.files_skipped;
      if (progress) progress(key, *size, true);
      continue;
    }
    if (size.status().code() != StatusCode::kNotFound) return fail(Stage::kStaging, StagingError(size.status(), config.staging_url));
    pending.push_back(i);
  }

  if (!pending.empty()) {
    ScratchDir scratch;
    if (scratch.error()) return fail(Stage::kStaging, IoError("cannot create a temporary directory: " + scratch.error().message()));
    http::DownloadOptions dopt;
    dopt.client = config.source.http;
    dopt.parallel = std::max(1, config.parallel);
    http::Downloader downloader(dopt);
    const size_t batch = static_cast<size_t>(dopt.parallel);
    for (size_t start = 0; start < pending.size(); start += batch) {
      std::vector<http::DownloadTask> tasks;
      for (size_t j = start; j < std::min(pending.size(), start + batch); ++j) {
        const auto& f = manifest->output[pending[j]];
        http::DownloadTask t;
        t.url = f.url;
        t.destination = scratch.path() / (std::to_string(pending[j]) + ".ndjson");
        t.send_token = manifest->requires_access_token;
        t.expected_lines = f.count;
        tasks.push_back(std::move(t));
      }
      auto results = downloader.Run(tasks, nullptr);
      // The batch's complete files are staged even when another one failed, so that a retry
      // has only the failed ones left to fetch.
      std::optional<Status> download_failure;
      for (size_t k = 0; k < tasks.size(); ++k) {
        const auto& r = results[k];
        if (!r.status.ok()) {
          std::string message = "download of " + http::RedactUrl(tasks[k].url) + " failed: " + r.status.message();
          if (!r.error_body.empty()) message += ": " + fhir::DescribeErrorBody(r.error_body);
          if (!download_failure) download_failure = Status(r.status.code(), message);
          continue;
        }
        const StagedFile& target = staged[pending[start + k]];
        Status up = store::UploadFile(store, tasks[k].destination, target.key);
        if (!up.ok()) return fail(Stage::kStaging, StagingError(up, config.staging_url));
        std::error_code ec;
        fs::remove(tasks[k].destination, ec);
        ++summary.files_staged;
        summary.bytes += r.bytes;
        if (progress) progress(target.key, r.bytes, false);
      }
      if (download_failure) return fail(Stage::kSource, *download_failure);
    }
  }
  summary.parameters = SourcesParameters(staged, config.import_mode);
  return summary;
}

Result<std::optional<std::string>> StartImport(const HandoffConfig& config, const std::string& parameters_json) {
  json params = json::parse(parameters_json, nullptr, false);
  if (!params.is_object() || FieldOr(params, "resourceType", "") != "Parameters") {
    return InvalidArgument("the input's parameters are not a FHIR Parameters resource");
  }
  size_t sources = 0;
  if (params.contains("parameter") && params["parameter"].is_array()) {
    for (const auto& p : params["parameter"]) {
      if (p.is_object() && (FieldOr(p, "name", "") == "source" || FieldOr(p, "name", "") == "input")) ++sources;
    }
  }
  if (sources == 0) return std::optional<std::string>();  // import not necessary
  http::Request req;
  req.method = "POST";
  req.url = config.target.endpoint + "/$import";
  req.body = parameters_json;
  req.headers.Add("Accept", kFhirJson);
  req.headers.Add("Content-Type", kFhirJson);
  req.headers.Add("Prefer", "respond-async");
  http::Client client(config.target.http);
  auto r = client.Send(req);
  if (!r.ok()) return r.status().WithContext("import kick-off at " + http::RedactUrl(config.target.endpoint));
  auto url = StatusUrlOf(*r, "import kick-off at " + http::RedactUrl(req.url));
  if (!url.ok()) return url.status();
  return std::optional<std::string>(std::move(url.value()));
}

namespace {

// Polls `status_url` until done, retrying while in progress per `retry` (pathling-import's
// p-retry: `times` retries after the first attempt).
Result<JobStatus> AwaitJob(const Side& side, const std::string& status_url, const RetryConfig& retry,
                           std::string_view step, RunObserver* observer, bool* in_progress) {
  for (int attempt = 1;; ++attempt) {
    if (observer) observer->OnStep(step, attempt);
    auto status = CheckJob(side, status_url);
    if (!status.ok() || status->done) return status;
    if (attempt > retry.times) {
      *in_progress = true;
      return Status(StatusCode::kCancelled, "Job in progress: " + status->progress + " (still running after " +
                                                std::to_string(retry.times) + " retries; status URL " +
                                                http::RedactUrl(status_url) + ")");
    }
    auto wait = RetryWait(retry, attempt);
    if (observer) observer->OnInProgress(step, status->progress, wait);
    Sleep(wait);
  }
}

}  // namespace

Result<RunSummary> RunHandoff(const HandoffConfig& config, RunObserver* observer, RunFailure* failure) {
  const auto started = Clock::now();
  auto fail = [&](Stage stage, Status s, bool in_progress = false) -> Status {
    if (failure) *failure = {stage, in_progress};
    return s;
  };
  RunSummary summary;
  if (observer) observer->OnStep("export", 1);
  auto status_url = StartExport(config);
  if (!status_url.ok()) return fail(Stage::kSource, status_url.status());
  summary.export_status_url = *status_url;

  bool in_progress = false;
  auto exported = AwaitJob(config.source, *status_url, config.export_retry, "export status", observer, &in_progress);
  if (!exported.ok()) return fail(Stage::kSource, exported.status(), in_progress);
  json manifest = json::parse(exported->result, nullptr, false);
  if (manifest.is_object()) summary.transaction_time = FieldOr(manifest, "transactionTime", "");

  TransferProgress staged;
  if (observer) staged = [observer](const std::string& key, uint64_t bytes, bool skipped) { observer->OnStaged(key, bytes, skipped); };
  for (int attempt = 1;; ++attempt) {
    if (observer) observer->OnStep("transfer", attempt);
    Stage stage = Stage::kStaging;
    auto transfer = Transfer(config, exported->result, staged, &stage);
    if (transfer.ok()) {
      summary.transfer = std::move(transfer.value());
      break;
    }
    if (!IsTransient(transfer.status()) || attempt > config.transfer_retry.times) return fail(stage, transfer.status());
    auto wait = RetryWait(config.transfer_retry, attempt);
    if (observer) observer->OnRetry("transfer", transfer.status(), wait);
    Sleep(wait);
  }

  if (observer) observer->OnStep("import", 1);
  auto import_url = StartImport(config, summary.transfer.parameters);
  if (!import_url.ok()) return fail(Stage::kTarget, import_url.status());
  summary.import_status_url = *import_url;
  if (summary.import_status_url) {
    auto imported = AwaitJob(config.target, *summary.import_status_url, config.import_retry, "import status",
                             observer, &in_progress);
    if (!imported.ok()) return fail(Stage::kTarget, imported.status(), in_progress);
    summary.import_result = std::move(imported->result);
  }
  summary.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return summary;
}

}  // namespace fhirlake::handoff
