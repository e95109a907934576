#include "src/server/import_routes.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "fhirlake/fhir/parameters.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/s3_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "src/server/file_responder.h"
#include "src/server/reply.h"

namespace fhirlake::server {
namespace fs = std::filesystem;
using nlohmann::json;

void ImportRoutes::Register(httplib::Server& http, const std::string& base) {
  http.Post(base + R"(/\$import-pnp)", [this](const httplib::Request& req, httplib::Response& res) { Import(req, res, false); });
  http.Post(base + R"(/\$import)", [this](const httplib::Request& req, httplib::Response& res) { Import(req, res, true); });
  http.Get(base + R"(/\$job)", [this](const httplib::Request& req, httplib::Response& res) { Status(req, res); });
  http.Delete(base + R"(/\$job)", [this](const httplib::Request& req, httplib::Response& res) { Cancel(req, res); });
  http.Get(base + R"(/importerrors/([0-9a-f]+)/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Errors(req, res, req.matches[1].str(), req.matches[2].str());
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(jobs_.Metrics(), "text/plain; version=0.0.4");
  });
}

bool ImportRoutes::AllowedSource(const std::string& url) const {
  return http::IsAllowedSource(url, ctx_.opt.allowed_sources);
}

// An s3:// URL is allowed in the bucket of an allowed S3 prefix, under it at a '/' boundary.
bool ImportRoutes::AllowedS3(const std::string& url) const {
  auto location = store::S3Location::Parse(url);
  if (!location.ok()) return false;
  for (const auto& prefix : ctx_.opt.allowed_s3_prefixes) {
    auto allowed = store::S3Location::Parse(prefix);
    if (allowed.ok() && store::S3PrefixAllows(*allowed, *location)) return true;
  }
  return false;
}

// A file:// URL is allowed when its path, with `..` and symlinks resolved, is a file under
// one of the import roots (resolved the same way).
bool ImportRoutes::AllowedFile(const std::string& url) const {
  std::error_code ec;
  fs::path path = fs::weakly_canonical(http::DecodeQueryComponent(url.substr(7)), ec);
  if (ec || !fs::is_regular_file(path, ec)) return false;
  for (const auto& root : ctx_.opt.import_roots) {
    fs::path r = fs::weakly_canonical(root, ec);
    if (ec) continue;
    auto [end, _] = std::mismatch(r.begin(), r.end(), path.begin(), path.end());
    if (end == r.end()) return true;
  }
  return false;
}

// POST $import-pnp, and $import (ping and pull with an exportUrl, or a manifest of files):
// checks, then a job; 202 with the job's status URL.
void ImportRoutes::Import(const httplib::Request& req, httplib::Response& res, bool manifest_allowed) {
  auth::Grant grant;
  if (!ctx_.Authorize(req, res, grant)) return;
  if (ctx_.authorizer && !auth::AllowsWrite(grant, "*")) {
    return SendOutcome(res, 403, "forbidden", "importing needs a write scope (system/*.write or user/*.write)");
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
    if (store::IsS3Location(in.url)) {
      if (AllowedS3(in.url)) continue;
      return SendOutcome(res, 403, "forbidden",
                         "input " + in.url + " is not under an allowed S3 prefix (serve --allow-s3 s3://BUCKET/PREFIX)");
    }
    if (file ? !AllowedFile(in.url) : !AllowedSource(in.url)) {
      return SendOutcome(res, 403, "forbidden",
                         "input " + http::RedactUrl(in.url) +
                             (file ? " is not a file under an import root (serve --import-root DIR)"
                                   : " is not under an allowed source (serve --allow-source PREFIX)"));
    }
  }
  request->owner = grant.client_id;
  const std::string id = jobs_.Submit(std::move(request.value()));
  res.status = 202;
  res.set_header("Content-Location", ctx_.FhirBase(req) + "/$job?id=" + id);
  SendOutcome(res, 202, "informational", "import job " + id + " accepted", "information");
}

// The import job `id` when it exists and belongs to the caller; otherwise answers 401 or 404.
std::optional<ImportJobView> ImportRoutes::OwnImport(const httplib::Request& req, httplib::Response& res, const std::string& id) {
  auth::Grant grant;
  if (!ctx_.Authorize(req, res, grant)) return std::nullopt;
  auto job = jobs_.Get(id);
  if (!job || (ctx_.authorizer && job->request.owner != grant.client_id)) {
    SendOutcome(res, 404, "not-found", "no import job '" + id + "'");
    return std::nullopt;
  }
  return job;
}

void ImportRoutes::Status(const httplib::Request& req, httplib::Response& res) {
  auto job = OwnImport(req, res, req.get_param_value("id"));
  if (!job) return;
  if (job->state == ImportState::kQueued || job->state == ImportState::kRunning) {
    res.status = 202;
    res.set_header("X-Progress", job->progress);
    res.set_header("Retry-After", std::to_string(ctx_.opt.retry_after_seconds));
    return;
  }
  if (job->state == ImportState::kFailed) return SendOutcome(res, job->error_status, "exception", job->error);
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
                   {{"name", "url"}, {"valueUrl", ctx_.FhirBase(req) + "/importerrors/" + job->id + "/" + name}}}}});
  }
  res.set_header("Location", ctx_.FhirBase(req) + "/$job?id=" + job->id);
  res.set_content(result.dump(), kFhirJson);
}

// GET importerrors/{job}/{name}: one of a finished job's files of per-line problems.
void ImportRoutes::Errors(const httplib::Request& req, httplib::Response& res, const std::string& id, const std::string& name) {
  auto job = OwnImport(req, res, id);
  if (!job) return;
  if (std::find(job->error_files.begin(), job->error_files.end(), name) == job->error_files.end()) {
    return SendOutcome(res, 404, "not-found", "no error file '" + name + "' in import job '" + id + "'");
  }
  const store::WarehouseLayout layout(ctx_.opt.warehouse.string());
  if (layout.is_s3()) {  // an object in the bucket, read by ranged GETs as the client takes it
    if (!FileResponder::SendObject(req, res, jobs_.warehouse_store(), store::WarehouseLayout::ErrorFile(name)).ok()) {
      SendOutcome(res, 500, "exception", "cannot read the error file '" + name + "'");
    }
    return;
  }
  if (!FileResponder::Send(req, res, layout.Path(store::WarehouseLayout::ErrorFile(name)), FileResponse{}).ok()) {
    SendOutcome(res, 500, "exception", "cannot open the error file '" + name + "'");
  }
}

void ImportRoutes::Cancel(const httplib::Request& req, httplib::Response& res) {
  auto job = OwnImport(req, res, req.get_param_value("id"));
  if (!job) return;
  jobs_.Cancel(job->id);
  SendOutcome(res, 202, "informational", "import job " + job->id + " cancelled", "information");
}

}  // namespace fhirlake::server
