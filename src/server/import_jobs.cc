#include "fhirlake/server/import_jobs.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "fhirlake/bulk/export_client.h"
#include "fhirlake/http/downloader.h"
#include "fhirlake/fhir/parameters.h"
#include "fhirlake/http/url.h"
#include "fhirlake/server/job_log.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"

namespace fhirlake::server {
namespace fs = std::filesystem;

struct ImportJobs::Job {
  ImportJobView view;
  std::atomic<bool> cancelled{false};  // stop at the next step: a client's cancel, or shutdown
  std::atomic<bool> forgotten{false};  // a client's cancel: the record is gone, the files go too
};

namespace {

using nlohmann::json;

// Splits an exportUrl into its FHIR base, the export level it names and its query.
Status SplitExportUrl(const std::string& url, ImportRequest& r) {
  auto parsed = http::Url::Parse(url);
  if (!parsed.ok()) return InvalidArgument("exportUrl: " + parsed.status().message());
  std::string path = url.substr(0, url.find('?'));
  std::string query = url.find('?') == std::string::npos ? "" : url.substr(url.find('?') + 1);
  bulk::ExportLevel level = bulk::ExportLevel::kSystem;
  std::string group;
  auto strip = [&](const std::string& suffix) {
    if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      path.resize(path.size() - suffix.size());
      return true;
    }
    return false;
  };
  if (strip("/Patient/$export")) {
    level = bulk::ExportLevel::kPatient;
  } else if (strip("/$export")) {
    size_t g = path.rfind("/Group/");
    if (g != std::string::npos) {
      group = http::DecodeQueryComponent(path.substr(g + 7));
      path.resize(g);
      level = bulk::ExportLevel::kGroup;
    }
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  r.base_url = path;
  auto params = bulk::ExportParameters::FromQuery(level, group, http::ParseQuery(query));
  if (!params.ok()) return InvalidArgument("exportUrl: " + params.status().message());
  r.parameters = std::move(params.value());
  return Status::Ok();
}

}  // namespace

Result<ImportRequest> ParseImportPnp(std::string_view body) {
  auto p = fhir::Parameters::Parse(body);
  if (!p.ok()) return InvalidArgument("the body is not a FHIR Parameters resource: " + p.status().message());
  ImportRequest r;
  auto url = p->First("exportUrl");
  if (!url || url->empty()) return InvalidArgument("the parameter 'exportUrl' is required");
  r.export_url = *url;
  FHIRLAKE_RETURN_IF_ERROR(SplitExportUrl(r.export_url, r));
  if (auto t = p->First("exportType")) {
    if (*t != "dynamic" && *t != "static") return InvalidArgument("the parameter 'exportType' must be dynamic or static");
    r.static_manifest = *t == "static";
  }
  for (const char* name : {"saveMode", "mode"}) {
    if (auto m = p->First(name)) {
      auto mode = load::ParseSaveMode(*m);
      if (!mode.ok()) return InvalidArgument(std::string("the parameter '") + name + "': " + mode.status().message());
      r.mode = *mode;
    }
  }
  if (auto f = p->First("inputFormat"); f && *f != "application/fhir+ndjson" && *f != "ndjson" &&
                                        *f != "application/ndjson") {
    return InvalidArgument("the parameter 'inputFormat' must be application/fhir+ndjson");
  }
  bulk::ExportParameters& e = r.parameters;
  auto list = [&](const char* name, std::vector<std::string>& out) {
    for (const auto& v : p->Values(name)) {
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  };
  list("_type", e.types);
  list("_elements", e.elements);
  list("includeAssociatedData", e.include_associated_data);
  for (const auto& f : p->Values("_typeFilter")) e.type_filters.push_back(f);
  if (auto v = p->First("_since")) e.since = *v;
  if (auto v = p->First("_until")) e.until = *v;
  if (auto v = p->First("_outputFormat")) e.output_format = *v;
  return r;
}

namespace {

json RequestJson(const ImportRequest& r) {
  json inputs = json::array();
  for (const auto& in : r.inputs) inputs.push_back({{"type", in.type}, {"url", in.url}});
  return {{"inputs", inputs},
          {"exportUrl", r.export_url},
          {"staticManifest", r.static_manifest},
          {"parameters", r.parameters.ToParametersJson()},
          {"level", static_cast<int>(r.parameters.level)},
          {"group", r.parameters.group_id},
          {"mode", static_cast<int>(r.mode)},
          {"owner", r.owner}};
}

Result<ImportRequest> RequestFromJson(const json& j) {
  ImportRequest r;
  for (const auto& in : j.value("inputs", json::array())) r.inputs.push_back({in.value("type", ""), in.value("url", "")});
  r.export_url = j.value("exportUrl", "");
  if (!r.export_url.empty()) FHIRLAKE_RETURN_IF_ERROR(SplitExportUrl(r.export_url, r));
  auto params = bulk::ExportParameters::FromParametersJson(static_cast<bulk::ExportLevel>(j.value("level", 0)),
                                                            j.value("group", ""), j.value("parameters", "{}"));
  if (!params.ok()) return params.status();
  r.parameters = std::move(params.value());
  r.static_manifest = j.value("staticManifest", false);
  r.mode = static_cast<load::SaveMode>(j.value("mode", 0));
  r.owner = j.value("owner", "");
  return r;
}

}  // namespace

Result<ImportRequest> ParseImportManifest(std::string_view body) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return InvalidArgument("the body is neither a JSON manifest nor a Parameters resource");
  ImportRequest r;
  auto mode = [&](const std::string& name, const std::string& value) -> Status {
    auto m = load::ParseSaveMode(value);
    if (!m.ok()) return InvalidArgument("the parameter '" + name + "': " + m.status().message());
    r.mode = *m;
    return Status::Ok();
  };
  auto format = [](const std::string& f) -> Status {
    if (f.empty() || f == "application/fhir+ndjson" || f == "ndjson" || f == "application/ndjson") return Status::Ok();
    return InvalidArgument("the parameter 'inputFormat' must be application/fhir+ndjson");
  };
  if (doc.value("resourceType", "") == "Parameters") {
    auto p = fhir::Parameters::Parse(body);
    if (!p.ok()) return InvalidArgument(p.status().message());
    if (p->First("exportUrl")) return ParseImportPnp(body);  // the ping-and-pull form of $import
    for (const auto& item : p->items()) {
      if (item.name == "input") {
        ImportInput in;
        for (const auto& part : item.parts) {
          if (part.name == "resourceType" || part.name == "type") in.type = part.value;
          if (part.name == "url") in.url = part.value;
        }
        if (in.type.empty() || in.url.empty()) return InvalidArgument("each 'input' needs the parts 'resourceType' and 'url'");
        r.inputs.push_back(std::move(in));
      } else if (item.name == "saveMode" || item.name == "mode") {
        FHIRLAKE_RETURN_IF_ERROR(mode(item.name, item.value));
      } else if (item.name == "inputFormat") {
        FHIRLAKE_RETURN_IF_ERROR(format(item.value));
      }
    }
  } else {
    if (!doc.contains("input") || !doc["input"].is_array()) return InvalidArgument("the manifest needs an 'input' array");
    for (const auto& in : doc["input"]) {
      if (!in.is_object() || !in.contains("type") || !in.contains("url") || !in["type"].is_string() ||
          !in["url"].is_string()) {
        return InvalidArgument("each 'input' needs 'type' and 'url' strings");
      }
      r.inputs.push_back({in["type"].get<std::string>(), in["url"].get<std::string>()});
    }
    for (const char* name : {"saveMode", "mode"}) {
      if (doc.contains(name) && doc[name].is_string()) FHIRLAKE_RETURN_IF_ERROR(mode(name, doc[name].get<std::string>()));
    }
    if (doc.contains("inputFormat") && doc["inputFormat"].is_string()) FHIRLAKE_RETURN_IF_ERROR(format(doc["inputFormat"]));
  }
  if (r.inputs.empty()) return InvalidArgument("the manifest lists no 'input'");
  for (const auto& in : r.inputs) {
    if (in.url.rfind("s3://", 0) == 0) {
      return InvalidArgument("input " + in.url.substr(0, in.url.find('/', 5)) +
                             "/…: s3:// inputs are not supported yet; give file:// or http(s):// URLs");
    }
    if (in.url.rfind("file://", 0) != 0 && in.url.rfind("http://", 0) != 0 && in.url.rfind("https://", 0) != 0) {
      return InvalidArgument("input URLs must be file://, http:// or https://");
    }
    if (in.type.empty() || !std::isupper(static_cast<unsigned char>(in.type[0])) ||
        in.type.find_first_of("/.\\ ") != std::string::npos) {
      return InvalidArgument("'" + in.type + "' is not a resource type");
    }
  }
  return r;
}

ImportJobs::ImportJobs(ImportJobsOptions options)
    : options_(std::move(options)), work_dir_(options_.warehouse / "_fhirlake" / "imports") {
  std::error_code ec;
  fs::create_directories(work_dir_, ec);
  Recover();
  for (int i = 0; i < std::max(1, options_.concurrency); ++i) workers_.emplace_back([this] { Worker(); });
}

http::ClientOptions ImportJobs::ClientFor(const std::string& url) const {
  http::ClientOptions client = options_.client;
  client.tokens.reset();
  size_t longest = 0;
  for (const auto& source : options_.sources) {
    // Longest match by normalised path: the most specific source's credentials.
    if (auto under = http::UnderPrefixLength(url, source.prefix); under && *under >= longest) {
      client.tokens = source.tokens;
      longest = *under;
    }
  }
  return client;
}

void ImportJobs::Save(const Job& job) const {
  const ImportJobView& v = job.view;
  json tables = json::array();
  for (const auto& t : v.tables) {
    tables.push_back({{"type", t.type}, {"rows", t.rows}, {"inserted", t.inserted}, {"updated", t.updated},
                      {"deleted", t.deleted}, {"badLines", t.bad_lines}, {"version", t.version}});
  }
  json record = {{"id", v.id}, {"state", v.state}, {"phase", v.phase}, {"progress", v.progress},
                 {"request", RequestJson(v.request)}, {"transactionTime", v.transaction_time}, {"error", v.error},
                 {"errorStatus", v.error_status}, {"finishedAt", v.finished_at}, {"tables", tables},
                 {"errorFiles", v.error_files}};
  // A record that cannot be written leaves the job running; a restart then redoes it, which
  // the per-job txn makes harmless.
  (void)store::WriteFileAtomically(work_dir_ / (v.id + ".json"), record.dump());
}

void ImportJobs::Recover() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(work_dir_, ec)) {
    if (e.path().extension() != ".json") continue;
    auto text = store::ReadSmallFile(e.path());
    if (!text.ok()) continue;
    json j = json::parse(*text, nullptr, false);
    if (!j.is_object()) continue;
    auto request = RequestFromJson(j.value("request", json::object()));
    if (!request.ok()) continue;
    auto job = std::make_shared<Job>();
    ImportJobView& v = job->view;
    v.id = j.value("id", "");
    v.state = j.value("state", "");
    v.phase = j.value("phase", "");
    v.progress = j.value("progress", "");
    v.request = std::move(request.value());
    v.transaction_time = j.value("transactionTime", "");
    v.error = j.value("error", "");
    v.error_status = j.value("errorStatus", 500);
    v.finished_at = j.value("finishedAt", int64_t{0});
    v.error_files = j.value("errorFiles", std::vector<std::string>{});
    for (const auto& t : j.value("tables", json::array())) {
      load::TableResult r;
      r.type = t.value("type", "");
      r.rows = t.value("rows", uint64_t{0});
      r.inserted = t.value("inserted", uint64_t{0});
      r.updated = t.value("updated", uint64_t{0});
      r.deleted = t.value("deleted", uint64_t{0});
      r.bad_lines = t.value("badLines", uint64_t{0});
      r.version = t.value("version", int64_t{-1});
      v.tables.push_back(r);
    }
    if (v.id.empty()) continue;
    if (v.state == "queued" || v.state == "running") {  // interrupted: run it (again)
      v.state = "queued";
      v.progress = "queued (resumed after a restart)";
      queue_.push_back(job);
    }
    jobs_[v.id] = job;
  }
  std::sort(queue_.begin(), queue_.end(), [](const auto& a, const auto& b) { return a->view.id < b->view.id; });
  Expire();
}

void ImportJobs::Expire() {
  const int64_t cutoff = fhir::NowMicros() - static_cast<int64_t>(options_.ttl.count()) * 1'000'000;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const ImportJobView& v = it->second->view;
    if (v.finished_at > 0 && v.finished_at < cutoff) {
      Forget(v);
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void ImportJobs::Forget(const ImportJobView& v) const {
  std::error_code ec;
  fs::remove(work_dir_ / (v.id + ".json"), ec);
  fs::remove_all(work_dir_ / v.id, ec);
  for (const auto& name : v.error_files) fs::remove(options_.warehouse / "_errors" / name, ec);
}

ImportJobs::~ImportJobs() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, job] : jobs_) job->cancelled = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

std::string ImportJobs::Submit(ImportRequest request) {
  auto job = std::make_shared<Job>();
  // Ids sort by submission time, so a restart requeues jobs in their order.
  char prefix[17];
  std::snprintf(prefix, sizeof prefix, "%016llx", static_cast<unsigned long long>(fhir::NowMicros()));
  job->view.id = std::string(prefix) + store::RandomHex(4);
  job->view.state = "queued";
  job->view.phase = "queued";
  job->view.progress = "queued";
  job->view.request = std::move(request);
  std::lock_guard lock(mu_);
  Expire();
  jobs_[job->view.id] = job;
  queue_.push_back(job);
  Save(*job);
  LogImportAccepted(job->view);
  cv_.notify_one();
  return job->view.id;
}

std::optional<ImportJobView> ImportJobs::Get(const std::string& id) {
  std::lock_guard lock(mu_);
  Expire();
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second->view;
}

bool ImportJobs::Cancel(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  it->second->cancelled = true;
  it->second->forgotten = true;
  it->second->view.state = "cancelled";
  std::error_code ec;
  fs::remove(work_dir_ / (id + ".json"), ec);
  jobs_.erase(it);
  LogImportCancelled(id);
  return true;
}

std::string ImportJobs::Metrics() const {
  std::lock_guard lock(mu_);
  std::map<std::string, int> by_state = {{"queued", 0}, {"running", 0}, {"completed", 0}, {"failed", 0}};
  uint64_t inserted = 0, updated = 0, deleted = 0;
  for (const auto& [id, job] : jobs_) {
    ++by_state[job->view.state];
    for (const auto& t : job->view.tables) {
      inserted += t.inserted;
      updated += t.updated;
      deleted += t.deleted;
    }
  }
  std::string out = "# HELP fhirlake_import_jobs Import jobs on record by state.\n# TYPE fhirlake_import_jobs gauge\n";
  for (const auto& [state, n] : by_state) out += "fhirlake_import_jobs{state=\"" + state + "\"} " + std::to_string(n) + "\n";
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + std::to_string(v) + "\n";
  };
  counter("fhirlake_import_rows_inserted", "Rows inserted by import jobs on record.", inserted);
  counter("fhirlake_import_rows_updated", "Rows updated by import jobs on record.", updated);
  counter("fhirlake_import_rows_deleted", "Rows deleted by import jobs on record.", deleted);
  return out;
}

// The first queued job whose source no running job pulls from, taken off the queue and
// marked running. Cancelled jobs are dropped on the way.
std::shared_ptr<ImportJobs::Job> ImportJobs::NextRunnable() {
  for (auto it = queue_.begin(); it != queue_.end();) {
    std::shared_ptr<Job> job = *it;
    if (job->cancelled) {
      it = queue_.erase(it);
      continue;
    }
    const std::string& source = job->view.request.base_url;
    if (!source.empty() && busy_sources_.count(source)) {
      job->view.progress = "queued (job " + busy_sources_[source] + " is pulling from the same source)";
      ++it;
      continue;
    }
    queue_.erase(it);
    if (!source.empty()) busy_sources_[source] = job->view.id;
    job->view.state = "running";
    Save(*job);
    LogImportStarted(job->view);
    return job;
  }
  return nullptr;
}

void ImportJobs::Worker() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || (job = NextRunnable()) != nullptr; });
      if (stopping_) return;
    }
    Run(*job);
    // The work folder (the downloaded export) is no longer needed once the job has finished or
    // was cancelled; a job stopped by a shutdown keeps it, so that a restart resumes its export.
    if (job->forgotten || job->view.finished_at > 0) {
      std::error_code ec;
      fs::remove_all(work_dir_ / job->view.id, ec);
    }
    {
      std::lock_guard lock(mu_);
      busy_sources_.erase(job->view.request.base_url);
      if (job->forgotten) Forget(job->view);
    }
    cv_.notify_all();
  }
}

std::shared_ptr<void> ImportJobs::HoldTable(Job& job, const std::string& type) {
  std::unique_lock lock(mu_);
  if (busy_tables_.count(type)) {
    job.view.progress = "waiting for table " + type + " (job " + busy_tables_[type] + " is loading it)";
  }
  tables_cv_.wait(lock, [&] { return !busy_tables_.count(type); });
  busy_tables_[type] = job.view.id;
  job.view.progress = "loading " + type;
  return std::shared_ptr<void>(nullptr, [this, type](void*) {
    {
      std::lock_guard release(mu_);
      busy_tables_.erase(type);
    }
    tables_cv_.notify_all();
  });
}

void ImportJobs::SetProgress(Job& job, std::string text) {
  std::lock_guard lock(mu_);
  job.view.progress = std::move(text);
}

// Turns export callbacks into the job's X-Progress: the source's own progress while it
// prepares the export, then files and bytes downloaded.
class ImportJobs::ExportProgress : public bulk::ExportObserver {
 public:
  ExportProgress(ImportJobs& jobs, Job& job) : jobs_(jobs), job_(job) {}
  void OnServerProgress(std::string_view text) override {
    jobs_.SetProgress(job_, "exporting (source: " + std::string(text) + ")");
  }
  void OnDownloadsPlanned(const std::vector<http::DownloadTask>& tasks) override {
    files_ = tasks.size();
    Report();
  }
  void OnBytes(uint64_t n) override { bytes_ += n; }
  void OnFinished(size_t, const http::DownloadTask&, const http::DownloadResult&) override { ++done_; }
  void OnTick() override { Report(); }

 private:
  void Report() {
    char text[128];
    std::snprintf(text, sizeof text, "downloading %zu/%zu files, %.1f MB", done_.load(), files_.load(),
                  static_cast<double>(bytes_.load()) / 1e6);
    jobs_.SetProgress(job_, text);
  }
  ImportJobs& jobs_;
  Job& job_;
  std::atomic<size_t> files_{0}, done_{0};
  std::atomic<uint64_t> bytes_{0};
};

void ImportJobs::Update(Job& job, const std::function<void(ImportJobView&)>& change) {
  std::lock_guard lock(mu_);
  const std::string state = job.view.state, phase = job.view.phase;
  change(job.view);
  if (!job.cancelled) Save(job);  // a cancelled job's record is gone
  if (!job.forgotten) LogImportTransition(state, phase, job.view);
}

void ImportJobs::Fail(Job& job, const Status& status, int http_status) {
  Update(job, [&](ImportJobView& v) {
    v.state = job.cancelled ? "cancelled" : "failed";
    v.phase = "done";
    v.finished_at = fhir::NowMicros();
    v.error = status.message();
    v.error_status = http_status;
  });
}

void ImportJobs::Run(Job& job) {
  const ImportRequest request = job.view.request;
  const fs::path dir = work_dir_ / job.view.id;
  std::error_code ec;
  fs::create_directories(dir, ec);

  if (!request.inputs.empty()) return RunManifest(job, dir);
  Update(job, [](ImportJobView& v) {
    v.phase = "export";
    v.progress = "exporting";
  });
  bulk::ExportOptions eo;
  eo.base_url = request.base_url;
  eo.out_dir = dir / "export";
  eo.parameters = request.parameters;
  eo.client = ClientFor(request.export_url);
  eo.poll_interval = http::Millis(200);
  eo.stop = &job.cancelled;
  eo.same_origin_files_only = true;
  if (request.static_manifest) eo.resume_status_url = request.export_url;
  bulk::ExportClient exporter(eo);
  ExportProgress progress(*this, job);
  auto exported = exporter.Run(&progress);
  if (job.cancelled) return;
  store::CrashPoint("import-after-export");
  if (!exported.ok()) return Fail(job, exported.status(), 502);
  if (!exported->complete()) {
    return Fail(job, NetworkError(std::to_string(exported->failures.size()) + " files could not be downloaded: " +
                             exported->failures[0]),
                502);
  }

  Update(job, [&](ImportJobView& v) {
    v.phase = "load";
    v.progress = "loading " + std::to_string(exported->resources) + " resources";
    v.transaction_time = exported->transaction_time;
  });
  load::LoadOptions lo;
  lo.export_dir = dir / "export";
  lo.warehouse = options_.warehouse;
  lo.mode = request.mode;
  lo.types = request.parameters.types;
  if (auto tt = fhir::ParseFhirTime(exported->transaction_time)) lo.txn = std::make_pair("fhirlake-import-" + job.view.id, *tt);
  LoadInto(job, lo);
}

void ImportJobs::LoadInto(Job& job, load::LoadOptions lo) {
  lo.hold_table = [this, &job](const std::string& type) { return HoldTable(job, type); };
  auto loaded = load::Load(lo);
  if (!loaded.ok()) return Fail(job, loaded.status(), loaded.status().code() == StatusCode::kInvalidArgument ? 409 : 500);
  Update(job, [&](ImportJobView& v) {
    v.state = "completed";
    v.phase = "done";
    v.progress = "done";
    v.finished_at = fhir::NowMicros();
    v.tables = loaded->tables;
    for (const auto& f : loaded->error_files) v.error_files.push_back(f.filename().string());
  });
}

// $import with a manifest: the files are fetched (file:// copied from under an allowed root,
// http(s):// downloaded from an allowed source) into the job's folder in the export layout,
// then loaded.
void ImportJobs::RunManifest(Job& job, const fs::path& dir) {
  const fs::path in_dir = dir / "input";
  std::error_code ec;
  fs::create_directories(in_dir, ec);
  Update(job, [](ImportJobView& v) {
    v.phase = "fetch";
    v.progress = "fetching " + std::to_string(v.request.inputs.size()) + " files";
  });
  std::vector<http::DownloadTask> downloads;
  std::map<std::string, int> per_type;
  Status problem;
  for (const auto& in : job.view.request.inputs) {
    char number[16];
    std::snprintf(number, sizeof number, "%03d", per_type[in.type]++);
    const fs::path target = in_dir / (in.type + "." + number + ".ndjson");
    if (in.url.rfind("file://", 0) == 0) {
      fs::copy_file(http::DecodeQueryComponent(in.url.substr(7)), target, fs::copy_options::overwrite_existing, ec);
      if (ec) problem = IoError("cannot read " + in.url + ": " + ec.message());
    } else {
      downloads.push_back({in.url, target, false, std::nullopt});
    }
  }
  if (problem.ok() && !downloads.empty()) {
    http::DownloadOptions d;
    d.client = options_.client;
    d.stop = &job.cancelled;
    d.client.tokens.reset();  // tokens go only to the server that issued a manifest
    for (const auto& r : http::Downloader(d).Run(downloads, nullptr)) {
      if (!r.status.ok()) problem = r.status;
    }
  }
  if (job.cancelled) return;
  if (!problem.ok()) return Fail(job, problem, 502);
  Update(job, [](ImportJobView& v) {
    v.phase = "load";
    v.progress = "loading";
    v.transaction_time = fhir::FormatInstant(fhir::NowMicros());
  });
  load::LoadOptions lo;
  lo.export_dir = in_dir;
  lo.warehouse = options_.warehouse;
  lo.mode = job.view.request.mode;
  lo.txn = std::make_pair("fhirlake-import-" + job.view.id, int64_t{1});
  LoadInto(job, lo);
}

}  // namespace fhirlake::server
