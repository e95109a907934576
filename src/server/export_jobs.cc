#include "fhirlake/server/export_jobs.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/ndjson_files.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/fhir/type_model.h"
#include "fhirlake/http/ndjson_lines.h"
#include "fhirlake/load/unload.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"
#include "fhirlake/json_field.h"

namespace fhirlake::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One `_typeFilter` we can evaluate: every `name=v1,v2` must match a top-level string element.
struct TypeFilter {
  std::string type;
  std::vector<std::pair<std::string, std::vector<std::string>>> terms;
};

std::optional<TypeFilter> ParseTypeFilter(const std::string& text) {
  auto q = text.find('?');
  if (q == std::string::npos || q == 0) return std::nullopt;
  TypeFilter f;
  f.type = text.substr(0, q);
  std::string_view rest(text);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view term = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    auto eq = term.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string name(term.substr(0, eq));
    if (name.find_first_of(":._") != std::string::npos) return std::nullopt;  // modifiers, chains, _params
    std::vector<std::string> values;
    std::string_view v = term.substr(eq + 1);
    while (true) {
      auto comma = v.find(',');
      values.emplace_back(v.substr(0, comma));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
    f.terms.emplace_back(std::move(name), std::move(values));
  }
  if (f.terms.empty()) return std::nullopt;
  return f;
}

bool Matches(const TypeFilter& f, simdjson::dom::element resource) {
  for (const auto& [name, values] : f.terms) {
    std::string_view actual;
    if (resource[name].get_string().get(actual) != simdjson::SUCCESS) return false;
    if (std::find(values.begin(), values.end(), actual) == values.end()) return false;
  }
  return true;
}

std::string NewJobId() { return store::RandomHex(8); }  // 16 hex digits: Expire knows job folders by them

std::string ReferenceOf(simdjson::dom::element resource, std::string_view type) {
  std::string_view s;
  if (type == "Patient") {
    if (resource["id"].get_string().get(s) == simdjson::SUCCESS) return "Patient/" + std::string(s);
    return "";
  }
  for (const char* field : {"subject", "patient", "beneficiary"}) {
    if (resource[field]["reference"].get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  }
  return "";
}

std::string Subset(std::string_view line, const std::vector<std::string>& elements, const std::string& type) {
  json r = json::parse(line, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return std::string(line);
  std::set<std::string> keep = {"resourceType", "id", "meta"};
  for (const auto& e : elements) {
    auto dot = e.find('.');
    if (dot == std::string::npos) keep.insert(e);
    else if (e.substr(0, dot) == type) keep.insert(e.substr(dot + 1));
  }
  json out = json::object();
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (keep.count(it.key())) out[it.key()] = it.value();
  }
  json& tags = out["meta"]["tag"];
  if (!tags.is_array()) tags = json::array();
  tags.push_back({{"system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"}, {"code", "SUBSETTED"}});
  return out.dump();
}

}  // namespace

struct ExportJobs::Job {
  std::mutex mu;
  JobView view;
  bulk::ExportParameters params;
  std::vector<TypeFilter> filters;
  std::vector<std::string> ignored;   // what a lenient request asked for and did not get
  std::set<std::string> patients;     // allowed patient references when restricted
  bool restrict_patients = false;
  std::stop_source stop;
  std::atomic<bool> finished{false};  // its thread has returned from Run
};

ExportJobs::ExportJobs(fs::path source_dir, fs::path work_dir, fs::path warehouse, std::chrono::seconds ttl)
    : source_dir_(std::move(source_dir)), work_dir_(std::move(work_dir)), warehouse_(std::move(warehouse)), ttl_(ttl) {
  sweeper_ = std::jthread([this](std::stop_token stop) {
    const auto every = std::clamp<std::chrono::seconds>(ttl_ / 4, std::chrono::seconds(1), std::chrono::seconds(60));
    std::unique_lock lock(sweep_mu_);
    while (!stop.stop_requested()) {
      Expire();
      sweep_wake_.wait_for(lock, stop, every, [] { return false; });
    }
  });
}

ExportJobs::~ExportJobs() {
  sweeper_ = {};  // stops and joins the sweep
  std::lock_guard lock(mu_);
  for (auto& w : workers_) w.thread.request_stop();
  workers_.clear();  // joins
}

int64_t ExportJobs::ForeignExpiry(const fs::path& dir) const {
  if (auto text = store::ReadSmallFile(dir / "job.json"); text.ok()) {
    json record = ParseJsonFromOutside(*text);
    if (int64_t at = FieldOr(record, "expiresAt", int64_t{0}); at > 0) return at;
  }
  std::error_code ec;
  auto last = fs::last_write_time(dir, ec);
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e;
    last = std::max(last, it->last_write_time(e));
  }
  const auto since_epoch = std::chrono::file_clock::to_sys(last).time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(since_epoch + ttl_).count();
}

void ExportJobs::Expire() {
  const int64_t now = fhir::NowMicros();
  std::vector<fs::path> remove;
  std::set<std::string> known;
  {
    std::lock_guard lock(mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      int64_t at;
      {
        std::lock_guard job_lock(it->second->mu);
        at = it->second->view.state == JobState::kRunning ? 0 : it->second->view.expires_at;
      }
      if (at > 0 && at <= now) {
        remove.push_back(work_dir_ / it->first);
        it = jobs_.erase(it);
      } else {
        known.insert((it++)->first);
      }
    }
  }
  std::error_code ec;
  for (fs::directory_iterator it(work_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool job_folder = name.size() == 16 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
    std::error_code e;
    if (!job_folder || known.count(name) || !it->is_directory(e)) continue;
    if (ForeignExpiry(it->path()) <= now) remove.push_back(it->path());
  }
  for (const auto& dir : remove) fs::remove_all(dir, ec);
}

Result<std::string> ExportJobs::Start(const bulk::ExportParameters& params, std::string request_url, bool lenient,
                                      std::string owner) {
  auto job = std::make_shared<Job>();
  job->params = params;
  auto unknown_types = job->params.CheckTypes(lenient);
  if (!unknown_types.ok()) return unknown_types.status();
  job->ignored = std::move(unknown_types.value());
  const std::string& fmt = params.output_format;
  if (!fmt.empty() && fmt != "application/fhir+ndjson" && fmt != "application/ndjson" && fmt != "ndjson") {
    return InvalidArgument("_outputFormat '" + fmt + "' is not supported; use application/fhir+ndjson");
  }
  for (const auto& text : job->params.type_filters) {
    auto f = ParseTypeFilter(text);
    if (f) {
      job->filters.push_back(std::move(*f));
    } else if (lenient) {
      job->ignored.push_back("_typeFilter '" + text + "' is not supported and was ignored");
    } else {
      return InvalidArgument("_typeFilter '" + text + "' is not supported (only Type?element=value[,value] on "
                             "top-level elements); resend without it or with Prefer: handling=lenient");
    }
  }
  for (const auto& value : params.include_associated_data) {
    if (!lenient) {
      return InvalidArgument("includeAssociatedData '" + value + "' is not supported; resend without it or "
                             "with Prefer: handling=lenient");
    }
    job->ignored.push_back("includeAssociatedData '" + value + "' is not supported and was ignored");
  }
  if (params.level == bulk::ExportLevel::kGroup) {
    bool found = false;
    simdjson::dom::parser parser;
    fs::path group_source = source_dir_;
    if (!warehouse_.empty()) {  // the Group table, written out for the lookup
      group_source = work_dir_ / ("groups-" + NewJobId());
      FHIRLAKE_RETURN_IF_ERROR(load::WriteTablesAsNdjson(warehouse_, {"Group"}, group_source));
    }
    struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
      }
    } cleanup{warehouse_.empty() ? fs::path() : group_source};
    for (const auto& file : fhir::ListResourceFiles(group_source)) {
      if (fhir::ResourceTypeOfFile(file) != "Group" || found) continue;
      auto reader = fhir::NdjsonReader::Open(file);
      if (!reader.ok()) return reader.status();
      std::string_view line;
      while (!found && reader->Next(line)) {
        simdjson::dom::element g;
        std::string_view id;
        if (parser.parse(line.data(), line.size(), false).get(g) != simdjson::SUCCESS) continue;
        if (g["id"].get_string().get(id) != simdjson::SUCCESS || id != params.group_id) continue;
        found = true;
        simdjson::dom::array members;
        if (g["member"].get_array().get(members) == simdjson::SUCCESS) {
          for (auto m : members) {
            std::string_view ref;
            if (m["entity"]["reference"].get_string().get(ref) == simdjson::SUCCESS) job->patients.emplace(ref);
          }
        }
      }
    }
    if (!found) return NotFound("Group/" + params.group_id + " is not in this server's data");
    job->restrict_patients = true;
  }
  if (!params.patients.empty()) {
    std::set<std::string> wanted(params.patients.begin(), params.patients.end());
    if (job->restrict_patients) {
      std::set<std::string> both;
      std::set_intersection(wanted.begin(), wanted.end(), job->patients.begin(), job->patients.end(),
                            std::inserter(both, both.begin()));
      job->patients = std::move(both);
    } else {
      job->patients = std::move(wanted);
    }
    job->restrict_patients = true;
  }
  job->view.id = NewJobId();
  job->view.request = std::move(request_url);
  job->view.owner = std::move(owner);
  job->view.transaction_time = fhir::FormatInstant(fhir::NowMicros());
  job->view.allow_partial_manifests = params.allow_partial_manifests;
  std::string id = job->view.id;
  std::lock_guard lock(mu_);
  // A thread that returned keeps its stack until joined: without this every kick-off would
  // leave 8 MiB of address space and two mappings behind.
  std::erase_if(workers_, [](const Worker& w) { return w.job->finished.load(); });
  jobs_[id] = job;
  workers_.push_back({job, std::jthread([this, job](std::stop_token st) {
                        Run(job, st);
                        job->finished = true;
                      })});
  return id;
}

// One job's run: the source files its types select, each copied line by line into the job's
// folder with the lines its parameters keep (or listed as they are when it keeps all), then
// the job record written and the job marked done. Stopping (a cancel, the server's shutdown)
// ends it quietly; a failure marks the job failed with the reason.
class ExportJobs::JobRun {
 public:
  JobRun(Job& job, fs::path job_dir, std::stop_token stop, std::chrono::seconds ttl)
      : job_(job), p_(job.params), job_dir_(std::move(job_dir)), stop_(std::move(stop)),
        ttl_micros_(std::chrono::duration_cast<std::chrono::microseconds>(ttl).count()) {
    if (p_.since) since_ = fhir::ParseFhirTime(*p_.since);
    if (p_.until) until_ = fhir::ParseFhirTime(*p_.until);
    compartment_ = p_.level != bulk::ExportLevel::kSystem;
    filter_lines_ = since_ || until_ || compartment_ || job.restrict_patients || !job.filters.empty() ||
                    !p_.elements.empty();
  }

  bool Stopped() const { return stop_.stop_requested() || job_.stop.stop_requested(); }
  std::optional<int64_t> since() const { return since_; }  // _since, µs

  // Ends the job for `why`: quietly when it was cancelled, as failed otherwise.
  void End(const Status& why) {
    if (why.code() == StatusCode::kCancelled) return;
    std::lock_guard lock(job_.mu);
    if (job_.view.state != JobState::kRunning) return;
    job_.view.state = JobState::kFailed;
    job_.view.error = why.message();
    job_.view.expires_at = fhir::NowMicros() + ttl_micros_;
  }

  // The output files for the resource files of `source_dir` (of the job's types) and, with
  // _since, the deletion Bundles in its deleted/ folder.
  Status Select(const fs::path& source_dir, std::vector<JobFile>& files) {
    std::set<std::string> types(p_.types.begin(), p_.types.end());
    std::vector<fs::path> sources;
    for (auto& f : fhir::ListResourceFiles(source_dir)) {
      if (types.empty() || types.count(fhir::ResourceTypeOfFile(f))) sources.push_back(f);
    }
    std::vector<fs::path> deleted;
    if (since_ && fs::is_directory(source_dir / "deleted")) deleted = fhir::ListNdjsonFiles(source_dir / "deleted");
    total_ = sources.size() + deleted.size();
    for (const auto& src : sources) {
      if (Stopped()) return Cancelled("cancelled");
      const std::string type = fhir::ResourceTypeOfFile(src);
      if (!filter_lines_) {
        auto count = http::CountNdjsonRecords(src);
        if (!count.ok()) return count.status();
        if (*count > 0) files.push_back(JobFile{"output", type, src.filename().string(), src, *count});
      } else {
        auto jf = FilterFile(src, "output", type);
        if (!jf.ok()) return jf.status();
        if (jf->count > 0) files.push_back(std::move(jf.value()));
      }
      Progress();
    }
    for (const auto& src : deleted) {
      if (Stopped()) return Cancelled("cancelled");
      auto jf = FilterFile(src, "deleted", "Bundle");
      if (!jf.ok()) return jf.status();
      if (jf->count > 0) files.push_back(std::move(jf.value()));
      Progress();
    }
    return Status::Ok();
  }

  // What a lenient request asked for and did not get, as warnings in an error file.
  void AddIgnored(std::vector<JobFile>& files) {
    if (job_.ignored.empty()) return;
    JobFile jf{"error", "OperationOutcome", "error.OperationOutcome.000.ndjson",
               job_dir_ / "error.OperationOutcome.000.ndjson", 0};
    std::ofstream out(jf.path, std::ios::binary);
    for (const auto& text : job_.ignored) {
      fhir::OperationOutcome oo{{fhir::OperationOutcomeIssue{"warning", "not-supported", text}}};
      out << oo.ToJson() << '\n';
      ++jf.count;
    }
    files.push_back(std::move(jf));
  }

  // Writes the job record (for servers that share the work directory) and marks the job done.
  Status Publish(std::vector<JobFile> files) {
    const int64_t expires_at = fhir::NowMicros() + ttl_micros_;
    json record = {{"id", job_.view.id}, {"request", job_.view.request}, {"owner", job_.view.owner},
                   {"transactionTime", job_.view.transaction_time}, {"expiresAt", expires_at},
                   {"allowPartialManifests", job_.view.allow_partial_manifests}, {"files", json::array()}};
    for (const auto& f : files) {
      record["files"].push_back({{"kind", f.kind}, {"type", f.type}, {"name", f.name},
                                 {"path", fs::absolute(f.path).string()}, {"count", f.count}});
    }
    FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(job_dir_ / "job.json", record.dump(2)));
    std::lock_guard lock(job_.mu);
    if (Stopped()) return Status::Ok();
    job_.view.files = std::move(files);
    job_.view.percent = 100;
    job_.view.state = JobState::kDone;
    job_.view.expires_at = expires_at;
    return Status::Ok();
  }

 private:
  // Whether resource `r` of `type` is in the export: its time within _since/_until, its patient
  // in the compartment (and among the allowed ones), and a _typeFilter of its type matched.
  bool Keep(simdjson::dom::element r, std::string_view type) const {
    std::string_view lu;
    if (r["meta"]["lastUpdated"].get_string().get(lu) == simdjson::SUCCESS) {
      auto t = fhir::ParseFhirTime(lu);
      if (t && since_ && *t < *since_) return false;
      if (t && until_ && *t > *until_) return false;
    }
    if (compartment_ || job_.restrict_patients) {
      std::string ref = ReferenceOf(r, type);
      if (ref.empty()) return false;
      if (job_.restrict_patients && !job_.patients.count(ref)) return false;
    }
    bool any_filter = false, matched = false;
    for (const auto& f : job_.filters) {
      if (f.type != type) continue;
      any_filter = true;
      matched = matched || Matches(f, r);
    }
    return !any_filter || matched;
  }

  // Copies the selected lines of `src` into the job folder; returns the file (count 0 = none).
  Result<JobFile> FilterFile(const fs::path& src, const std::string& kind, const std::string& type) {
    JobFile jf{kind, type, "", "", 0};
    char number[16];
    std::snprintf(number, sizeof number, "%03d", per_type_[kind + type]++);
    jf.name = (kind == "output" ? "" : kind + ".") + type + "." + number + ".ndjson";
    jf.path = job_dir_ / jf.name;
    auto reader = fhir::NdjsonReader::Open(src);
    if (!reader.ok()) return reader.status();
    std::ofstream out(jf.path, std::ios::binary);
    std::string_view line;
    while (reader->Next(line)) {
      if ((reader->line_number() & 4095) == 0 && Stopped()) return Cancelled("cancelled");
      simdjson::dom::element r;
      if (line.empty() || parser_.parse(line.data(), line.size(), false).get(r) != simdjson::SUCCESS) continue;
      std::string kept_entries;  // a deletion Bundle cut to the requested types
      if (kind == "deleted") {
        std::string_view lu;
        if (since_ && r["meta"]["lastUpdated"].get_string().get(lu) == simdjson::SUCCESS) {
          auto t = fhir::ParseFhirTime(lu);
          if (t && *t < *since_) continue;
        }
        if (!p_.types.empty()) {
          // Only deletions of the types asked for (with --auth: those the token may read).
          if (!DeletionsOfRequestedTypes(line, kept_entries)) continue;
        }
      } else if (!Keep(r, type)) {
        continue;
      }
      if (!kept_entries.empty()) {
        out.write(kept_entries.data(), static_cast<std::streamsize>(kept_entries.size()));
      } else if (!p_.elements.empty() && kind == "output") {
        std::string subset = Subset(line, p_.elements, type);
        out.write(subset.data(), static_cast<std::streamsize>(subset.size()));
      } else {
        out.write(line.data(), static_cast<std::streamsize>(line.size()));
      }
      out.put('\n');
      ++jf.count;
    }
    if (!reader->status().ok()) return reader->status();
    out.close();
    if (!out) return IoError("cannot write " + jf.path.string());
    if (jf.count == 0) fs::remove(jf.path);
    return jf;
  }

  // The deletion Bundle `line` with only the entries whose request.url names a requested type,
  // in `out`; false when none is left.
  bool DeletionsOfRequestedTypes(std::string_view line, std::string& out) const {
    nlohmann::json bundle = ParseJsonFromOutside(line);
    if (!bundle.is_object() || !bundle.contains("entry") || !bundle["entry"].is_array()) return false;
    nlohmann::json kept = nlohmann::json::array();
    for (auto& entry : bundle["entry"]) {
      const std::string url = FieldOr(FieldOr(entry, "request", nlohmann::json::object()), "url", "");
      const auto split = fhir::SplitTypeAndId(url);
      if (split && std::find(p_.types.begin(), p_.types.end(), split->type) != p_.types.end()) {
        kept.push_back(std::move(entry));
      }
    }
    if (kept.empty()) return false;
    bundle["entry"] = std::move(kept);
    out = bundle.dump();
    return true;
  }

  void Progress() {
    ++done_;
    std::lock_guard lock(job_.mu);
    job_.view.percent = total_ ? static_cast<int>(100 * done_ / total_) : 100;
  }

  Job& job_;
  const bulk::ExportParameters& p_;
  const fs::path job_dir_;
  const std::stop_token stop_;
  const int64_t ttl_micros_;  // how long the job's files are kept once it ends
  std::optional<int64_t> since_, until_;
  bool compartment_ = false, filter_lines_ = false;
  simdjson::dom::parser parser_;
  std::map<std::string, int> per_type_;  // files made so far, by kind and type
  size_t total_ = 0, done_ = 0;          // source files to select from, and selected
};

void ExportJobs::Run(std::shared_ptr<Job> job, std::stop_token stop) {
  const fs::path job_dir = work_dir_ / job->view.id;
  std::error_code ec;
  fs::create_directories(job_dir, ec);
  JobRun run(*job, job_dir, std::move(stop), ttl_);
  fs::path source_dir = source_dir_;
  if (!warehouse_.empty()) {  // this job's snapshot of the warehouse, in the source layout
    source_dir = job_dir / "snapshot";
    Status s = load::WriteTablesAsNdjson(warehouse_, job->params.types, source_dir, [&] { return run.Stopped(); },
                                         run.since());
    if (!s.ok()) return run.End(s);
  }
  std::vector<JobFile> files;
  if (Status s = run.Select(source_dir, files); !s.ok()) return run.End(s);
  run.AddIgnored(files);
  if (Status s = run.Publish(std::move(files)); !s.ok()) run.End(s);
}

std::optional<JobView> ExportJobs::Get(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) {
      std::lock_guard job_lock(it->second->mu);
      const JobView& v = it->second->view;
      if (v.state == JobState::kCancelled || (v.expires_at > 0 && v.expires_at <= fhir::NowMicros())) return std::nullopt;
      return v;
    }
  }
  if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  auto text = store::ReadSmallFile(work_dir_ / id / "job.json");
  if (!text.ok()) return std::nullopt;
  json record = json::parse(*text, nullptr, false);
  if (record.is_discarded()) return std::nullopt;
  JobView view;
  view.id = id;
  view.state = JobState::kDone;
  view.percent = 100;
  view.request = FieldOr(record, "request", "");
  view.owner = FieldOr(record, "owner", "");
  view.transaction_time = FieldOr(record, "transactionTime", "");
  view.allow_partial_manifests = FieldOr(record, "allowPartialManifests", false);
  view.expires_at = FieldOr(record, "expiresAt", int64_t{0});
  if (view.expires_at > 0 && view.expires_at <= fhir::NowMicros()) return std::nullopt;  // the sweep deletes it
  for (const auto& f : FieldOr(record, "files", json::array())) {
    view.files.push_back(JobFile{FieldOr(f, "kind", ""), FieldOr(f, "type", ""), FieldOr(f, "name", ""),
                                 fs::path(FieldOr(f, "path", "")), FieldOr(f, "count", uint64_t{0})});
  }
  return view;
}

bool ExportJobs::Cancel(const std::string& id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return false;
    job = it->second;
  }
  {
    std::lock_guard lock(job->mu);
    if (job->view.state == JobState::kCancelled) return false;
    job->view.state = JobState::kCancelled;
    job->view.files.clear();
    job->view.expires_at = fhir::NowMicros();  // forgotten at the next sweep
  }
  job->stop.request_stop();
  std::error_code ec;
  fs::remove_all(work_dir_ / id, ec);
  return true;
}

}  // namespace fhirlake::server
