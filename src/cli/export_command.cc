// fhirlake export BASE_URL OUT_DIR [options]: a Bulk Data export into a directory, or into an
// S3 prefix (OUT_DIR = s3://bucket/prefix): then the export runs in a local staging directory
// and each file is uploaded as soon as it is complete.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "fhirlake/bulk/export_client.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/upload_queue.h"
#include "src/cli/client_auth.h"
#include "src/cli/commands.h"
#include "src/cli/duration.h"
#include "src/cli/progress_display.h"

namespace fhirlake::cli {
namespace {

struct ExportArgs {
  std::string base_url;
  std::string out_dir;
  std::vector<std::string> types, type_filters, elements, patients, associated;
  std::string since, until, group, level = "system", output_format, resume, cancel;
  std::string timeout = "24h", poll_interval = "1s";
  std::string ca_file;
  std::string staging;  // for s3:// outputs
  bool keep_staging = false;
  ClientAuthArgs auth;
  bool post = false, lenient = false, verbose = false, quiet = false, no_gzip = false, insecure = false, partial_manifests = false;
  int parallel = 4, retries = 6;
};

// Forwards every callback to the display and queues each completed file for upload.
class UploadingObserver : public bulk::ExportObserver {
 public:
  // `resuming`: the staging directory holds an earlier run of this export, so objects of the
  // same size are that run's uploads and are not sent again. A new export overwrites.
  UploadingObserver(bulk::ExportObserver& display, store::ObjectStore& target, std::filesystem::path staging,
                    bool resuming)
      : display_(display), staging_(std::move(staging)), resuming_(resuming), queue_(target) {}

  void OnPhase(std::string_view phase) override { display_.OnPhase(phase); }
  void OnServerProgress(std::string_view text) override { display_.OnServerProgress(text); }
  void OnDownloadsPlanned(const std::vector<http::DownloadTask>& tasks) override { display_.OnDownloadsPlanned(tasks); }
  void OnNotice(std::string_view text) override { display_.OnNotice(text); }
  void OnRequest(size_t index, const http::DownloadTask& task, uint64_t resume_from) override {
    display_.OnRequest(index, task, resume_from);
  }
  void OnBytes(uint64_t n) override { display_.OnBytes(n); }
  void OnRetry(size_t index, const http::DownloadTask& task, const std::string& reason, http::Millis delay) override {
    display_.OnRetry(index, task, reason, delay);
  }
  void OnFinished(size_t index, const http::DownloadTask& task, const http::DownloadResult& result) override {
    display_.OnFinished(index, task, result);
    if (result.status.ok()) Queue(task.destination, /*always=*/!resuming_);
  }
  void OnTick() override { display_.OnTick(); }

  // Uploads what is left (with a complete export: the manifest, log and state documents) and
  // waits for every upload.
  Status Finish(bool export_complete) {
    if (export_complete) {
      std::error_code ec;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(staging_, ec)) {
        if (!entry.is_regular_file() || entry.path().extension() == ".part") continue;
        bool data = entry.path().extension() == ".ndjson" && entry.path().filename() != "log.ndjson";
        Queue(entry.path(), /*always=*/!data || !resuming_);
      }
    }
    return queue_.Finish();
  }
  const store::UploadQueue& queue() const { return queue_; }

 private:
  void Queue(const std::filesystem::path& file, bool always) {
    std::string key = std::filesystem::relative(file, staging_).generic_string();
    if (queued_.insert(key).second) queue_.Add(file, std::move(key), always);
  }

  bulk::ExportObserver& display_;
  std::filesystem::path staging_;
  bool resuming_;
  std::set<std::string> queued_;  // keys queued in this run
  store::UploadQueue queue_;
};

// The same S3 prefix always stages in the same directory, so a second run resumes the first.
std::filesystem::path DefaultStaging(const std::string& location) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : location) hash = (hash ^ c) * 1099511628211ull;
  return std::filesystem::temp_directory_path() / "fhirlake-staging" / fmt::format("{:016x}", hash);
}

// Prints `why` as the command's error and returns `exit_code`.
int Fail(const Status& why, int exit_code) {
  std::fprintf(stderr, "fhirlake export: %s\n", why.message().c_str());
  return exit_code;
}

// The FHIR base where SMART discovery finds the token endpoint: BASE_URL; with --resume and
// only OUT_DIR (export --resume URL OUT_DIR), the base of the kick-off that OUT_DIR's
// export-state.json recorded; "" when unknown.
std::string AuthBase(const ExportArgs& a) {
  if (a.resume.empty() || !a.out_dir.empty()) return a.base_url;
  const std::string& out_dir = a.base_url;  // the one positional is OUT_DIR
  std::filesystem::path dir = out_dir;
  if (store::IsS3Location(out_dir)) dir = a.staging.empty() ? DefaultStaging(out_dir) : std::filesystem::path(a.staging);
  auto saved = bulk::ExportClient::SavedIn(dir);
  return saved ? bulk::KickoffBase(saved->request) : "";
}

// The HTTP client's options: TLS, retries, request logging with --verbose, and the token
// source the authentication options describe (an error is a usage error).
Result<http::ClientOptions> ClientFor(const ExportArgs& a, DisplayMode mode) {
  http::ClientOptions client = MakeClientOptions(a.insecure, a.ca_file, a.retries, mode != DisplayMode::kQuiet);
  if (a.verbose) {
    client.on_response = [](const std::string& method, const std::string& url, long status) {
      std::fprintf(stderr, "debug: %s %s -> %ld\n", method.c_str(), url.c_str(), status);
    };
  }
  const std::string base = AuthBase(a);
  if (base.empty() && !a.auth.client_id.empty() && a.auth.token_url.empty()) {
    const bool cancel = !a.cancel.empty();
    return InvalidArgument(std::string(cancel ? "--cancel" : "--resume") +
                           " with --client-id cannot find the token endpoint: give --token-url, or the server's "
                           "base URL (export BASE_URL " + (cancel ? "--cancel STATUS_URL" : "--resume STATUS_URL OUT_DIR") +
                           ")");
  }
  auto tokens = MakeTokenSource(a.auth, base, client);
  if (!tokens.ok()) return tokens.status();
  client.tokens = tokens.value();
  return client;
}

// An s3:// OUT_DIR: the store, and the local directory the export runs in before upload.
struct S3Output {
  std::unique_ptr<store::ObjectStore> target;
  std::filesystem::path staging;
};

// Opens the store and lists one key, so that bad credentials or a missing bucket fail now, not
// after the download. Returns 0, or the exit code after printing why.
int OpenS3Output(const ExportArgs& args, S3Output& out) {
  auto opened = store::OpenStore(args.out_dir);
  if (!opened.ok()) return Fail(opened.status(), kExitUsage);
  out.target = std::move(opened.value());
  out.staging = args.staging.empty() ? DefaultStaging(args.out_dir) : std::filesystem::path(args.staging);
  auto probe = out.target->List("", {}, 1);
  if (!probe.ok()) return Fail(probe.status(), kExitFailed);
  return kExitOk;
}

// The export the arguments ask for: where it writes, how it polls and downloads, and its
// kick-off parameters (an error is a usage error).
Result<bulk::ExportOptions> ExportOptionsFor(const ExportArgs& a, const http::ClientOptions& client,
                                             const S3Output& s3, DisplayMode mode) {
  bulk::ExportOptions o;
  o.base_url = a.base_url;
  o.out_dir = s3.target ? s3.staging : std::filesystem::path(a.out_dir);
  o.use_post = a.post;
  o.lenient = a.lenient;
  o.resume_status_url = a.resume;
  o.client = client;
  o.parallel = std::max(1, a.parallel);
  o.accept_gzip = !a.no_gzip;
  auto timeout = ParseDuration(a.timeout);
  auto poll = ParseDuration(a.poll_interval);
  if (!timeout || !poll) return InvalidArgument("--timeout and --poll-interval take durations like 90s, 5m, 24h");
  o.timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
  o.poll_interval = *poll;

  bulk::ExportParameters& p = o.parameters;
  if (!a.group.empty()) {
    p.level = bulk::ExportLevel::kGroup;
    p.group_id = a.group;
  } else if (a.level == "patient") {
    p.level = bulk::ExportLevel::kPatient;
  }
  p.output_format = a.output_format;
  if (!a.since.empty()) p.since = a.since;
  if (!a.until.empty()) p.until = a.until;
  p.types = a.types;
  p.type_filters = a.type_filters;
  p.elements = a.elements;
  p.include_associated_data = a.associated;
  p.allow_partial_manifests = a.partial_manifests;
  for (const auto& ref : a.patients) p.patients.push_back(ref.find('/') == std::string::npos ? "Patient/" + ref : ref);
  if (!p.patients.empty() && !o.use_post) {
    o.use_post = true;  // Bulk Data IG: `patient` is only defined for POST kick-offs
    if (mode != DisplayMode::kQuiet) std::fprintf(stderr, "note: --patient needs a POST kick-off; using --post\n");
  }
  if (p.level == bulk::ExportLevel::kSystem && !p.patients.empty()) {
    return InvalidArgument("--patient needs a patient-level (--level patient) or group export");
  }
  return o;
}

// After the export: the files not yet uploaded go up (all of them once the export is
// complete), and a complete export's staging directory is removed unless kept.
int FinishUpload(UploadingObserver& uploader, const S3Output& s3, bool complete, bool keep_staging,
                 DisplayMode mode) {
  Status uploaded = uploader.Finish(complete);
  if (!uploaded.ok()) {
    std::fprintf(stderr, "fhirlake export: %s\n(the export is kept in %s; run the same command again to retry)\n",
                 uploaded.message().c_str(), s3.staging.string().c_str());
    return kExitFailed;
  }
  if (mode != DisplayMode::kQuiet) {
    std::fprintf(stderr, "%s\n", fmt::format("uploaded {} files ({}) to {}; {} already there",
                                             uploader.queue().files_uploaded(),
                                             FormatBytes(uploader.queue().bytes_uploaded()), s3.target->Describe(),
                                             uploader.queue().files_skipped()).c_str());
  }
  if (complete && !keep_staging) {
    std::error_code ec;
    std::filesystem::remove_all(s3.staging, ec);
  }
  return kExitOk;
}

// The outcome of the export as the exit code and the last lines printed.
int Report(const Result<bulk::ExportSummary>& result, double secs, DisplayMode mode) {
  if (!result.ok()) {
    const bool usage =
        result.status().code() == StatusCode::kInvalidArgument && !result.status().message().starts_with("malformed");
    return Fail(result.status(), usage ? kExitUsage : kExitFailed);
  }
  const auto& s = result.value();
  if (!s.complete()) {
    for (const auto& f : s.failures) std::fprintf(stderr, "fhirlake export: %s\n", f.c_str());
    std::fprintf(stderr,
                 "fhirlake export: %zu of %zu files could not be completed; run the same command again to retry "
                 "them (finished files are kept)\n",
                 s.failures.size(), s.files);
    return kExitFailed;
  }
  if (mode != DisplayMode::kQuiet) {
    std::fprintf(stderr, "%s\n",
                 fmt::format("export complete: {} files ({} already present), {}, {} resources in {} ({}/s); "
                             "transactionTime {}",
                             s.files, s.files_skipped, FormatBytes(s.bytes), s.resources, FormatDuration(secs),
                             FormatBytes(secs > 0 ? static_cast<uint64_t>(static_cast<double>(s.bytes) / secs) : 0),
                             s.transaction_time)
                     .c_str());
  }
  return kExitOk;
}

int Run(const ExportArgs& a) {
  const DisplayMode mode = ChooseDisplayMode(a.quiet);
  auto client = ClientFor(a, mode);
  if (!client.ok()) return Fail(client.status(), kExitUsage);
  if (!a.cancel.empty()) {
    // The user named this status URL, so its origin may have the token.
    Status s = bulk::ExportClient::Cancel({.request = a.cancel, .status_url = a.cancel}, *client);
    if (!s.ok()) return Fail(s, kExitFailed);
    if (mode != DisplayMode::kQuiet) std::fprintf(stderr, "cancelled %s\n", a.cancel.c_str());
    return kExitOk;
  }
  ExportArgs args = a;
  if (!args.resume.empty() && args.out_dir.empty()) std::swap(args.base_url, args.out_dir);  // export --resume URL DIR
  if (args.out_dir.empty() || (args.base_url.empty() && args.resume.empty())) {
    return Fail(InvalidArgument("give BASE_URL and OUT_DIR (or --resume STATUS_URL with OUT_DIR)"), kExitUsage);
  }
  S3Output s3;
  if (store::IsS3Location(args.out_dir)) {
    if (int rc = OpenS3Output(args, s3); rc != kExitOk) return rc;
  }
  auto options = ExportOptionsFor(args, *client, s3, mode);
  if (!options.ok()) return Fail(options.status(), kExitUsage);

  ProgressDisplay display(mode);
  std::unique_ptr<UploadingObserver> uploader;
  if (s3.target) {
    const bool resuming = std::filesystem::exists(s3.staging / "export-state.json");
    uploader = std::make_unique<UploadingObserver>(display, *s3.target, s3.staging, resuming);
  }
  bulk::ExportClient exporter(*options);
  const auto started = std::chrono::steady_clock::now();
  auto result = exporter.Run(uploader ? static_cast<bulk::ExportObserver*>(uploader.get()) : &display);
  display.Finish();
  if (uploader) {
    const int rc = FinishUpload(*uploader, s3, result.ok() && result->complete(), a.keep_staging, mode);
    if (rc != kExitOk) return rc;
  }
  return Report(result, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), mode);
}

}  // namespace

void RegisterExport(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Run a FHIR Bulk Data export into OUT_DIR (resumable)");
  cmd->add_option("BASE_URL", args->base_url, "FHIR base URL of the source server");
  cmd->add_option("OUT_DIR", args->out_dir,
                  "Directory (or s3://bucket/prefix) for the NDJSON files, manifest.json and log.ndjson");
  cmd->add_option("--staging", args->staging,
                  "With an s3:// OUT_DIR: local directory where the export runs before upload "
                  "(default: one per OUT_DIR under the temp directory; removed when complete)");
  cmd->add_flag("--keep-staging", args->keep_staging, "Keep the staging directory after a complete export to S3");
  cmd->add_option("--level", args->level, "system (BASE/$export) or patient (BASE/Patient/$export)")
      ->check(CLI::IsMember({"system", "patient"}));
  cmd->add_option("--group", args->group, "Group-level export of this Group id (BASE/Group/ID/$export)");
  cmd->add_option("--type", args->types, "Resource types (_type); repeat or comma-separate")->delimiter(',');
  cmd->add_option("--since", args->since, "Only resources changed since this FHIR instant (_since)");
  cmd->add_option("--until", args->until, "Only resources changed before this FHIR instant (_until)");
  cmd->add_option("--type-filter", args->type_filters, "A _typeFilter, e.g. 'Observation?status=final'; repeatable");
  cmd->add_option("--elements", args->elements, "Elements to include (_elements); comma-separated")->delimiter(',');
  cmd->add_option("--patient", args->patients, "Patient reference or id to restrict to; repeatable (POST)");
  cmd->add_option("--include-associated-data", args->associated, "includeAssociatedData values")->delimiter(',');
  cmd->add_option("--output-format", args->output_format, "_outputFormat (default: the server's, NDJSON)");
  cmd->add_flag("--post", args->post, "Kick off with POST and a Parameters body instead of GET");
  cmd->add_flag("--lenient", args->lenient, "Ask the server to ignore parameters it does not support");
  cmd->add_flag("--allow-partial-manifests", args->partial_manifests, "Let the server page its manifest");
  cmd->add_option("--parallel", args->parallel, "Parallel downloads (default 4)");
  cmd->add_option("--timeout", args->timeout, "Give up waiting for the server after this long (default 24h)");
  cmd->add_option("--poll-interval", args->poll_interval, "First status poll interval without Retry-After (default 1s)");
  cmd->add_option("--retries", args->retries, "Attempts per request before giving up (default 6)");
  cmd->add_option("--resume", args->resume, "Resume the export at this status URL");
  cmd->add_option("--cancel", args->cancel, "Cancel the export at this status URL (DELETE) and exit");
  AddClientAuthOptions(*cmd, args->auth);
  cmd->add_flag("-v,--verbose", args->verbose, "Print every HTTP request and its status (never credentials)");
  cmd->add_option("--ca-file", args->ca_file, "Extra CA certificates (PEM) for TLS");
  cmd->add_flag("--insecure", args->insecure, "Do not verify TLS certificates");
  cmd->add_flag("--no-gzip", args->no_gzip, "Do not ask for gzip-compressed files");
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
