// fhirlake serve [--source DIR] [--warehouse DIR --allow-source PREFIX...] [--listen HOST:PORT]:
// a Bulk Data source over NDJSON files, and an import (ping and pull) server into a warehouse.
#include <pthread.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "fhirlake/http/url.h"
#include "fhirlake/server/server.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/json_field.h"
#include "src/cli/client_auth.h"
#include "src/cli/commands.h"
#include "src/cli/duration.h"
#include "src/cli/maintenance_options.h"

namespace fhirlake::cli {
namespace {

struct ServeArgs {
  std::string source, listen = "127.0.0.1:8080", base_path = "/fhir", work_dir, public_url, file_base_url;
  std::string redirect_files_to;
  std::string faults, request_log, auth_file;
  int token_lifetime = 0;
  bool no_well_known = false;
  int retry_after = 1, threads = 256, keep_alive_requests = 1;
  size_t page_size = 100;
  bool gzip = false, requires_token = false;
  std::string warehouse;
  std::vector<std::string> allow_sources, import_roots, allow_s3, views;
  int import_concurrency = 1;
  std::string import_job_ttl = "24h";
  std::string export_job_ttl = "24h";
  std::string request_head_timeout = "20s";
  ClientAuthArgs pull_auth;
  std::string pull_sources, config;
  MaintenanceArgs maintenance;
};

// The --pull-sources file: {"sources": [{"url", "clientId", "tokenEndpoint", "privateKeyJwk" |
// "privateKeyFile" (+ "kid"), "clientSecret" | "clientSecretFile", "scope"}]}. Each url is a
// source imports may pull from, with these credentials. Errors name the entry and key, never
// a secret.
Result<std::vector<server::PullSource>> LoadPullSources(const std::string& file, const http::ClientOptions& http) {
  using nlohmann::json;
  auto text = store::ReadSmallFile(file, 1u << 20);
  if (!text.ok()) return InvalidArgument("cannot read --pull-sources: " + text.status().message());
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_object()) doc = FieldOr(doc, "sources", json());
  if (!doc.is_array()) return InvalidArgument(file + ": expected {\"sources\": [...]}");
  std::vector<server::PullSource> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    const json& e = doc[i];
    const std::string where = file + ": sources[" + std::to_string(i) + "]";
    if (!e.is_object()) return InvalidArgument(where + " is not an object");
    ClientAuthArgs a;
    std::string url;
    const std::pair<const char*, std::string*> fields[] = {
        {"url", &url}, {"clientId", &a.client_id}, {"tokenEndpoint", &a.token_url},
        {"privateKeyFile", &a.private_key}, {"kid", &a.kid}, {"clientSecret", &a.client_secret},
        {"clientSecretFile", &a.client_secret_file}, {"scope", &a.scope}, {"clientAuthMethod", &a.auth_method}};
    for (const auto& [key, value] : e.items()) {
      if (key == "privateKeyJwk") {
        if (!value.is_object()) return InvalidArgument(where + ".privateKeyJwk must be a JWK object");
        a.private_key_text = value.dump();
        continue;
      }
      auto field = std::find_if(std::begin(fields), std::end(fields), [&](const auto& f) { return key == f.first; });
      if (field == std::end(fields)) return InvalidArgument(where + ": unknown key '" + key + "'");
      if (!value.is_string()) return InvalidArgument(where + "." + key + " must be a string");
      *field->second = value.get<std::string>();
    }
    if (url.empty()) return InvalidArgument(where + " needs a 'url'");
    auto tokens = MakeTokenSource(a, url, http);
    if (!tokens.ok()) return InvalidArgument(where + ": " + tokens.status().message());
    out.push_back({url, tokens.value()});
  }
  return out;
}

// A duration option in milliseconds, at least `min_ms`; the error names the option.
Result<int64_t> DurationMs(const char* option, const std::string& text, int64_t min_ms, const char* example) {
  auto d = ParseDuration(text);
  if (!d || d->count() < min_ms) {
    return InvalidArgument(std::string(option) + " takes a duration" +
                           (min_ms > 1 ? " of at least " + std::to_string(min_ms) + "ms" : std::string()) + ", like " +
                           example);
  }
  return d->count();
}

// The server's options from the command's, or a usage error.
Result<server::ServerOptions> ServerOptionsFrom(const ServeArgs& a) {
  server::ServerOptions o;
  auto colon = a.listen.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgument("--listen takes HOST:PORT, e.g. 127.0.0.1:8080");
  }
  o.host = a.listen.substr(0, colon);
  try {
    o.port = std::stoi(a.listen.substr(colon + 1));
  } catch (...) {
    return InvalidArgument("--listen port must be a number");
  }
  o.base_path = a.base_path;
  if (o.base_path.empty() || o.base_path[0] != '/') o.base_path = "/" + o.base_path;
  while (o.base_path.size() > 1 && o.base_path.back() == '/') o.base_path.pop_back();
  o.source_dir = a.source;
  o.work_dir = a.work_dir;
  o.public_url = a.public_url;
  o.file_base_url = a.file_base_url;
  o.redirect_files_to = a.redirect_files_to;
  o.retry_after_seconds = a.retry_after;
  o.manifest_page_size = a.page_size;
  o.gzip = a.gzip;
  o.requires_access_token = a.requires_token;
  o.request_log = a.request_log;
  o.threads = std::max(4, a.threads);
  FHIRLAKE_ASSIGN_OR_RETURN(const int64_t head_timeout,
                            DurationMs("--request-head-timeout", a.request_head_timeout, 100, "20s"));
  o.request_head_timeout_ms = static_cast<int>(std::min<int64_t>(head_timeout, 3'600'000));
  o.keep_alive_requests = a.keep_alive_requests;
  o.auth_file = a.auth_file;
  if (!o.auth_file.empty() && o.public_url.empty() && !server::IsLoopbackHost(o.host)) {
    return InvalidArgument("--auth on " + o.host + " needs --public-url (the FHIR base as clients reach it): the token "
                           "endpoint checks each client assertion's aud against its URL, which a request's Host header "
                           "cannot be trusted to give");
  }
  o.token_lifetime_seconds = a.token_lifetime;
  o.well_known = !a.no_well_known;
  FHIRLAKE_ASSIGN_OR_RETURN(o.faults, server::FaultPlan::Parse(a.faults));
  o.warehouse = a.warehouse;
  o.allowed_sources = a.allow_sources;
  for (const auto& r : a.import_roots) o.import_roots.emplace_back(r);
  o.allowed_s3_prefixes = a.allow_s3;
  for (const auto& v : a.views) o.views.emplace_back(v);
  if (!o.views.empty() && o.warehouse.empty()) {
    return InvalidArgument("--views needs --warehouse (the views are refreshed after imports into it)");
  }
  o.import_concurrency = std::max(1, a.import_concurrency);
  FHIRLAKE_ASSIGN_OR_RETURN(const int64_t import_ttl, DurationMs("--import-job-ttl", a.import_job_ttl, 0, "24h"));
  o.import_job_ttl_seconds = static_cast<int>(import_ttl / 1000);
  FHIRLAKE_ASSIGN_OR_RETURN(const int64_t export_ttl, DurationMs("--export-job-ttl", a.export_job_ttl, 1000, "24h"));
  o.export_job_ttl_seconds = static_cast<int>(export_ttl / 1000);
  FHIRLAKE_ASSIGN_OR_RETURN(o.maintenance, MakeMaintenancePolicy(a.maintenance));
  if (!a.pull_auth.client_id.empty() || !a.pull_auth.access_token_file.empty()) {
    if (a.allow_sources.size() != 1) {
      return InvalidArgument("pull credentials (--pull-client-id ...) need exactly one --allow-source; "
                             "for several sources use --pull-sources FILE");
    }
    FHIRLAKE_ASSIGN_OR_RETURN(auto tokens, MakeTokenSource(a.pull_auth, a.allow_sources[0], o.pull_client));
    o.pull_sources.push_back({a.allow_sources[0], std::move(tokens)});
  }
  if (!a.pull_sources.empty()) {
    FHIRLAKE_ASSIGN_OR_RETURN(auto sources, LoadPullSources(a.pull_sources, o.pull_client));
    for (auto& source : sources) {
      o.allowed_sources.push_back(source.prefix);
      o.pull_sources.push_back(std::move(source));
    }
  }
  for (const auto& prefix : o.allowed_sources) {
    // Allowed sources are compared as parsed URLs (http::IsUnder); one that does not parse
    // would silently allow nothing, so it is a usage error.
    if (auto parsed = http::Url::Parse(prefix); !parsed.ok()) {
      return InvalidArgument("allowed source: " + parsed.status().message());
    }
  }
  return o;
}

// Serves with `o` until SIGINT or SIGTERM.
int Serve(server::ServerOptions o) {

  // Signals are taken by a thread of ours (sigwait), which stops the server cleanly.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string listening = "http://" + o.host + ":";
  const std::string base_path = o.base_path;
  server::Server srv(std::move(o));
  Status bound = srv.Bind();
  if (!bound.ok()) {
    std::fprintf(stderr, "fhirlake serve: %s\n", bound.message().c_str());
    return bound.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  std::printf("fhirlake serve: listening on %s%d%s\n", listening.c_str(), srv.port(), base_path.c_str());
  std::fflush(stdout);
  std::jthread stopper([&srv, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    srv.Stop();
  });
  srv.Serve();
  pthread_kill(stopper.native_handle(), SIGTERM);  // wake the waiter if Serve ended otherwise
  return kExitOk;
}

int Run(const ServeArgs& a) {
  auto options = ServerOptionsFrom(a);
  if (!options.ok()) {
    std::fprintf(stderr, "fhirlake serve: %s\n", options.status().message().c_str());
    return kExitUsage;
  }
  return Serve(std::move(options.value()));
}

}  // namespace

void RegisterServe(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a directory of NDJSON files as a FHIR Bulk Data source");
  cmd->add_option("--source", args->source, "Directory of <Type>.*.ndjson files (and deleted/) to export");
  cmd->add_option("--warehouse", args->warehouse, "Accept $import-pnp into this warehouse (a directory or s3://bucket/prefix)");
  cmd->add_option("--allow-source", args->allow_sources,
                  "URL prefix imports may pull from (repeatable; none: every import is refused)");
  cmd->add_option("--import-root", args->import_roots, "Directory $import may read file:// inputs from (repeatable)");
  cmd->add_option("--allow-s3", args->allow_s3,
                  "s3://BUCKET/PREFIX $import may read s3:// inputs from (repeatable; AWS_* credentials)");
  cmd->add_option("--views", args->views,
                  "After each import, refresh these materialised views (ViewDefinition files or directories) "
                  "over the tables it loaded")
      ->delimiter(',');
  cmd->add_option("--import-concurrency", args->import_concurrency, "Import jobs run at once (default 1)");
  cmd->add_option("--import-job-ttl", args->import_job_ttl, "Forget finished import jobs after this long (default 24h)");
  cmd->add_option("--export-job-ttl", args->export_job_ttl,
                  "Delete a finished export's files after this long; its status answer says when (Expires; default 24h)");
  AddMaintenanceOptions(*cmd, args->maintenance, MaintenanceUse::kAfterLoads);
  cmd->add_option("--pull-client-id", args->pull_auth.client_id, "SMART client id for pulling from the allowed source");
  cmd->add_option("--pull-private-key", args->pull_auth.private_key, "Private key (JWKS/JWK/PEM) for pulling");
  cmd->add_option("--pull-client-secret-file", args->pull_auth.client_secret_file, "Client secret file for pulling");
  cmd->add_option("--pull-scope", args->pull_auth.scope, "Scopes requested for pulling (default system/*.read)");
  cmd->add_option("--pull-sources", args->pull_sources,
                  "JSON file of sources with their credentials: {\"sources\": [{url, clientId, tokenEndpoint, "
                  "privateKeyJwk | privateKeyFile, clientSecret | clientSecretFile, scope}]}; each url is allowed");
  cmd->add_option("--config", args->config,
                  "JSON config file of these options (keys in lower camel case: warehouse, allowSource, ...)");
  cmd->add_option("--listen", args->listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 = any)");
  cmd->add_option("--base-path", args->base_path, "Path of the FHIR base (default /fhir)");
  cmd->add_option("--work-dir", args->work_dir, "Where export jobs keep their files, and imports into an s3:// warehouse stage theirs (default: a temp dir)");
  cmd->add_option("--public-url", args->public_url, "FHIR base URL as clients reach it (default: from Host)");
  cmd->add_option("--file-base-url", args->file_base_url, "Base URL for file links in manifests");
  cmd->add_option("--redirect-files-to", args->redirect_files_to,
                  "Answer file requests with a redirect to this FHIR base's copy (tests of redirect handling)");
  cmd->add_option("--faults", args->faults,
                  "Inject faults: TARGET:KIND[=ARG][*COUNT],...; TARGET kickoff|status|file|metadata|token; KIND "
                  "401|429|500|503, pending=N, malformed, miscount (status), 404|410, reset=F, truncate=F, "
                  "slow=BYTES_PER_S, gzip-stored (file)");
  cmd->add_option("--retry-after", args->retry_after, "Retry-After seconds on in-progress status (default 1)");
  cmd->add_option("--manifest-page-size", args->page_size, "Output files per manifest page (allowPartialManifests)");
  cmd->add_flag("--gzip", args->gzip, "Compress file downloads for clients that accept gzip");
  cmd->add_flag("--requires-access-token", args->requires_token, "Say requiresAccessToken: true in manifests");
  cmd->add_option("--request-log", args->request_log, "Append one JSON line per request to this file");
  cmd->add_option("--threads", args->threads, "Request threads, one per open connection (default 256)");
  cmd->add_option("--request-head-timeout", args->request_head_timeout,
                  "A request's line and headers (at most 64 KiB) must arrive within this, or it gets 400 (default 20s)");
  cmd->add_option("--keep-alive-requests", args->keep_alive_requests,
                  "Requests per connection before it is closed (default 1: none kept open; idle kept-open connections cost CPU)");
  cmd->add_option("--auth", args->auth_file,
                  "Require SMART Backend Services tokens; JSON file of clients (clientId, jwks or jwksFile, "
                  "clientSecret, scopes)");
  cmd->add_option("--token-lifetime", args->token_lifetime, "Access token lifetime in seconds (default 300)");
  cmd->add_flag("--no-well-known", args->no_well_known, "Do not serve .well-known/smart-configuration");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
