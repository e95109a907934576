// server::ExportRoutes: the Bulk Data export endpoints of `fhirlake serve` (Bulk Data IG v2):
// kick-off (system, Patient, Group; GET or POST), status polling and cancel, and the files,
// over the jobs of ExportJobs. The fault layer (FaultPlan) answers in front of them when a
// rule matches.
#pragma once

#include <httplib.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "fhirlake/server/export_jobs.h"
#include "fhirlake/server/fault_plan.h"
#include "src/server/server_context.h"

namespace fhirlake::server {

class ExportRoutes {
 public:
  // Both must outlive the routes.
  ExportRoutes(ServerContext& context, ExportJobs& jobs) : ctx_(context), jobs_(jobs) {}

  // Adds the routes under `base` (a regular expression for the FHIR base path).
  void Register(httplib::Server& http, const std::string& base);

  // Answers a status fault (401/429/5xx) if `f` is one; true when answered.
  static bool ApplyStatusFault(const Fault& f, httplib::Response& res);

 private:
  void Kickoff(const httplib::Request& req, httplib::Response& res, bulk::ExportLevel level, const std::string& group);
  void Status(const httplib::Request& req, httplib::Response& res, const std::string& id);
  void Cancel(const httplib::Request& req, httplib::Response& res, const std::string& id);
  void File(const httplib::Request& req, httplib::Response& res, const std::string& id, const std::string& name);
  // The job when it exists for this caller: it is theirs, or authorization is off.
  std::optional<JobView> OwnJob(const std::string& id, const auth::Grant& grant);

  ServerContext& ctx_;
  ExportJobs& jobs_;
  std::mutex polls_mu_;
  std::map<std::string, int> polls_;  // status polls per job (pending fault)
};

}  // namespace fhirlake::server
