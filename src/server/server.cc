#include "fhirlake/server/server.h"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "fhirlake/auth/authorizer.h"
#include "fhirlake/bulk/manifest.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/fhir/parameters.h"
#include "fhirlake/http/url.h"
#include "fhirlake/server/export_jobs.h"
#include "fhirlake/server/import_jobs.h"

namespace fhirlake::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kChunk = 256u << 10;
constexpr const char* kFhirJson = "application/fhir+json";

std::string EscapeRegex(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

void SendOutcome(httplib::Response& res, int status, const std::string& code, const std::string& text,
                 const std::string& severity = "error") {
  res.status = status;
  fhir::OperationOutcome oo{{fhir::OperationOutcomeIssue{severity, code, text}}};
  res.set_content(oo.ToJson(), kFhirJson);
}

bool HeaderHas(const httplib::Request& req, const char* name, const char* token) {
  for (auto [it, end] = req.headers.equal_range(name); it != end; ++it) {
    if (it->second.find(token) != std::string::npos) return true;
  }
  return false;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Paces a transfer to `rate` bytes per second.
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(std::chrono::steady_clock::now()) {}
  void Sent(size_t n) {
    if (rate_ <= 0) return;
    sent_ += n;
    auto due = start_ + std::chrono::duration<double>(static_cast<double>(sent_) / rate_);
    std::this_thread::sleep_until(due);
  }
  // How much to send at once: everything when unpaced, else about a tenth of a second's worth,
  // so a paced transfer notices a gone client (and a stopping server) soon.
  size_t Chunk(size_t max) const {
    return rate_ <= 0 ? max : std::clamp(static_cast<size_t>(rate_ / 10), size_t{1024}, max);
  }

 private:
  double rate_;
  std::chrono::steady_clock::time_point start_;
  uint64_t sent_ = 0;
};

}  // namespace

struct Server::Impl {
  ServerOptions opt;
  httplib::Server http;
  std::unique_ptr<ExportJobs> jobs;
  std::unique_ptr<ImportJobs> imports;  // null: no warehouse
  std::unique_ptr<auth::Authorizer> authorizer;  // null: no authorization
  fs::path temp_work_dir;  // removed on exit when we made it
  int bound_port = 0;
  int listen_fd = -1;
  std::mutex log_mu;
  std::ofstream request_log;
  std::mutex polls_mu;
  std::map<std::string, int> polls;  // status polls per job (pending fault)

  explicit Impl(ServerOptions o) : opt(std::move(o)) {}

  std::string FhirBase(const httplib::Request& req) const {
    if (!opt.public_url.empty()) return opt.public_url;
    std::string host = req.get_header_value("Host");
    if (host.empty()) host = opt.host + ":" + std::to_string(bound_port);
    return "http://" + host + opt.base_path;
  }
  std::string FileBase(const httplib::Request& req) const {
    return opt.file_base_url.empty() ? FhirBase(req) : opt.file_base_url;
  }

  std::string TokenUrl(const httplib::Request& req) const { return FhirBase(req) + "/auth/token"; }

  // Checks the bearer token when authorization is on. Returns false after answering 401.
  bool Authorize(const httplib::Request& req, httplib::Response& res, auth::Grant& grant) {
    if (!authorizer) return true;
    auto g = authorizer->Authenticate(req.get_header_value("Authorization"));
    if (!g.ok()) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"fhirlake\", error=\"invalid_token\"");
      SendOutcome(res, 401, "login", g.status().message());
      return false;
    }
    grant = std::move(g.value());
    return true;
  }

  // A job exists for this caller: it is theirs, or authorization is off.
  std::optional<JobView> OwnJob(const std::string& id, const auth::Grant& grant) {
    auto job = jobs->Get(id);
    if (job && authorizer && job->owner != grant.client_id) return std::nullopt;
    return job;
  }

  // Answers a status fault (401/429/5xx) if the plan has one for `target`; true when answered.
  bool ApplyStatusFault(const Fault& f, httplib::Response& res) {
    if (f.kind != FaultKind::kStatus) return false;
    res.set_header("Retry-After", std::to_string(static_cast<int>(f.arg)));
    SendOutcome(res, f.http_status, "transient", "injected fault: HTTP " + std::to_string(f.http_status));
    return true;
  }

  void Kickoff(const httplib::Request& req, httplib::Response& res, bulk::ExportLevel level, const std::string& group) {
    if (auto f = opt.faults.Take(FaultTarget::kKickoff); f && ApplyStatusFault(*f, res)) return;
    if (!HeaderHas(req, "Prefer", "respond-async")) {
      return SendOutcome(res, 400, "invalid", "the kick-off request needs the header 'Prefer: respond-async'");
    }
    const bool lenient = HeaderHas(req, "Prefer", "handling=lenient");
    Result<bulk::ExportParameters> params = InvalidArgument("no parameters");
    if (req.method == "POST") {
      params = bulk::ExportParameters::FromParametersJson(level, group, req.body);
    } else {
      std::vector<std::pair<std::string, std::string>> pairs(req.params.begin(), req.params.end());
      params = bulk::ExportParameters::FromQuery(level, group, pairs);
    }
    if (!params.ok()) return SendOutcome(res, 400, "invalid", params.status().message());
    auth::Grant grant;
    if (!Authorize(req, res, grant)) return;
    if (authorizer) {
      if (params->types.empty() && !auth::AllowsRead(grant, "*")) {
        for (const auto& s : grant.scopes) {  // export what the scopes allow
          auto slash = s.find('/'), dot = s.rfind('.');
          std::string type = s.substr(slash + 1, dot - slash - 1);
          if (slash != std::string::npos && dot != std::string::npos && auth::AllowsRead(grant, type)) params->types.push_back(type);
        }
        if (params->types.empty()) return SendOutcome(res, 403, "forbidden", "the access token grants no read scope");
      }
      for (const auto& type : params->types) {
        if (!auth::AllowsRead(grant, type)) {
          return SendOutcome(res, 403, "forbidden", "the access token's scopes do not allow reading " + type);
        }
      }
    }
    std::string request = FhirBase(req) + req.path.substr(opt.base_path.size());
    if (std::string q = params->ToQuery(); !q.empty()) request += "?" + q;
    auto id = jobs->Start(*params, request, lenient, grant.client_id);
    if (!id.ok()) {
      int code = id.status().code() == StatusCode::kNotFound ? 404 : 400;
      return SendOutcome(res, code, code == 404 ? "not-found" : "not-supported", id.status().message());
    }
    res.status = 202;
    res.set_header("Content-Location", FhirBase(req) + "/bulkstatus/" + *id);
    SendOutcome(res, 202, "informational", "export started", "information");
  }

  void Status(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    bool miscount = false;
    if (auto f = opt.faults.Take(FaultTarget::kStatus)) {
      if (ApplyStatusFault(*f, res)) return;
      miscount = f->kind == FaultKind::kMiscount;
      if (f->kind == FaultKind::kMalformed) {
        res.status = 200;
        res.set_content(R"({"transactionTime":"2024-01-01T00:00:00Z","request":"x","requiresAccessToken":false,"output":[{"type":"Patient"}]})",
                        "application/json");
        return;
      }
    }
    auth::Grant grant;
    if (!Authorize(req, res, grant)) return;
    auto job = OwnJob(id, grant);
    if (!job) return SendOutcome(res, 404, "not-found", "no export job '" + id + "' (cancelled, expired or never started)");
    int pending = 0;
    if (int extra = opt.faults.PendingPolls(); extra > 0) {
      std::lock_guard lock(polls_mu);
      int seen = polls[id]++;
      pending = seen < extra ? 1 : 0;
    }
    if (job->state == JobState::kFailed) return SendOutcome(res, 500, "exception", job->error);
    if (job->state == JobState::kRunning || pending) {
      if (miscount) opt.faults.Restore(FaultTarget::kStatus, FaultKind::kMiscount);
      res.status = 202;
      res.set_header("X-Progress", std::to_string(pending ? std::min(job->percent, 99) : job->percent) + "% complete");
      res.set_header("Retry-After", std::to_string(opt.retry_after_seconds));
      return;
    }
    const std::string file_base = FileBase(req) + "/bulkfiles/" + id + "/";
    bulk::Manifest m;
    m.transaction_time = job->transaction_time;
    m.request = job->request;
    m.requires_access_token = opt.requires_access_token || authorizer != nullptr;
    std::vector<const JobFile*> outputs;
    for (const auto& f : job->files) {
      bulk::ManifestFile mf{f.type, file_base + f.name, f.count + (miscount ? 1 : 0)};
      if (f.kind == "output") outputs.push_back(&f);
      else if (f.kind == "deleted") m.deleted.push_back(mf);
      else m.error.push_back(mf);
    }
    size_t page = 1, page_size = outputs.size();
    if (job->allow_partial_manifests && opt.manifest_page_size > 0) {
      page_size = opt.manifest_page_size;
      if (req.has_param("page")) page = std::max<size_t>(1, std::strtoul(req.get_param_value("page").c_str(), nullptr, 10));
    }
    size_t first = (page - 1) * page_size;
    for (size_t i = first; i < outputs.size() && i < first + page_size; ++i) {
      m.output.push_back(bulk::ManifestFile{outputs[i]->type, file_base + outputs[i]->name,
                                            outputs[i]->count + (miscount ? 1 : 0)});
    }
    if (page > 1) {
      m.deleted.clear();
      m.error.clear();
    }
    if (first + page_size < outputs.size()) {
      m.next = FhirBase(req) + "/bulkstatus/" + id + "?page=" + std::to_string(page + 1);
    }
    res.status = 200;
    res.set_content(m.ToJson(), "application/json");
  }

  void CancelJob(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    auth::Grant grant;
    if (!Authorize(req, res, grant)) return;
    if (!OwnJob(id, grant) || !jobs->Cancel(id)) return SendOutcome(res, 404, "not-found", "no export job '" + id + "'");
    SendOutcome(res, 202, "informational", "export job " + id + " cancelled", "information");
  }

  void File(const httplib::Request& req, httplib::Response& res, const std::string& id, const std::string& name) {
    std::optional<Fault> fault = opt.faults.Take(FaultTarget::kFile);
    if (fault && ApplyStatusFault(*fault, res)) return;
    auth::Grant grant;
    if (!Authorize(req, res, grant)) return;
    auto job = OwnJob(id, grant);
    const JobFile* file = nullptr;
    if (job && job->state == JobState::kDone) {
      for (const auto& f : job->files) {
        if (f.name == name) file = &f;
      }
    }
    if (!file) return SendOutcome(res, 404, "not-found", "no file '" + name + "' in export job '" + id + "'");
    if (authorizer && !auth::AllowsRead(grant, file->type) && file->kind == "output") {
      return SendOutcome(res, 403, "forbidden", "the access token's scopes do not allow reading " + file->type);
    }
    auto fd = std::make_shared<Fd>(::open(file->path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd->fd < 0) return SendOutcome(res, 500, "exception", "cannot open the file for job '" + id + "'");
    std::error_code ec;
    const uint64_t size = fs::file_size(file->path, ec);
    if (req.ranges.size() == 1) {
      auto [start, end] = req.ranges[0];
      if (start >= 0 && static_cast<uint64_t>(start) >= size) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(size));
        return;
      }
    }
    const double rate = opt.faults.SlowRate();
    uint64_t length = size;
    uint64_t cut = UINT64_MAX;  // absolute offset where a reset drops the connection
    if (fault && fault->kind == FaultKind::kTruncate && req.ranges.empty()) {
      length = static_cast<uint64_t>(static_cast<double>(size) * fault->arg);
    } else if (fault && fault->kind == FaultKind::kReset) {
      cut = static_cast<uint64_t>(static_cast<double>(size) * fault->arg);
    }
    const bool gzip = opt.gzip && req.ranges.empty() && !fault && HeaderHas(req, "Accept-Encoding", "gzip");
    if (gzip) return ServeGzip(res, fd, rate);
    auto pacer = std::make_shared<Pacer>(rate);
    res.set_header("Accept-Ranges", "bytes");
    res.set_content_provider(static_cast<size_t>(length), "application/fhir+ndjson", FileChunks(fd, pacer, cut));
  }

  // Serves the file's bytes from `offset` on, paced; at the offset `cut` (a reset fault) or
  // on a read error the connection is dropped.
  static httplib::ContentProvider FileChunks(std::shared_ptr<Fd> fd, std::shared_ptr<Pacer> pacer,
                                             uint64_t cut = UINT64_MAX) {
    return [fd, pacer, cut](size_t offset, size_t len, httplib::DataSink& sink) {
      std::vector<char> buf(pacer->Chunk(std::min(len, kChunk)));
      size_t want = buf.size();
      if (offset + want > cut) want = cut > offset ? static_cast<size_t>(cut - offset) : 0;
      ssize_t n = want ? ::pread(fd->fd, buf.data(), want, static_cast<off_t>(offset)) : 0;
      if (n <= 0) return false;
      if (!sink.write(buf.data(), static_cast<size_t>(n))) return false;
      pacer->Sent(static_cast<size_t>(n));
      return true;
    };
  }

  void ServeGzip(httplib::Response& res, std::shared_ptr<Fd> fd, double rate) {
    struct GzipState {
      z_stream z{};
      off_t pos = 0;
      bool finished = false;
      Pacer pacer;
      explicit GzipState(double r) : pacer(r) { deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY); }
      ~GzipState() { deflateEnd(&z); }
    };
    auto st = std::make_shared<GzipState>(rate);
    res.set_header("Content-Encoding", "gzip");
    res.set_chunked_content_provider("application/fhir+ndjson", [fd, st](size_t, httplib::DataSink& sink) {
      std::vector<char> in(st->pacer.Chunk(kChunk)), out(kChunk + 1024);
      ssize_t n = ::pread(fd->fd, in.data(), in.size(), st->pos);
      if (n < 0) return false;
      st->pos += n;
      int flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
      st->z.next_in = reinterpret_cast<Bytef*>(in.data());
      st->z.avail_in = static_cast<uInt>(n);
      do {
        st->z.next_out = reinterpret_cast<Bytef*>(out.data());
        st->z.avail_out = static_cast<uInt>(out.size());
        int rc = deflate(&st->z, flush);
        if (rc == Z_STREAM_ERROR) return false;
        size_t have = out.size() - st->z.avail_out;
        if (have && !sink.write(out.data(), have)) return false;
        st->pacer.Sent(have);
      } while (st->z.avail_out == 0);
      if (flush == Z_FINISH) sink.done();
      return true;
    });
  }

  bool AllowedSource(const std::string& url) const {
    return http::IsAllowedSource(url, opt.allowed_sources);
  }

  // A file:// URL is allowed when its path, with `..` and symlinks resolved, is a file under
  // one of the import roots (resolved the same way).
  bool AllowedFile(const std::string& url) const {
    std::error_code ec;
    fs::path path = fs::weakly_canonical(http::DecodeQueryComponent(url.substr(7)), ec);
    if (ec || !fs::is_regular_file(path, ec)) return false;
    for (const auto& root : opt.import_roots) {
      fs::path r = fs::weakly_canonical(root, ec);
      if (ec) continue;
      auto [end, _] = std::mismatch(r.begin(), r.end(), path.begin(), path.end());
      if (end == r.end()) return true;
    }
    return false;
  }

  // POST $import-pnp, and $import (ping and pull with an exportUrl, or a manifest of files):
  // checks, then a job; 202 with the job's status URL.
  void Import(const httplib::Request& req, httplib::Response& res, bool manifest_allowed) {
    auth::Grant grant;
    if (!Authorize(req, res, grant)) return;
    if (authorizer && !auth::AllowsWrite(grant, "*")) {
      return SendOutcome(res, 403, "forbidden", "importing needs a write scope (system/*.write)");
    }
    if (!HeaderHas(req, "Prefer", "respond-async")) {
      return SendOutcome(res, 400, "invalid", "the import request needs the header 'Prefer: respond-async'");
    }
    auto request = manifest_allowed ? ParseImportManifest(req.body) : ParseImportPnp(req.body);
    if (!request.ok()) return SendOutcome(res, 400, "invalid", request.status().message());
    const bool pnp = !request->export_url.empty();
    if (pnp && !AllowedSource(request->export_url)) {
      return SendOutcome(res, 403, "forbidden",
                         "exportUrl " + http::RedactUrl(request->export_url) +
                             " is not under an allowed source (serve --allow-source PREFIX)");
    }
    for (const auto& in : request->inputs) {
      const bool file = in.url.rfind("file://", 0) == 0;
      if (file ? !AllowedFile(in.url) : !AllowedSource(in.url)) {
        return SendOutcome(res, 403, "forbidden",
                           "input " + http::RedactUrl(in.url) +
                               (file ? " is not a file under an import root (serve --import-root DIR)"
                                     : " is not under an allowed source (serve --allow-source PREFIX)"));
      }
    }
    request->owner = grant.client_id;
    const std::string id = imports->Submit(std::move(request.value()));
    res.status = 202;
    res.set_header("Content-Location", FhirBase(req) + "/$job?id=" + id);
    SendOutcome(res, 202, "informational", "import job " + id + " accepted", "information");
  }

  // The import job `id` when it exists and belongs to the caller; otherwise answers 401 or 404.
  std::optional<ImportJobView> OwnImport(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    auth::Grant grant;
    if (!Authorize(req, res, grant)) return std::nullopt;
    auto job = imports->Get(id);
    if (!job || (authorizer && job->request.owner != grant.client_id)) {
      SendOutcome(res, 404, "not-found", "no import job '" + id + "'");
      return std::nullopt;
    }
    return job;
  }

  void ImportStatus(const httplib::Request& req, httplib::Response& res) {
    auto job = OwnImport(req, res, req.get_param_value("id"));
    if (!job) return;
    if (job->state == "queued" || job->state == "running") {
      res.status = 202;
      res.set_header("X-Progress", job->progress);
      res.set_header("Retry-After", std::to_string(opt.retry_after_seconds));
      return;
    }
    if (job->state == "failed") return SendOutcome(res, job->error_status, "exception", job->error);
    fhir::Parameters out;
    out.Add("transactionTime", "Instant", job->transaction_time);
    out.Add("request", "Uri", job->request.export_url);
    json result = json::parse(out.ToJson());
    for (const auto& t : job->tables) {
      // inputUrl: the export's URL, or each manifest input of the table's type.
      json parts = json::array();
      if (!job->request.export_url.empty()) parts.push_back({{"name", "inputUrl"}, {"valueUrl", job->request.export_url}});
      for (const auto& in : job->request.inputs) {
        if (in.type == t.type) parts.push_back({{"name", "inputUrl"}, {"valueUrl", in.url}});
      }
      parts.push_back({{"name", "resourceType"}, {"valueCode", t.type}});
      const std::pair<const char*, uint64_t> counts[] = {{"rows", t.rows}, {"inserted", t.inserted}, {"updated", t.updated},
                                                         {"deleted", t.deleted}, {"badLines", t.bad_lines}};
      for (const auto& [name, n] : counts) parts.push_back({{"name", name}, {"valueInteger", n}});
      result["parameter"].push_back({{"name", "output"}, {"part", parts}});
    }
    for (const auto& name : job->error_files) {
      result["parameter"].push_back(
          {{"name", "error"},
           {"part", {{{"name", "type"}, {"valueCode", "OperationOutcome"}},
                     {{"name", "resourceType"}, {"valueCode", name.substr(0, name.find('.'))}},
                     {{"name", "url"}, {"valueUrl", FhirBase(req) + "/importerrors/" + job->id + "/" + name}}}}});
    }
    res.set_header("Location", FhirBase(req) + "/$job?id=" + job->id);
    res.set_content(result.dump(), kFhirJson);
  }

  // GET importerrors/{job}/{name}: one of a finished job's files of per-line problems.
  void ImportErrors(const httplib::Request& req, httplib::Response& res, const std::string& id, const std::string& name) {
    auto job = OwnImport(req, res, id);
    if (!job) return;
    if (std::find(job->error_files.begin(), job->error_files.end(), name) == job->error_files.end()) {
      return SendOutcome(res, 404, "not-found", "no error file '" + name + "' in import job '" + id + "'");
    }
    const fs::path path = opt.warehouse / "_errors" / name;
    auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (fd->fd < 0 || ec) return SendOutcome(res, 500, "exception", "cannot open the error file '" + name + "'");
    res.set_content_provider(static_cast<size_t>(size), "application/fhir+ndjson",
                             FileChunks(fd, std::make_shared<Pacer>(0)));
  }

  void ImportCancel(const httplib::Request& req, httplib::Response& res) {
    auto job = OwnImport(req, res, req.get_param_value("id"));
    if (!job) return;
    imports->Cancel(job->id);
    SendOutcome(res, 202, "informational", "import job " + job->id + " cancelled", "information");
  }

  void Metadata(const httplib::Request& req, httplib::Response& res) {
    if (auto f = opt.faults.Take(FaultTarget::kMetadata); f && ApplyStatusFault(*f, res)) return;
    json op = json::array();
    for (const char* name : {"export"}) {
      op.push_back({{"name", name}, {"definition", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/" + std::string(name)}});
    }
    if (imports) {
      op.push_back({{"name", "import-pnp"}, {"definition", "https://pathling.csiro.au/fhir/OperationDefinition/import-pnp"}});
      op.push_back({{"name", "import"}, {"definition", "https://pathling.csiro.au/fhir/OperationDefinition/import"}});
    }
    json cs = {{"resourceType", "CapabilityStatement"},
               {"status", "active"},
               {"date", "2026-01-01"},
               {"kind", "instance"},
               {"software", {{"name", "fhirlake"}, {"version", "0.1.0"}}},
               {"implementation", {{"description", "fhirlake bulk data server"}, {"url", FhirBase(req)}}},
               {"fhirVersion", "4.0.1"},
               {"format", {"json"}},
               {"rest", {{{"mode", "server"}, {"operation", op}}}}};
    if (authorizer) {
      cs["rest"][0]["security"] = {
          {"service", {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/restful-security-service"},
                                      {"code", "SMART-on-FHIR"}}}}}}},
          {"extension", {{{"url", "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"},
                          {"extension", {{{"url", "token"}, {"valueUri", TokenUrl(req)}}}}}}}};
    }
    res.set_content(cs.dump(), kFhirJson);
  }

  void LogRequest(const httplib::Request& req, const httplib::Response& res) {
    if (!request_log.is_open()) return;
    json params = json::object();
    for (const auto& [k, v] : req.params) params[k].push_back(http::IsSecretParameterName(k) ? "REDACTED" : v);
    json line = {{"method", req.method},
                 {"path", req.path},
                 {"params", params},
                 {"authorization", req.has_header("Authorization")},
                 {"range", req.get_header_value("Range")},
                 {"acceptEncoding", req.get_header_value("Accept-Encoding")},
                 {"contentEncoding", res.get_header_value("Content-Encoding")},
                 {"timeMs", std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count()},
                 {"status", res.status}};
    std::lock_guard lock(log_mu);
    request_log << line.dump() << '\n';
    request_log.flush();
  }

  void Routes() {
    const std::string base = EscapeRegex(opt.base_path);
    auto kick = [this](bulk::ExportLevel level) {
      return [this, level](const httplib::Request& req, httplib::Response& res) {
        std::string group = level == bulk::ExportLevel::kGroup ? http::DecodeQueryComponent(req.matches[1].str()) : "";
        Kickoff(req, res, level, group);
      };
    };
    const std::pair<std::string, bulk::ExportLevel> kickoffs[] = {
        {base + R"(/\$export)", bulk::ExportLevel::kSystem},
        {base + R"(/Patient/\$export)", bulk::ExportLevel::kPatient},
        {base + R"(/Group/([^/]+)/\$export)", bulk::ExportLevel::kGroup}};
    for (const auto& [pattern, level] : kickoffs) {
      http.Get(pattern, kick(level));
      http.Post(pattern, kick(level));
    }
    http.Get(base + R"(/bulkstatus/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
      Status(req, res, req.matches[1].str());
    });
    http.Delete(base + R"(/bulkstatus/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
      CancelJob(req, res, req.matches[1].str());
    });
    http.Get(base + R"(/bulkfiles/([0-9a-f]+)/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
      File(req, res, req.matches[1].str(), req.matches[2].str());
    });
    http.Get(base + "/metadata", [this](const httplib::Request& req, httplib::Response& res) { Metadata(req, res); });
    if (imports) {
      http.Post(base + R"(/\$import-pnp)", [this](const httplib::Request& req, httplib::Response& res) { Import(req, res, false); });
      http.Post(base + R"(/\$import)", [this](const httplib::Request& req, httplib::Response& res) { Import(req, res, true); });
      http.Get(base + R"(/\$job)", [this](const httplib::Request& req, httplib::Response& res) { ImportStatus(req, res); });
      http.Delete(base + R"(/\$job)", [this](const httplib::Request& req, httplib::Response& res) { ImportCancel(req, res); });
      http.Get(base + R"(/importerrors/([0-9a-f]+)/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
        ImportErrors(req, res, req.matches[1].str(), req.matches[2].str());
      });
      http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(imports->Metrics(), "text/plain; version=0.0.4");
      });
    }
    if (authorizer) {
      if (opt.well_known) {
        http.Get(base + "/.well-known/smart-configuration", [this](const httplib::Request& req, httplib::Response& res) {
          json doc = {{"token_endpoint", TokenUrl(req)},
                      {"token_endpoint_auth_methods_supported", {"private_key_jwt", "client_secret_basic", "client_secret_post"}},
                      {"token_endpoint_auth_signing_alg_values_supported", {"RS384", "ES384"}},
                      {"grant_types_supported", {"client_credentials"}},
                      {"scopes_supported", {"system/*.read", "system/*.rs", "system/*.write"}},
                      {"capabilities", {"client-confidential-asymmetric", "client-confidential-symmetric"}}};
          res.set_content(doc.dump(), "application/json");
        });
      }
      http.Post(base + "/auth/token", [this](const httplib::Request& req, httplib::Response& res) {
        auto reply = authorizer->IssueToken(req.body, req.get_header_value("Authorization"), TokenUrl(req));
        res.status = reply.http_status;
        res.set_header("Cache-Control", "no-store");
        res.set_content(reply.body, "application/json");
      });
    }
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (res.body.empty()) {
        SendOutcome(res, res.status, res.status == 404 ? "not-found" : "processing",
                    "no handler for " + req.method + " " + req.path);
      }
    });
    // Logged before the response is written, so a client that has its answer finds it logged.
    http.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) { LogRequest(req, res); });
    const int threads = opt.threads;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    http.set_payload_max_length(16u << 20);
    http.set_keep_alive_max_count(static_cast<size_t>(std::max(1, opt.keep_alive_requests)));
    // httplib listens with a backlog of 5, so a burst of clients connecting at once (pollers)
    // loses SYNs, which are resent only a second later. The listening socket is noted here
    // and, once bound, listen() is called again with a deep backlog (Linux takes the new size).
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = sock;
    });
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  Stop();
  impl_->jobs.reset();
  if (!impl_->temp_work_dir.empty()) {
    std::error_code ec;
    fs::remove_all(impl_->temp_work_dir, ec);
  }
}

Status Server::Bind() {
  auto& o = impl_->opt;
  if (o.source_dir.empty() && o.warehouse.empty()) return InvalidArgument("give --source DIR, --warehouse DIR or both");
  if (!o.source_dir.empty() && !fs::is_directory(o.source_dir)) {
    return InvalidArgument("--source " + o.source_dir.string() + " is not a directory");
  }
  if (o.work_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "fhirlake-serve-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return IoError("cannot create a temporary work directory");
    impl_->temp_work_dir = tmpl;
    o.work_dir = tmpl;
  }
  std::error_code ec;
  fs::create_directories(o.work_dir, ec);
  if (!o.request_log.empty()) {
    impl_->request_log.open(o.request_log, std::ios::app);
    if (!impl_->request_log) return IoError("cannot open " + o.request_log.string());
  }
  if (!o.auth_file.empty()) {
    auto config = auth::LoadAuthConfig(o.auth_file);
    if (!config.ok()) return config.status();
    if (o.token_lifetime_seconds > 0) config->token_lifetime = std::chrono::seconds(o.token_lifetime_seconds);
    impl_->authorizer = std::make_unique<auth::Authorizer>(std::move(config.value()));
  }
  // $export serves the source directory, or else the warehouse.
  impl_->jobs = std::make_unique<ExportJobs>(o.source_dir, o.work_dir, o.source_dir.empty() ? o.warehouse : fs::path());
  if (!o.warehouse.empty()) {
    fs::create_directories(o.warehouse, ec);
    impl_->imports = std::make_unique<ImportJobs>(ImportJobsOptions{o.warehouse, o.pull_client, o.pull_sources,
                                                                    o.import_concurrency,
                                                                    std::chrono::seconds(o.import_job_ttl_seconds)});
  }
  impl_->Routes();
  if (o.port == 0) {
    impl_->bound_port = impl_->http.bind_to_any_port(o.host);
    if (impl_->bound_port <= 0) return IoError("cannot listen on " + o.host);
  } else {
    if (!impl_->http.bind_to_port(o.host, o.port)) {
      return IoError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                     " (address in use?); choose another with --listen HOST:PORT");
    }
    impl_->bound_port = o.port;
  }
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, 1024);
  return Status::Ok();
}

int Server::port() const { return impl_->bound_port; }

void Server::Serve() { impl_->http.listen_after_bind(); }

void Server::Stop() { impl_->http.stop(); }

}  // namespace fhirlake::server
