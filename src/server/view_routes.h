// server::ViewRoutes: SQL on FHIR views run on request. POST [base]/$viewdefinition-run (as
// Pathling and the SQL on FHIR IG name it; also at [base]/ViewDefinition/$viewdefinition-run)
// and POST [base]/ViewDefinition/$run (the IG's earlier type-level name) take a Parameters resource with the ViewDefinition as `viewResource` and answer its rows
// over the data $export serves (the source directory, or else the warehouse), streamed as
// NDJSON or CSV with chunked transfer encoding.
//
// Parameters: viewResource (required); _format ndjson | csv (or their media types
// application/x-ndjson, text/csv; also from the query string, else the Accept header; default
// NDJSON); header (CSV header line, default true); _limit (at most this many rows); patient
// (0..*: only that patient's resources — the Patient itself, or resources whose subject or
// patient references it); resource (0..*: inline resources to run over instead of the
// server's data). Others the IG names (group, _since, source, viewReference) are refused with
// 400 so a client can retry without them. An invalid view is 400 with an OperationOutcome; with
// authorization on, the token needs a read scope for the view's resource type (401 without a
// valid token, 403 without the scope). An evaluation error after the rows began ends the
// response without its final chunk, so the client sees an incomplete transfer.
#pragma once

#include <httplib.h>

#include <string>

#include "src/server/server_context.h"

namespace fhirlake::server {

class ViewRoutes {
 public:
  // `context` must outlive the routes.
  explicit ViewRoutes(ServerContext& context) : ctx_(context) {}

  // Adds the routes under `base` (a regular expression for the FHIR base path).
  void Register(httplib::Server& http, const std::string& base);

 private:
  void Run(const httplib::Request& req, httplib::Response& res);

  ServerContext& ctx_;
};

}  // namespace fhirlake::server
