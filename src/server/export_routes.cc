#include "src/server/export_routes.h"

#include <algorithm>
#include <cstdlib>

#include "fhirlake/bulk/manifest.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/http/url.h"
#include "src/server/file_responder.h"
#include "src/server/reply.h"

namespace fhirlake::server {

void ExportRoutes::Register(httplib::Server& http, const std::string& base) {
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
    Cancel(req, res, req.matches[1].str());
  });
  http.Get(base + R"(/bulkfiles/([0-9a-f]+)/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    File(req, res, req.matches[1].str(), req.matches[2].str());
  });
}

bool ExportRoutes::ApplyStatusFault(const Fault& f, httplib::Response& res) {
  if (f.kind != FaultKind::kStatus) return false;
  res.set_header("Retry-After", std::to_string(static_cast<int>(f.arg)));
  const bool gone = f.http_status == 404 || f.http_status == 410;
  SendOutcome(res, f.http_status, gone ? "not-found" : "transient", "injected fault: HTTP " + std::to_string(f.http_status));
  return true;
}

std::optional<JobView> ExportRoutes::OwnJob(const std::string& id, const auth::Grant& grant) {
  auto job = jobs_.Get(id);
  if (job && ctx_.authorizer && job->owner != grant.client_id) return std::nullopt;
  return job;
}

void ExportRoutes::Kickoff(const httplib::Request& req, httplib::Response& res, bulk::ExportLevel level, const std::string& group) {
  if (auto f = ctx_.opt.faults.Take(FaultTarget::kKickoff); f && ApplyStatusFault(*f, res)) return;
  if (!HeaderHas(req, "Prefer", "respond-async")) {
    return SendOutcome(res, 400, "invalid", "the kick-off request needs the header 'Prefer: respond-async'");
  }
  const bool lenient = HeaderHas(req, "Prefer", "handling=lenient");
  auth::Grant grant;  // before the body is read: a client without a token gets no further
  if (!ctx_.Authorize(req, res, grant)) return;
  Result<bulk::ExportParameters> params = InvalidArgument("no parameters");
  if (req.method == "POST") {
    params = bulk::ExportParameters::FromParametersJson(level, group, req.body);
  } else {
    std::vector<std::pair<std::string, std::string>> pairs(req.params.begin(), req.params.end());
    params = bulk::ExportParameters::FromQuery(level, group, pairs);
  }
  if (!params.ok()) return SendOutcome(res, 400, "invalid", params.status().message());
  if (ctx_.authorizer) {
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
  std::string request = ctx_.FhirBase(req) + req.path.substr(ctx_.opt.base_path.size());
  if (std::string q = params->ToQuery(); !q.empty()) request += "?" + q;
  auto id = jobs_.Start(*params, request, lenient, grant.client_id);
  if (!id.ok()) {
    int code = id.status().code() == StatusCode::kNotFound ? 404 : 400;
    return SendOutcome(res, code, code == 404 ? "not-found" : "not-supported", id.status().message());
  }
  res.status = 202;
  res.set_header("Content-Location", ctx_.FhirBase(req) + "/bulkstatus/" + *id);
  SendOutcome(res, 202, "informational", "export started", "information");
}

void ExportRoutes::Status(const httplib::Request& req, httplib::Response& res, const std::string& id) {
  bool miscount = false;
  if (auto f = ctx_.opt.faults.Take(FaultTarget::kStatus)) {
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
  if (!ctx_.Authorize(req, res, grant)) return;
  auto job = OwnJob(id, grant);
  if (!job) return SendOutcome(res, 404, "not-found", "no export job '" + id + "' (cancelled, expired or never started)");
  int pending = 0;
  if (int extra = ctx_.opt.faults.PendingPolls(); extra > 0) {
    std::lock_guard lock(polls_mu_);
    int seen = polls_[id]++;
    pending = seen < extra ? 1 : 0;
  }
  if (job->state == JobState::kFailed) return SendOutcome(res, 500, "exception", job->error);
  if (job->state == JobState::kRunning || pending) {
    if (miscount) ctx_.opt.faults.Restore(FaultTarget::kStatus, FaultKind::kMiscount);
    res.status = 202;
    res.set_header("X-Progress", std::to_string(pending ? std::min(job->percent, 99) : job->percent) + "% complete");
    res.set_header("Retry-After", std::to_string(ctx_.opt.retry_after_seconds));
    return;
  }
  const std::string file_base = ctx_.FileBase(req) + "/bulkfiles/" + id + "/";
  bulk::Manifest m;
  m.transaction_time = job->transaction_time;
  m.request = job->request;
  m.requires_access_token = ctx_.opt.requires_access_token || ctx_.authorizer != nullptr;
  std::vector<const JobFile*> outputs;
  for (const auto& f : job->files) {
    bulk::ManifestFile mf{f.type, file_base + f.name, f.count + (miscount ? 1 : 0)};
    if (f.kind == "output") outputs.push_back(&f);
    else if (f.kind == "deleted") m.deleted.push_back(mf);
    else m.error.push_back(mf);
  }
  size_t page = 1, page_size = outputs.size();
  if (job->allow_partial_manifests && ctx_.opt.manifest_page_size > 0) {
    page_size = ctx_.opt.manifest_page_size;
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
    m.next = ctx_.FhirBase(req) + "/bulkstatus/" + id + "?page=" + std::to_string(page + 1);
  }
  res.status = 200;
  if (job->expires_at > 0) res.set_header("Expires", fhir::FormatHttpDate(job->expires_at));
  res.set_content(m.ToJson(), "application/json");
}

void ExportRoutes::Cancel(const httplib::Request& req, httplib::Response& res, const std::string& id) {
  auth::Grant grant;
  if (!ctx_.Authorize(req, res, grant)) return;
  if (!OwnJob(id, grant) || !jobs_.Cancel(id)) return SendOutcome(res, 404, "not-found", "no export job '" + id + "'");
  SendOutcome(res, 202, "informational", "export job " + id + " cancelled", "information");
}

void ExportRoutes::File(const httplib::Request& req, httplib::Response& res, const std::string& id, const std::string& name) {
  std::optional<Fault> fault = ctx_.opt.faults.Take(FaultTarget::kFile);
  if (fault && ApplyStatusFault(*fault, res)) return;
  auth::Grant grant;
  if (!ctx_.Authorize(req, res, grant)) return;
  auto job = OwnJob(id, grant);
  const JobFile* file = nullptr;
  if (job && job->state == JobState::kDone) {
    for (const auto& f : job->files) {
      if (f.name == name) file = &f;
    }
  }
  if (!file) return SendOutcome(res, 404, "not-found", "no file '" + name + "' in export job '" + id + "'");
  if (ctx_.authorizer && !auth::AllowsRead(grant, file->type) && file->kind == "output") {
    return SendOutcome(res, 403, "forbidden", "the access token's scopes do not allow reading " + file->type);
  }
  if (!ctx_.opt.redirect_files_to.empty()) {
    res.status = 302;
    res.set_header("Location", ctx_.opt.redirect_files_to + "/bulkfiles/" + id + "/" + name);
    return;
  }
  FileResponse how;
  how.rate = ctx_.opt.faults.SlowRate();
  if (fault && fault->kind == FaultKind::kTruncate) how.truncate = fault->arg;
  if (fault && fault->kind == FaultKind::kReset) how.reset = fault->arg;
  how.gzip = ctx_.opt.gzip && req.ranges.empty() && !fault && HeaderHas(req, "Accept-Encoding", "gzip");
  how.stored_gzip = ctx_.opt.faults.GzipStored();
  if (!FileResponder::Send(req, res, file->path, how).ok()) {
    SendOutcome(res, 500, "exception", "cannot open the file for job '" + id + "'");
  }
}

}  // namespace fhirlake::server
