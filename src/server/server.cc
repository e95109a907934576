#include "fhirlake/server/server.h"

#include <httplib.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>

#include "fhirlake/auth/authorizer.h"
#include "fhirlake/http/url.h"
#include "fhirlake/server/export_jobs.h"
#include "fhirlake/server/import_jobs.h"
#include "fhirlake/view/view_files.h"
#include "src/server/bounded_http_server.h"
#include "src/server/export_routes.h"
#include "src/server/import_routes.h"
#include "src/server/reply.h"
#include "src/server/server_context.h"
#include "src/server/view_routes.h"

namespace fhirlake::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string EscapeRegex(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

}  // namespace

std::string ServerContext::FhirBase(const httplib::Request& req) const {
  if (!opt.public_url.empty()) return opt.public_url;
  std::string host = req.get_header_value("Host");
  if (host.empty()) host = opt.host + ":" + std::to_string(bound_port);
  return "http://" + host + opt.base_path;
}

bool IsLoopbackHost(std::string_view host) {
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
  if (h == "localhost" || h == "::1") return true;
  return h.starts_with("127.") && h.find_first_not_of("0123456789.") == std::string::npos;
}

std::string ServerContext::TokenAudience(const httplib::Request& req) const {
  if (!opt.public_url.empty()) return TokenUrl(req);
  auto named = http::Url::Parse("http://" + req.get_header_value("Host") + "/");
  if (named.ok() && IsLoopbackHost(named->host) && named->port == bound_port) return TokenUrl(req);
  return "http://" + opt.host + ":" + std::to_string(bound_port) + opt.base_path + "/auth/token";
}

std::string ServerContext::FileBase(const httplib::Request& req) const {
  return opt.file_base_url.empty() ? FhirBase(req) : opt.file_base_url;
}

bool ServerContext::Authorize(const httplib::Request& req, httplib::Response& res, auth::Grant& grant) const {
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

// The server's parts: the shared context, the jobs, the routes over them, and what is not
// a route's own (metadata, health, the token endpoint, request logging, httplib settings).
struct Server::Impl {
  ServerContext ctx;
  BoundedHttpServer http;
  std::unique_ptr<ExportJobs> jobs;
  std::unique_ptr<ImportJobs> imports;  // null: no warehouse
  std::unique_ptr<ExportRoutes> export_routes;
  std::unique_ptr<ImportRoutes> import_routes;
  std::unique_ptr<ViewRoutes> view_routes;
  fs::path temp_work_dir;  // removed on exit when we made it
  int listen_fd = -1;
  std::mutex log_mu;
  std::ofstream request_log;

  explicit Impl(ServerOptions o) { ctx.opt = std::move(o); }

  void Metadata(const httplib::Request& req, httplib::Response& res) {
    if (auto f = ctx.opt.faults.Take(FaultTarget::kMetadata); f && ExportRoutes::ApplyStatusFault(*f, res)) return;
    json op = json::array();
    for (const char* name : {"export"}) {
      op.push_back({{"name", name}, {"definition", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/" + std::string(name)}});
    }
    op.push_back({{"name", "viewdefinition-run"},
                  {"definition", "http://hl7.org/fhir/uv/sql-on-fhir/OperationDefinition/ViewDefinitionRun"}});
    if (imports) {
      op.push_back({{"name", "import-pnp"}, {"definition", "https://pathling.csiro.au/fhir/OperationDefinition/import-pnp"}});
      op.push_back({{"name", "import"}, {"definition", "https://pathling.csiro.au/fhir/OperationDefinition/import"}});
    }
    json cs = {{"resourceType", "CapabilityStatement"},
               {"status", "active"},
               {"date", "2026-01-01"},
               {"kind", "instance"},
               {"software", {{"name", "fhirlake"}, {"version", "0.1.0"}}},
               {"implementation", {{"description", "fhirlake bulk data server"}, {"url", ctx.FhirBase(req)}}},
               {"fhirVersion", "4.0.1"},
               {"format", {"json"}},
               {"rest", {{{"mode", "server"}, {"operation", op}}}}};
    if (ctx.authorizer) {
      cs["rest"][0]["security"] = {
          {"service", {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/restful-security-service"},
                                      {"code", "SMART-on-FHIR"}}}}}}},
          {"extension", {{{"url", "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"},
                          {"extension", {{{"url", "token"}, {"valueUri", ctx.TokenUrl(req)}}}}}}}};
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
    const std::string base = EscapeRegex(ctx.opt.base_path);
    export_routes = std::make_unique<ExportRoutes>(ctx, *jobs);
    export_routes->Register(http, base);
    view_routes = std::make_unique<ViewRoutes>(ctx);
    view_routes->Register(http, base);
    http.Get(base + "/metadata", [this](const httplib::Request& req, httplib::Response& res) { Metadata(req, res); });
    if (imports) {
      import_routes = std::make_unique<ImportRoutes>(ctx, *imports);
      import_routes->Register(http, base);
    }
    if (ctx.authorizer) {
      if (ctx.opt.well_known) {
        http.Get(base + "/.well-known/smart-configuration", [this](const httplib::Request& req, httplib::Response& res) {
          json doc = {{"token_endpoint", ctx.TokenUrl(req)},
                      {"token_endpoint_auth_methods_supported", {"private_key_jwt", "client_secret_basic", "client_secret_post"}},
                      {"token_endpoint_auth_signing_alg_values_supported", {"RS384", "ES384"}},
                      {"grant_types_supported", {"client_credentials"}},
                      {"scopes_supported", {"system/*.read", "system/*.rs", "system/*.write", "user/*.write"}},
                      {"capabilities", {"client-confidential-asymmetric", "client-confidential-symmetric"}}};
          res.set_content(doc.dump(), "application/json");
        });
      }
      http.Post(base + "/auth/token", [this](const httplib::Request& req, httplib::Response& res) {
        auto reply = ctx.authorizer->IssueToken(req.body, req.get_header_value("Authorization"), ctx.TokenAudience(req));
        if (auto f = ctx.opt.faults.Take(FaultTarget::kToken); f && ExportRoutes::ApplyStatusFault(*f, res)) return;
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
    // httplib holds a body to the 16 MiB limit below only when Content-Length gives its size:
    // a chunked body, or a compressed one (inflated as it is read), could fill the memory. Both
    // are refused before the body is read, and the connection closed, its body unread.
    http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      const std::string coding = req.get_header_value("Content-Encoding");
      if (!coding.empty() && coding != "identity") {
        res.set_header("Connection", "close");
        SendOutcome(res, 415, "not-supported", "compressed request bodies (Content-Encoding " + coding + ") are not accepted");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.has_header("Transfer-Encoding")) {
        res.set_header("Connection", "close");
        SendOutcome(res, 411, "invalid", "send the request body with a Content-Length, not with Transfer-Encoding");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Logged before the response is written, so a client that has its answer finds it logged.
    http.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) { LogRequest(req, res); });
    const int threads = ctx.opt.threads;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    http.set_payload_max_length(16u << 20);
    HeadLimits limits;
    limits.head_timeout = std::chrono::milliseconds(ctx.opt.request_head_timeout_ms);
    http.set_head_limits(limits);
    http.set_keep_alive_max_count(static_cast<size_t>(std::max(1, ctx.opt.keep_alive_requests)));
    // httplib listens with a backlog of 5, so a burst of clients connecting at once (pollers)
    // loses SYNs, which are resent only a second later. The listening socket is noted here
    // and, once bound, listen() is called again with a deep backlog (Linux takes the new size).
    http.set_socket_options([this](socket_t sock) {
      BoundedHttpServer::SocketOptions(sock);
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
  auto& o = impl_->ctx.opt;
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
    impl_->ctx.authorizer = std::make_unique<auth::Authorizer>(std::move(config.value()));
  }
  // $export serves the source directory, or else the warehouse.
  impl_->jobs = std::make_unique<ExportJobs>(o.source_dir, o.work_dir, o.source_dir.empty() ? o.warehouse : fs::path(),
                                             std::chrono::seconds(o.export_job_ttl_seconds));
  if (!o.warehouse.empty()) {
    // An s3:// warehouse keeps its job records in the bucket; what jobs download is staged in
    // the local work directory, from where loads upload it.
    const bool s3 = store::IsS3Location(o.warehouse.string());
    if (!s3) fs::create_directories(o.warehouse, ec);
    auto warehouse_store = store::OpenStore(o.warehouse.string());
    if (!warehouse_store.ok()) return warehouse_store.status().WithContext("--warehouse");
    ImportJobsOptions import_options;
    import_options.warehouse = o.warehouse;
    if (s3) import_options.staging_dir = o.work_dir / "imports";
    import_options.client = o.pull_client;
    import_options.sources = o.pull_sources;
    import_options.concurrency = o.import_concurrency;
    import_options.ttl = std::chrono::seconds(o.import_job_ttl_seconds);
    import_options.maintenance = o.maintenance;
    if (!o.views.empty()) {
      auto views = view::ReadViewDefinitions(o.views);
      if (!views.ok()) return views.status().WithContext("--views");
      for (const auto& v : *views) {
        if (v.name().empty()) return InvalidArgument("--views: every materialised view needs a name");
      }
      import_options.views = std::make_shared<const std::vector<view::ViewDefinition>>(std::move(views).value());
    }
    impl_->imports = std::make_unique<ImportJobs>(std::move(import_options), std::move(warehouse_store).value());
  }
  impl_->Routes();
  if (o.port == 0) {
    impl_->ctx.bound_port = impl_->http.bind_to_any_port(o.host);
    if (impl_->ctx.bound_port <= 0) return IoError("cannot listen on " + o.host);
  } else {
    if (!impl_->http.bind_to_port(o.host, o.port)) {
      return IoError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                     " (address in use?); choose another with --listen HOST:PORT");
    }
    impl_->ctx.bound_port = o.port;
  }
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, 1024);
  return Status::Ok();
}

int Server::port() const { return impl_->ctx.bound_port; }

void Server::Serve() { impl_->http.listen_after_bind(); }

void Server::Stop() { impl_->http.stop(); }

}  // namespace fhirlake::server
