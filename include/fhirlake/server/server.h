// server::Server: `fhirlake serve`. An HTTP server (cpp-httplib) whose FHIR base (default
// /fhir) answers the Bulk Data export operations over a source directory or the warehouse
// (ExportJobs), and with a warehouse the imports (ImportJobs). Its parts (src/server/):
// ServerContext (options, public URLs, bearer-token check), ExportRoutes, ImportRoutes, and
// FileResponder, which streams bulk files and import error files alike. An optional fault layer
// (FaultPlan) answers in front of the export routes and /metadata, for tests and drills.
//
// Endpoints under the base: GET /metadata; POST /$viewdefinition-run and
// /ViewDefinition/$run (ViewRoutes: a ViewDefinition's rows as NDJSON or CSV over the data
// $export serves); GET|POST /$export, /Patient/$export,
// /Group/{id}/$export; GET|DELETE /bulkstatus/{id}; GET /bulkfiles/{id}/{name} (streamed,
// Content-Length, Range, optional gzip). Outside the base: GET /health. With a warehouse:
// POST /$import-pnp and /$import, GET|DELETE /$job?id= (ImportJobs), GET /importerrors/{id}/{name}
// (a job's per-line problems as OperationOutcome NDJSON), and GET /metrics outside the base.
// With an auth file: GET /.well-known/smart-configuration and POST /auth/token under the base,
// and every other FHIR endpoint but /metadata requires a bearer token with a read scope for the
// types it touches (imports: a write scope); a job is visible only to the client that started it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/http/client.h"
#include "fhirlake/server/fault_plan.h"
#include "fhirlake/server/import_jobs.h"
#include "fhirlake/status.h"

namespace fhirlake::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0 = any free port; Server::port() tells which
  std::string base_path = "/fhir";
  std::filesystem::path source_dir;      // NDJSON to export
  std::filesystem::path work_dir;        // job files; "" = a temporary folder removed on exit
  std::string public_url;                // FHIR base as clients see it; "" = from the Host header
  std::string file_base_url;             // base for file URLs; "" = the FHIR base
  // When set, a file request is answered 302 to this FHIR base's copy of the file (a file
  // store on another host, as with presigned URLs); for tests of redirect policies.
  std::string redirect_files_to;
  FaultPlan faults;
  int retry_after_seconds = 1;           // Retry-After on 202 status answers
  int export_job_ttl_seconds = 24 * 3600;  // a finished export's files are deleted after this (Expires)
  size_t manifest_page_size = 100;       // output files per page when allowPartialManifests
  bool gzip = false;                     // gzip file downloads for clients that accept it
  bool requires_access_token = false;    // value of the manifest's requiresAccessToken
  std::filesystem::path request_log;     // NDJSON line per request (no credentials), optional
  std::string auth_file;                 // clients file: require SMART bearer tokens ("" = open)
  int token_lifetime_seconds = 0;        // overrides the clients file's lifetime when > 0
  bool well_known = true;                // serve /.well-known/smart-configuration
  int threads = 256;                     // httplib keeps a thread per open (keep-alive) connection
  // A request's line and headers must arrive within this (and 64 KiB), or it gets 400 and its
  // connection closes: a client trickling headers holds a thread no longer than this.
  int request_head_timeout_ms = 20'000;
  // Requests per connection; 1 closes each connection after its response. A kept-open
  // connection holds a request thread while it waits (in poll(), BoundedHttpServer) for its
  // next request, up to 5 s.
  int keep_alive_requests = 1;

  // Imports (ping and pull) into this warehouse: POST /$import-pnp (and $import with an
  // exportUrl), GET|DELETE /$job?id=. Off when empty.
  std::filesystem::path warehouse;
  std::vector<std::string> allowed_sources;  // exportUrl prefixes; empty: every import is refused
  std::vector<std::filesystem::path> import_roots;  // $import may read file:// URLs under these
  // $import may read s3:// URLs under these s3://bucket/prefix (credentials: S3Config::FromEnvironment)
  std::vector<std::string> allowed_s3_prefixes;
  int import_concurrency = 1;
  int import_job_ttl_seconds = 24 * 3600;    // finished import jobs are forgotten after this
  http::ClientOptions pull_client;           // how imports reach sources (TLS, retry)
  std::vector<PullSource> pull_sources;      // credentials per source prefix
  sync::MaintenancePolicy maintenance = sync::DefaultMaintenancePolicy();  // after each import's loads
  // ViewDefinition files (or directories of them) materialised in the warehouse: each import
  // job refreshes the views over the tables it loaded (view::RefreshViews, as sync --views).
  std::vector<std::filesystem::path> views;
};

// Whether `host` ("localhost", "127.0.0.2", "[::1]") names this machine's loopback interface.
bool IsLoopbackHost(std::string_view host);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket. kIoError when the address is taken or invalid.
  Status Bind();
  // The bound port (after Bind).
  int port() const;
  // Serves until Stop(). REQUIRES: Bind() succeeded.
  void Serve();
  // Makes Serve() return; safe from another thread (not from a signal handler).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirlake::server
