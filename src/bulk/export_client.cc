#include "fhirlake/bulk/export_client.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

#include "fhirlake/bulk/export_log.h"
#include "fhirlake/bulk/status_poll.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/json_field.h"

namespace fhirlake::bulk {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kStateFile = "export-state.json";
constexpr const char* kManifestFile = "manifest.json";

std::string ErrorText(const http::Response& r) {
  return "HTTP " + std::to_string(r.status) + ": " + fhir::DescribeErrorBody(r.body);
}

std::string ErrorDetail(const http::Response* r, const std::string& message) {
  json body = nullptr;
  if (r) {
    json parsed = ParseJsonFromOutside(r->body);
    body = parsed.is_discarded() ? json(r->body.substr(0, 2000)) : parsed;
  }
  return json{{"code", r ? json(r->status) : json(nullptr)},
              {"body", body},
              {"message", message},
              {"responseHeaders", r ? json::parse(ExportLog::HeadersJson(r->headers)) : json(nullptr)}}
      .dump();
}

void Notice(ExportObserver* observer, const std::string& text) {
  if (observer) observer->OnNotice(text);
}

void Phase(ExportObserver* observer, const char* phase) {
  if (observer) observer->OnPhase(phase);
}

// The source's CapabilityStatement software and fhirVersion, for the log's kickoff event; an
// empty object when /metadata does not answer (one try: it only decorates the log).
json SourceSoftware(const ExportOptions& o) {
  json software = json::object();
  http::Request meta_req;
  meta_req.url = o.base_url + (o.base_url.ends_with("/") ? "" : "/") + "metadata";
  meta_req.headers.Add("Accept", "application/fhir+json");
  http::ClientOptions once = o.client;
  once.retry.max_attempts = 1;
  http::Client meta_client(once);
  if (auto meta = meta_client.Send(meta_req); meta.ok() && meta->status == 200) {
    json cs = ParseJsonFromOutside(meta->body);
    if (!cs.is_discarded() && cs.is_object()) {
      software = FieldOr(cs, "software", json::object());
      software["fhirVersion"] = FieldOr(cs, "fhirVersion", "");
    }
  }
  return software;
}

const char* ItemType(size_t index, const Manifest& m) {
  if (index < m.output.size()) return "output";
  if (index < m.output.size() + m.deleted.size()) return "deleted";
  return "error";
}

const ManifestFile& EntryAt(size_t index, const Manifest& m) {
  if (index < m.output.size()) return m.output[index];
  index -= m.output.size();
  if (index < m.deleted.size()) return m.deleted[index];
  return m.error[index - m.deleted.size()];
}

// Logs download events and forwards everything to the user's observer.
class LoggingDownloadObserver : public http::DownloadObserver {
 public:
  LoggingDownloadObserver(ExportLog& log, const Manifest& manifest, ExportObserver* user)
      : log_(log), manifest_(manifest), user_(user) {}

  void OnRequest(size_t i, const http::DownloadTask& task, uint64_t resume_from) override {
    log_.Event("download_request", json{{"fileUrl", http::RedactUrl(task.url)},
                                        {"itemType", ItemType(i, manifest_)},
                                        {"resourceType", EntryAt(i, manifest_).type},
                                        {"resumeFrom", resume_from}}.dump());
    if (user_) user_->OnRequest(i, task, resume_from);
  }
  void OnBytes(uint64_t n) override {
    if (user_) user_->OnBytes(n);
  }
  void OnRetry(size_t i, const http::DownloadTask& task, const std::string& reason, http::Millis delay) override {
    if (user_) user_->OnRetry(i, task, reason, delay);
  }
  void OnFinished(size_t i, const http::DownloadTask& task, const http::DownloadResult& r) override {
    if (r.status.ok()) {
      if (!r.skipped) {
        log_.Event("download_complete", json{{"fileUrl", http::RedactUrl(task.url)},
                                             {"resourceCount", r.lines},
                                             {"fileSize", r.bytes}}.dump());
      }
    } else {
      std::string message = r.status.message();
      if (!r.error_body.empty()) message += ": " + fhir::DescribeErrorBody(r.error_body);
      json body = ParseJsonFromOutside(r.error_body);
      log_.Event("download_error", json{{"fileUrl", http::RedactUrl(task.url)},
                                        {"code", r.http_status ? json(r.http_status) : json(nullptr)},
                                        {"body", body.is_discarded() ? json(r.error_body) : body},
                                        {"message", message},
                                        {"responseHeaders", nullptr}}.dump());
    }
    if (user_) user_->OnFinished(i, task, r);
  }
  void OnTick() override {
    if (user_) user_->OnTick();
  }

 private:
  ExportLog& log_;
  const Manifest& manifest_;
  ExportObserver* user_;
};

}  // namespace

// What export-state.json keeps, so that a rerun resumes.
struct ExportClient::State {
  std::string request;   // kick-off URL
  std::string method;    // GET | POST
  std::string body;      // POST body
  std::string status_url;
  std::string phase;     // polling | downloading | complete

  std::string ToJson() const {
    return json{{"request", request}, {"method", method}, {"body", body},
                {"statusUrl", status_url}, {"phase", phase}}.dump(2);
  }
  static Result<State> Load(const fs::path& path) {
    auto text = store::ReadSmallFile(path);
    if (!text.ok()) return text.status();
    json j = ParseJsonFromOutside(*text);
    if (j.is_discarded() || !j.is_object()) {
      return InvalidArgument(path.string() + " is not valid JSON; delete it to start a new export");
    }
    State s;
    s.request = FieldOr(j, "request", "");
    s.method = FieldOr(j, "method", "GET");
    s.body = FieldOr(j, "body", "");
    s.status_url = FieldOr(j, "statusUrl", "");
    s.phase = FieldOr(j, "phase", "");
    return s;
  }
};

std::vector<http::DownloadTask> PlanDownloads(const Manifest& manifest, const fs::path& out_dir) {
  std::vector<http::DownloadTask> tasks;
  auto plan = [&](const std::vector<ManifestFile>& files, const fs::path& dir) {
    std::map<std::string, int> per_type;
    for (const auto& f : files) {
      int n = per_type[f.type]++;
      char number[16];
      std::snprintf(number, sizeof number, "%03d", n);
      http::DownloadTask t;
      t.url = f.url;
      t.destination = dir / (f.type + "." + number + ".ndjson");
      t.send_token = manifest.requires_access_token;
      t.expected_lines = f.count;
      tasks.push_back(std::move(t));
    }
  };
  plan(manifest.output, out_dir);
  plan(manifest.deleted, out_dir / "deleted");
  plan(manifest.error, out_dir / "error");
  return tasks;
}

ExportClient::ExportClient(ExportOptions options) : options_(std::move(options)) {
  if (!options_.client.stop) options_.client.stop = options_.stop;  // stops cut retry backoffs short
  if (options_.client.token_origin.empty()) {
    std::string origin_source = !options_.base_url.empty() ? options_.base_url : options_.resume_status_url;
    if (auto u = http::Url::Parse(origin_source); u.ok()) options_.client.token_origin = u->Origin();
  }
}

std::optional<ExportClient::Saved> ExportClient::SavedIn(const fs::path& out_dir) {
  auto state = State::Load(out_dir / kStateFile);
  if (!state.ok()) return std::nullopt;
  return Saved{state->request, state->status_url};
}

Status ExportClient::Cancel(const Saved& saved, http::ClientOptions client) {
  const std::string& status_url = saved.status_url;
  if (client.token_origin.empty()) {
    if (auto u = http::Url::Parse(saved.request); u.ok()) client.token_origin = u->Origin();
  }
  http::Client c(std::move(client));
  http::Request req;
  req.method = "DELETE";
  req.url = status_url;
  req.headers.Add("Accept", "application/fhir+json");
  auto r = c.Send(req);
  if (!r.ok()) return r.status();
  if (r->status == 202 || r->status == 200 || r->status == 204) return Status::Ok();
  return ServerError("cancel of " + http::RedactUrl(status_url) + " failed: " + ErrorText(*r));
}

Result<ExportSummary> ExportClient::Run(ExportObserver* observer) {
  const ExportOptions& o = options_;
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return IoError("cannot create " + o.out_dir.string() + ": " + ec.message());
  ExportLog log(o.out_dir / "log.ndjson");
  http::Client client(o.client);

  auto state = ResumeOrStart(observer);
  if (!state.ok()) return state.status();
  log.set_export_id(http::RedactUrl(state->status_url));
  if (state->status_url.empty()) FHIRLAKE_RETURN_IF_ERROR(KickOff(client, *state, log, observer));
  auto manifest = ObtainManifest(client, *state, log, observer);
  if (!manifest.ok()) return manifest.status();
  return Download(*manifest, *state, log, observer);
}

// The request this run makes, or the saved one it resumes (same request into the same
// directory, or the status URL given to resume).
Result<ExportClient::State> ExportClient::ResumeOrStart(ExportObserver* observer) const {
  const ExportOptions& o = options_;
  const fs::path state_path = o.out_dir / kStateFile;
  State state;
  if (!o.base_url.empty()) {
    // Bulk Data IG: `patient` is defined for POST kick-offs only; a GET would drop it and
    // export every patient.
    const bool post = o.use_post || !o.parameters.patients.empty();
    state.method = post ? "POST" : "GET";
    state.request = o.parameters.KickoffPath(o.base_url);
    if (post) {
      state.body = o.parameters.ToParametersJson();
    } else if (std::string q = o.parameters.ToQuery(); !q.empty()) {
      state.request += "?" + q;
    }
  }
  if (fs::exists(state_path)) {
    auto saved = State::Load(state_path);
    if (!saved.ok()) return saved.status();
    bool same = o.base_url.empty() || (saved->request == state.request && saved->method == state.method &&
                                       saved->body == state.body);
    if (!o.resume_status_url.empty() && o.resume_status_url != saved->status_url) {
      // Its files are another export's: kept, they would be taken as this one's.
      if (!saved->status_url.empty()) {
        return InvalidArgument(o.out_dir.string() + " holds export " + http::RedactUrl(saved->status_url) +
                               "; resume " + http::RedactUrl(o.resume_status_url) + " into another directory");
      }
      same = false;
    }
    if (!same && o.resume_status_url.empty()) {
      return InvalidArgument(o.out_dir.string() + " holds an export of another request (" +
                             http::RedactUrl(saved->request) +
                             "); use another directory, or --resume with its status URL");
    }
    if (same) {
      state = std::move(saved.value());
      if (!state.status_url.empty()) Notice(observer, "resuming export " + http::RedactUrl(state.status_url));
    }
  }
  if (!o.resume_status_url.empty() && state.status_url != o.resume_status_url) {
    state.status_url = o.resume_status_url;
    state.phase = "polling";
    if (state.request.empty()) state.request = o.resume_status_url;
    Notice(observer, "resuming export " + http::RedactUrl(state.status_url));
  }
  if (state.request.empty()) return InvalidArgument("no source: give BASE_URL or --resume STATUS_URL");
  return state;
}

// Bulk Data IG §5.1: the kick-off request; a 202's Content-Location is the status URL, which
// is saved before anything else happens so that a rerun polls it instead of kicking off again.
Status ExportClient::KickOff(http::Client& client, State& state, ExportLog& log, ExportObserver* observer) {
  const ExportOptions& o = options_;
  Phase(observer, "kick-off");
  json software = SourceSoftware(o);
  http::Request req;
  req.method = state.method;
  req.url = state.request;
  req.body = state.body;
  req.headers.Add("Accept", "application/fhir+json");
  req.headers.Add("Prefer", o.lenient ? "respond-async, handling=lenient" : "respond-async");
  if (state.method == "POST") req.headers.Add("Content-Type", "application/fhir+json");
  auto resp = client.Send(req);
  json params = json::object();
  if (auto u = http::Url::Parse(state.request); u.ok()) {
    for (auto& [name, value] : http::ParseQuery(u->query)) {
      if (name != "patient") params[name] = std::move(value);  // the log must not name patients
    }
  }
  json detail = {{"exportUrl", http::RedactUrl(state.request)},
                 {"softwareName", FieldOr(software, "name", json(nullptr))},
                 {"softwareVersion", FieldOr(software, "version", json(nullptr))},
                 {"softwareReleaseDate", FieldOr(software, "releaseDate", json(nullptr))},
                 {"fhirVersion", FieldOr(software, "fhirVersion", json(nullptr))},
                 {"requestParameters", params},
                 {"errorCode", nullptr},
                 {"errorBody", nullptr},
                 {"responseHeaders", nullptr}};
  if (!resp.ok()) {
    detail["errorBody"] = resp.status().message();
    log.Event("kickoff", detail.dump());
    return resp.status().WithContext("kick-off failed");
  }
  detail["responseHeaders"] = json::parse(ExportLog::HeadersJson(resp->headers));
  if (resp->status != 202) {
    detail["errorCode"] = resp->status;
    detail["errorBody"] = fhir::DescribeErrorBody(resp->body);
    log.Event("kickoff", detail.dump());
    return ServerError("kick-off of " + http::RedactUrl(state.request) + " failed: " + ErrorText(*resp));
  }
  auto location = resp->headers.Get("Content-Location");
  if (!location || location->empty()) {
    log.Event("kickoff", detail.dump());
    return ServerError("kick-off answered 202 without a Content-Location header: the server is not a "
                       "Bulk Data server, or a proxy removed the header");
  }
  auto status_url = http::ResolveUrl(resp->url, *location);
  if (!status_url.ok()) return status_url.status().WithContext("Content-Location");
  state.status_url = status_url.value();
  state.phase = "polling";
  log.set_export_id(http::RedactUrl(state.status_url));
  log.Event("kickoff", detail.dump());
  FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(o.out_dir / kStateFile, state.ToJson()));
  Notice(observer, "export started; status URL " + http::RedactUrl(state.status_url));
  return Status::Ok();
}

// The complete manifest: the saved one once polling has finished, else polled (all pages),
// then saved with the state moved on to downloading.
Result<Manifest> ExportClient::ObtainManifest(http::Client& client, State& state, ExportLog& log,
                                              ExportObserver* observer) {
  const fs::path manifest_path = options_.out_dir / kManifestFile;
  if (state.phase != "polling" && fs::exists(manifest_path)) {
    auto text = store::ReadSmallFile(manifest_path);
    if (!text.ok()) return text.status();
    auto m = Manifest::Parse(*text, state.status_url);
    if (!m.ok()) return m.status().WithContext(manifest_path.string());
    return m;
  }
  Phase(observer, "waiting");
  auto manifest = PollManifest(client, state, log, observer);
  if (!manifest.ok()) return manifest.status();
  FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(manifest_path, manifest->ToJson()));
  state.phase = "downloading";
  FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(options_.out_dir / kStateFile, state.ToJson()));
  return manifest;
}

// Bulk Data IG §5.3: polls the status URL until the export is done (202: wait as StatusPoll
// says; 200: a manifest page, following `link` next pages), merging the pages.
Result<Manifest> ExportClient::PollManifest(http::Client& client, const State& state, ExportLog& log,
                                            ExportObserver* observer) {
  const ExportOptions& o = options_;
  const fs::path state_path = o.out_dir / kStateFile;
  Manifest manifest;
  StatusPoll poll(o.poll_interval, o.poll_interval_max, o.max_retry_after, Clock::now() + o.timeout);
  std::string page_url = state.status_url;
  int pages = 0;
  while (true) {
    http::Request req;
    req.url = page_url;
    req.headers.Add("Accept", "application/json");
    req.return_429 = true;
    auto resp = client.Send(req);
    if (!resp.ok()) {
      log.Event("status_error", ErrorDetail(nullptr, resp.status().message()));
      return resp.status().WithContext("status request failed (run the same command again to resume)");
    }
    // IG: polled too often, the server answers 429 with Retry-After, which times the next poll.
    // An error whose OperationOutcome is transient is a failed poll, not a failed export: the
    // server asks to be asked again later (the client's own retries of a 5xx came first).
    const bool transient = resp->status != 200 && resp->status != 202 && resp->status != 404 &&
                           resp->status != 410 && fhir::IsTransientOutcome(resp->body);
    if (resp->status == 202 || resp->status == 429 || transient) {
      std::string progress = resp->status == 429 ? "429: the server asks to poll less often"
                             : transient        ? "HTTP " + std::to_string(resp->status) + ", transient: " +
                                                   fhir::DescribeErrorBody(resp->body)
                                                 : resp->headers.Get("X-Progress").value_or("");
      auto retry_after = resp->headers.Get("Retry-After");
      const http::Millis wait = poll.NextWait(retry_after);
      log.Event("status_progress", json{{"body", nullptr},
                                        {"xProgress", progress.empty() ? json(nullptr) : json(progress)},
                                        {"retryAfter", retry_after ? json(*retry_after) : json(nullptr)}}.dump());
      if (observer) observer->OnServerProgress(progress.empty() ? "in progress" : progress);
      if (poll.PastDeadline(wait)) {
        log.Event("status_error", ErrorDetail(&resp.value(), "timed out"));
        return Status(StatusCode::kCancelled,
                      "the export did not finish within the timeout; run the same command again to "
                      "keep waiting (status URL " + http::RedactUrl(state.status_url) + ")");
      }
      if (!StatusPoll::Wait(wait, o.stop)) return Cancelled("the export was cancelled");
      continue;
    }
    if (resp->status != 200) {
      std::string text = ErrorText(*resp);
      log.Event("status_error", ErrorDetail(&resp.value(), text));
      if (resp->status == 404 || resp->status == 410) {
        return Status(StatusCode::kNotFound, "the server no longer knows export " + http::RedactUrl(page_url) + " (" + text +
                           "); it was cancelled or has expired: delete " + state_path.string() +
                           " or use another directory to start a new export");
      }
      return ServerError("export failed: " + text);
    }
    auto page = Manifest::Parse(resp->body, page_url);
    if (!page.ok()) {
      log.Event("status_error", ErrorDetail(&resp.value(), page.status().message()));
      return InvalidArgument("malformed manifest from " + http::RedactUrl(page_url) + ": " + page.status().message());
    }
    ++pages;
    if (pages == 1) {
      log.Event("status_complete", json{{"transactionTime", page->transaction_time}}.dump());
      manifest = page.value();
      manifest.next.reset();
    } else {
      manifest.AppendPage(page.value());
    }
    log.Event("status_page_complete", json{{"transactionTime", page->transaction_time},
                                           {"outputFileCount", page->output.size()},
                                           {"deletedFileCount", page->deleted.size()},
                                           {"errorFileCount", page->error.size()}}.dump());
    if (!page->next) break;
    page_url = *page->next;
    poll.Restart();
  }
  manifest.next.reset();
  log.Event("manifest_complete", json{{"transactionTime", manifest.transaction_time},
                                      {"totalOutputFileCount", manifest.output.size()},
                                      {"totalDeletedFileCount", manifest.deleted.size()},
                                      {"totalErrorFileCount", manifest.error.size()},
                                      {"totalManifests", pages}}.dump());
  return manifest;
}

// Files must come from the FHIR server's origin when same_origin_files_only is set; otherwise
// files elsewhere are fetched without the token, which the user is told once.
Status ExportClient::CheckFileOrigins(const Manifest& manifest, const std::vector<http::DownloadTask>& tasks,
                                      ExportObserver* observer) const {
  const ExportOptions& o = options_;
  if (o.same_origin_files_only) {
    for (const auto& t : tasks) {
      if (!http::MayReceiveToken(t.url, o.client.token_origin)) {
        return ServerError("the manifest lists a file on another origin than the FHIR server (" +
                           http::RedactUrl(t.url) + "); files must come from " + o.client.token_origin);
      }
    }
  }
  if (manifest.requires_access_token) {
    for (const auto& t : tasks) {
      if (!http::MayReceiveToken(t.url, o.client.token_origin)) {
        Notice(observer, "file URLs on another origin than the FHIR server (" + http::RedactUrl(t.url) +
                             ") are requested without the access token");
        break;
      }
    }
  }
  return Status::Ok();
}

// Downloads every file the manifest lists (finished ones are skipped, partial ones resumed)
// and summarises; a complete export moves the state to complete.
Result<ExportSummary> ExportClient::Download(const Manifest& manifest, State& state, ExportLog& log,
                                             ExportObserver* observer) {
  const ExportOptions& o = options_;
  Phase(observer, "downloading");
  std::vector<http::DownloadTask> tasks = PlanDownloads(manifest, o.out_dir);
  FHIRLAKE_RETURN_IF_ERROR(CheckFileOrigins(manifest, tasks, observer));
  if (observer) observer->OnDownloadsPlanned(tasks);
  http::DownloadOptions dopt;
  dopt.client = o.client;
  dopt.parallel = o.parallel;
  dopt.accept_gzip = o.accept_gzip;
  dopt.stop = o.stop;
  http::Downloader downloader(dopt);
  LoggingDownloadObserver logging(log, manifest, observer);
  const auto started = Clock::now();
  auto results = downloader.Run(tasks, &logging);
  if (o.stop && o.stop->load()) return Cancelled("the export was cancelled");

  ExportSummary summary;
  summary.status_url = state.status_url;
  summary.transaction_time = manifest.transaction_time;
  summary.files = tasks.size();
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (r.skipped) ++summary.files_skipped;
    summary.bytes += r.bytes;
    if (i < manifest.output.size()) summary.resources += r.lines;
    if (!r.status.ok()) {
      summary.files_gone = summary.files_gone || r.http_status == 404 || r.http_status == 410;
      std::string message = tasks[i].destination.filename().string() + ": " + r.status.message();
      if (!r.error_body.empty()) message += ": " + fhir::DescribeErrorBody(r.error_body);
      summary.failures.push_back(std::move(message));
    }
  }
  if (summary.complete()) {
    state.phase = "complete";
    FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(o.out_dir / kStateFile, state.ToJson()));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    log.Event("export_complete", json{{"files", summary.files},
                                      {"resources", summary.resources},
                                      {"bytes", summary.bytes},
                                      {"attachments", nullptr},
                                      {"duration", ms}}.dump());
  }
  return summary;
}

}  // namespace fhirlake::bulk
