// server::ImportRoutes: the import endpoints of `fhirlake serve` with a warehouse:
// POST $import-pnp and $import (checked against the allowed sources and import roots, then a
// job of ImportJobs), GET|DELETE $job?id= (status, Pathling's result Parameters; cancel), and
// GET importerrors/{job}/{name} (a finished job's per-line problems).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>

#include "fhirlake/server/import_jobs.h"
#include "src/server/server_context.h"

namespace fhirlake::server {

class ImportRoutes {
 public:
  // Both must outlive the routes.
  ImportRoutes(ServerContext& context, ImportJobs& jobs) : ctx_(context), jobs_(jobs) {}

  // Adds the routes under `base` (a regular expression for the FHIR base path), and /metrics.
  void Register(httplib::Server& http, const std::string& base);

 private:
  void Import(const httplib::Request& req, httplib::Response& res, bool manifest_allowed);
  void Status(const httplib::Request& req, httplib::Response& res);
  void Errors(const httplib::Request& req, httplib::Response& res, const std::string& id, const std::string& name);
  void Cancel(const httplib::Request& req, httplib::Response& res);
  // The import job `id` when it exists and belongs to the caller; otherwise answers 401 or 404.
  std::optional<ImportJobView> OwnImport(const httplib::Request& req, httplib::Response& res, const std::string& id);
  bool AllowedSource(const std::string& url) const;
  bool AllowedFile(const std::string& url) const;
  bool AllowedS3(const std::string& url) const;

  ServerContext& ctx_;
  ImportJobs& jobs_;
};

}  // namespace fhirlake::server
