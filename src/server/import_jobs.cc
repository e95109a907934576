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
#include "fhirlake/store/file_transfer.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/s3_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/sync/export_load.h"
#include "fhirlake/view/view_files.h"
#include "fhirlake/json_field.h"

namespace fhirlake::server {
namespace fs = std::filesystem;

struct ImportJobs::Job {
  ImportJobView view;
  std::atomic<bool> cancelled{false};  // stop at the next step: a client's cancel, or shutdown
  std::atomic<bool> forgotten{false};  // a client's cancel: the record is gone, the files go too
};

using nlohmann::json;

namespace {

// A job's record (WAREHOUSE/_fhirlake/imports/<id>.json): every field is named once, in
// Fields(), which both directions walk.
struct RecordWriter {
  json& j;
  template <typename T>
  void operator()(const char* name, const T& value, const T& = T{}) { j[name] = value; }
  void operator()(const char* name, ImportState s, ImportState = {}) { j[name] = ImportStateName(s); }
  void operator()(const char* name, ImportPhase p, ImportPhase = {}) { j[name] = ImportPhaseName(p); }
};

struct RecordReader {
  const json& j;
  template <typename T>
  void operator()(const char* name, T& value, const T& fallback = T{}) { value = j.value(name, fallback); }
  template <typename E>
  void Enum(const char* name, E& value, E fallback, const char* (*names)(E), E last) {
    const std::string text = j.value(name, "");
    value = fallback;
    for (int i = 0; i <= static_cast<int>(last); ++i) {
      if (text == names(static_cast<E>(i))) value = static_cast<E>(i);
    }
  }
  void operator()(const char* name, ImportState& s, ImportState fallback = {}) {
    Enum(name, s, fallback, ImportStateName, ImportState::kCancelled);
  }
  void operator()(const char* name, ImportPhase& p, ImportPhase fallback = {}) {
    Enum(name, p, fallback, ImportPhaseName, ImportPhase::kDone);
  }
};

template <typename Io, typename Table>
void TableFields(Io& io, Table& t) {
  io("type", t.type);
  io("rows", t.rows);
  io("inserted", t.inserted);
  io("updated", t.updated);
  io("deleted", t.deleted);
  io("badLines", t.bad_lines);
  io("version", t.version, int64_t{-1});
}

template <typename Io, typename View>
void Fields(Io& io, View& v) {
  io("id", v.id);
  io("state", v.state, ImportState::kFailed);  // (a record without a known state is not rerun)
  io("phase", v.phase, ImportPhase::kDone);
  io("progress", v.progress);
  io("transactionTime", v.transaction_time);
  io("error", v.error);
  io("errorStatus", v.error_status, 500);
  io("finishedAt", v.finished_at, int64_t{0});
  io("errorFiles", v.error_files);
}

}  // namespace

const char* ImportStateName(ImportState state) {
  switch (state) {
    case ImportState::kQueued: return "queued";
    case ImportState::kRunning: return "running";
    case ImportState::kCompleted: return "completed";
    case ImportState::kFailed: return "failed";
    case ImportState::kCancelled: return "cancelled";
  }
  return "?";
}

const char* ImportPhaseName(ImportPhase phase) {
  switch (phase) {
    case ImportPhase::kQueued: return "queued";
    case ImportPhase::kFetch: return "fetch";
    case ImportPhase::kExport: return "export";
    case ImportPhase::kLoad: return "load";
    case ImportPhase::kDone: return "done";
  }
  return "?";
}

json ImportJobs::RecordOf(const ImportJobView& v) {
  json record = json::object();
  RecordWriter writer{record};
  Fields(writer, v);
  record["request"] = ImportRequestToJson(v.request);
  json tables = json::array();
  for (const auto& t : v.tables) {
    json table = json::object();
    RecordWriter w{table};
    TableFields(w, t);
    tables.push_back(std::move(table));
  }
  record["tables"] = std::move(tables);
  return record;
}

Result<ImportJobView> ImportJobs::ViewOf(const json& record) {
  auto request = ImportRequestFromJson(FieldOr(record, "request", json::object()));
  if (!request.ok()) return request.status();
  ImportJobView v;
  RecordReader reader{record};
  Fields(reader, v);
  v.request = std::move(request.value());
  for (const auto& t : FieldOr(record, "tables", json::array())) {
    load::TableResult table;
    RecordReader r{t};
    TableFields(r, table);
    v.tables.push_back(std::move(table));
  }
  return v;
}

ImportJobs::ImportJobs(ImportJobsOptions options, std::unique_ptr<store::ObjectStore> warehouse)
    : options_(std::move(options)),
      work_dir_(options_.staging_dir.empty()
                    ? store::WarehouseLayout(options_.warehouse.string()).Path(store::WarehouseLayout::kImports)
                    : options_.staging_dir),
      store_(std::move(warehouse)) {
  std::error_code ec;
  fs::create_directories(work_dir_, ec);
  Recover();
  for (int i = 0; i < std::max(1, options_.concurrency); ++i) workers_.emplace_back([this] { Worker(); });
}

http::ClientOptions ImportJobs::ClientFor(const std::string& url) const {
  http::ClientOptions client = options_.client;
  client.tokens.reset();
  client.same_origin_redirects = true;  // the allowed sources were checked, not where they redirect
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

std::string ImportJobs::RecordKey(const std::string& id) {
  return store::WarehouseLayout::Join(store::WarehouseLayout::kImports, id + ".json");
}

void ImportJobs::Save(const Job& job) const {
  // A record that cannot be written leaves the job running; a restart then redoes it, which
  // the per-job txn makes harmless. Put is atomic: a reader sees the old record or the new one.
  (void)store_->Put(RecordKey(job.view.id), RecordOf(job.view).dump());
}

void ImportJobs::Recover() {
  // Records are the objects directly under _fhirlake/imports/ (locally, job folders sit beside
  // them; their files are skipped).
  const std::string prefix = std::string(store::WarehouseLayout::kImports) + "/";
  auto listed = store::ListAll(*store_, prefix);
  if (!listed.ok()) LogImportRecoveryFailed(listed.status());
  for (const auto& object : listed.ok() ? *listed : std::vector<store::ObjectInfo>{}) {
    const std::string name = object.key.substr(prefix.size());
    if (name.find('/') != std::string::npos || !name.ends_with(".json")) continue;
    auto text = store_->Get(object.key, 1u << 20);
    if (!text.ok()) continue;
    json j = ParseJsonFromOutside(*text);
    if (!j.is_object()) continue;
    auto view = ViewOf(j);
    if (!view.ok() || view->id.empty()) continue;
    auto job = std::make_shared<Job>();
    job->view = std::move(view.value());
    ImportJobView& v = job->view;
    if (v.state == ImportState::kQueued || v.state == ImportState::kRunning) {  // interrupted: run it (again)
      v.state = ImportState::kQueued;
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
  (void)store_->Delete(RecordKey(v.id));  // best effort: a leftover expires again next start
  fs::remove_all(work_dir_ / v.id, ec);
  for (const auto& name : v.error_files) (void)store_->Delete(store::WarehouseLayout::ErrorFile(name));
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
  job->view.state = ImportState::kQueued;
  job->view.phase = ImportPhase::kQueued;
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
  it->second->view.state = ImportState::kCancelled;
  (void)store_->Delete(RecordKey(id));  // best effort: a leftover record is a cancelled job's
  jobs_.erase(it);
  LogImportCancelled(id);
  return true;
}

std::string ImportJobs::Metrics() const {
  std::lock_guard lock(mu_);
  std::map<std::string, int> by_state = {{"queued", 0}, {"running", 0}, {"completed", 0}, {"failed", 0}};
  uint64_t inserted = 0, updated = 0, deleted = 0;
  for (const auto& [id, job] : jobs_) {
    ++by_state[ImportStateName(job->view.state)];
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
    job->view.state = ImportState::kRunning;
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
  const ImportState state = job.view.state;
  const ImportPhase phase = job.view.phase;
  change(job.view);
  // A client's cancel removed the record. A shutdown stops a job at its next step, but a load
  // under way cannot stop and commits: its end is recorded, or a restart would run the job
  // again (and load it twice).
  if (!job.forgotten) Save(job);
  if (!job.forgotten) LogImportTransition(state, phase, job.view);
}

void ImportJobs::Fail(Job& job, const Status& status, int http_status) {
  Update(job, [&](ImportJobView& v) {
    v.state = job.forgotten ? ImportState::kCancelled : ImportState::kFailed;
    v.phase = ImportPhase::kDone;
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
    v.phase = ImportPhase::kExport;
    v.progress = "exporting";
  });
  sync::ExportLoadOptions pipeline_options;
  bulk::ExportOptions& eo = pipeline_options.export_options;
  eo.base_url = request.base_url;
  eo.out_dir = dir / "export";  // (eo is moved into the pipeline below)
  eo.parameters = request.parameters;
  eo.client = ClientFor(request.export_url);
  eo.poll_interval = http::Millis(200);
  eo.stop = &job.cancelled;
  eo.same_origin_files_only = true;
  if (request.static_manifest) eo.resume_status_url = request.export_url;
  load::LoadOptions& lo = pipeline_options.load_options;
  lo.warehouse = options_.warehouse;
  lo.mode = request.mode;
  lo.types = request.parameters.types;
  lo.hold_table = [this, &job](const std::string& type) { return HoldTable(job, type); };
  lo.target_file_bytes = options_.maintenance.compaction.target_file_bytes;
  lo.small_file_bytes = sync::LoadSmallFileBytes(options_.maintenance);
  pipeline_options.txn_app_id = "fhirlake-import-" + job.view.id;
  sync::ExportLoad pipeline(std::move(pipeline_options));
  ExportProgress progress(*this, job);
  auto exported = pipeline.Export(&progress);
  if (job.forgotten && !request.static_manifest) {
    // The client cancelled the import: the source need not finish (or keep) its export either.
    if (auto saved = bulk::ExportClient::SavedIn(dir / "export"); saved && !saved->status_url.empty()) {
      LogImportSourceExportCancelled(job.view.id, bulk::ExportClient::Cancel(*saved, ClientFor(request.export_url)));
    }
  }
  if (job.cancelled) return;
  store::CrashPoint("import-after-export");
  if (!exported.ok()) return Fail(job, exported.status(), 502);

  Update(job, [&](ImportJobView& v) {
    v.phase = ImportPhase::kLoad;
    v.progress = "loading " + std::to_string(exported->resources) + " resources";
    v.transaction_time = exported->transaction_time;
  });
  Finish(job, pipeline.Load(*exported));
}

void ImportJobs::LoadInto(Job& job, load::LoadOptions lo) {
  lo.hold_table = [this, &job](const std::string& type) { return HoldTable(job, type); };
  Finish(job, load::Load(lo));
}

void ImportJobs::Finish(Job& job, const Result<load::LoadSummary>& loaded) {
  if (!loaded.ok()) return Fail(job, loaded.status(), loaded.status().code() == StatusCode::kInvalidArgument ? 409 : 500);
  MaintainTables(job, *loaded);
  if (Status views = RefreshViews(job, *loaded); !views.ok()) {
    return Fail(job, views.WithContext("the import was committed, but a view was not refreshed (importing again refreshes it)"),
                500);
  }
  Update(job, [&](ImportJobView& v) {
    v.state = ImportState::kCompleted;
    v.phase = ImportPhase::kDone;
    v.progress = "done";
    v.finished_at = fhir::NowMicros();
    v.tables = loaded->tables;
    for (const auto& f : loaded->error_files) v.error_files.push_back(f.filename().string());
  });
}

// Each loaded table, held like a load holds it so that no job of this server writes it
// meanwhile (another process's commits meet compaction's commit conflict check).
void ImportJobs::MaintainTables(Job& job, const load::LoadSummary& loaded) {
  if (!options_.maintenance.enabled) return;
  sync::MaintenancePolicy policy = options_.maintenance;
  policy.compaction.schema = load::LoadOptions{}.schema;  // the schema imports load with
  for (const auto& t : loaded.tables) {
    if (job.cancelled) return;
    std::shared_ptr<void> held = HoldTable(job, t.type);
    SetProgress(job, "maintaining " + t.type);
    LogImportMaintenance(job.view.id, sync::MaintainTable(options_.warehouse, t.type, policy));
  }
}

Status ImportJobs::RefreshViews(Job& job, const load::LoadSummary& loaded) {
  if (!options_.views) return Status::Ok();
  std::vector<const view::ViewDefinition*> due;
  for (const auto& v : *options_.views) {
    for (const auto& t : loaded.tables) {
      if (t.type == v.resource()) {
        due.push_back(&v);
        break;
      }
    }
  }
  if (due.empty()) return Status::Ok();
  SetProgress(job, "refreshing " + std::to_string(due.size()) + " views");
  std::lock_guard lock(views_mu_);
  return view::RefreshViews(options_.warehouse, due);
}

// $import with a manifest: the files are fetched (file:// copied from under an allowed root,
// http(s):// downloaded from an allowed source) into the job's folder in the export layout,
// then loaded.
void ImportJobs::RunManifest(Job& job, const fs::path& dir) {
  const fs::path in_dir = dir / "input";
  std::error_code ec;
  fs::create_directories(in_dir, ec);
  Update(job, [](ImportJobView& v) {
    v.phase = ImportPhase::kFetch;
    v.progress = "fetching " + std::to_string(v.request.inputs.size()) + " files";
  });
  std::vector<http::DownloadTask> downloads;
  std::map<std::string, int> per_type;
  Status problem;
  for (const auto& in : job.view.request.inputs) {
    char number[16];
    std::snprintf(number, sizeof number, "%03d", per_type[in.type]++);
    const fs::path target = in_dir / (in.type + "." + number + ".ndjson");
    if (store::IsS3Location(in.url)) {
      // The bucket is the store; the URL's key is the object (the server checked the prefix).
      auto location = store::S3Location::Parse(in.url);
      auto bucket = location.ok() ? store::OpenStore("s3://" + location->bucket)
                                  : Result<std::unique_ptr<store::ObjectStore>>(location.status());
      Status copied = bucket.ok() ? store::DownloadFile(**bucket, location->key, target) : bucket.status();
      if (!copied.ok()) problem = copied.WithContext("cannot read " + in.url);
    } else if (in.url.rfind("file://", 0) == 0) {
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
    v.phase = ImportPhase::kLoad;
    v.progress = "loading";
    v.transaction_time = fhir::FormatInstant(fhir::NowMicros());
  });
  load::LoadOptions lo;
  lo.export_dir = in_dir;
  lo.warehouse = options_.warehouse;
  lo.mode = job.view.request.mode;
  lo.txn = std::make_pair("fhirlake-import-" + job.view.id, int64_t{1});
  lo.target_file_bytes = options_.maintenance.compaction.target_file_bytes;
  lo.small_file_bytes = sync::LoadSmallFileBytes(options_.maintenance);
  LoadInto(job, lo);
}

}  // namespace fhirlake::server
