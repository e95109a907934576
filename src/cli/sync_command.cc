// fhirlake sync --source URL --warehouse DIR [options]: export what changed since the last
// sync, merge it into the warehouse, remember where it got to. And `fhirlake config --show`,
// which prints the settings sync would use (flags > environment > --config file).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fhirlake/http/url.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/server/ops_server.h"
#include "fhirlake/sync/runner.h"
#include "fhirlake/sync/schedule.h"
#include "fhirlake/sync/sentry.h"
#include "src/cli/client_auth.h"
#include "src/cli/commands.h"
#include "src/cli/config_file.h"
#include "src/cli/duration.h"
#include "src/cli/maintenance_options.h"
#include "src/cli/progress_display.h"
#include "src/cli/view_refresh.h"

namespace fhirlake::cli {
namespace {

using nlohmann::json;

struct SyncArgs {
  std::string source, warehouse, group, since, archive, config, work_dir, lease_ttl = "2m";
  std::vector<std::string> types, views;
  std::string timeout = "24h", poll_interval = "1s", ca_file;
  std::string every, cron, full_refresh_cron, listen, max_lag = "25h";
  ClientAuthArgs auth;
  bool full_refresh = false, deletion_vectors = false, quiet = false, json = false, insecure = false, show = false;
  int keep = 0, parallel = 4, retries = 6, max_depth = 3;
  uint64_t row_group_mb = 64;
  MaintenanceArgs maintenance;
  int jobs = load::DefaultJobs();
};

json MaintenanceJson(const sync::SyncSummary& s) {
  json out = json::array();
  for (const auto& m : s.maintenance) out.push_back(json::parse(sync::MaintenanceJson(m)));
  return out;
}

json SummaryJson(const sync::SyncSummary& s) {
  json tables = json::object();
  for (const auto& t : s.tables) {
    tables[t.type] = {{"rows", t.rows}, {"inserted", t.inserted}, {"updated", t.updated}, {"deleted", t.deleted},
                      {"badLines", t.bad_lines}, {"version", t.version}, {"alreadyCommitted", t.already_committed}};
  }
  return {{"status", "ok"},           {"transactionTime", s.transaction_time},
          {"since", s.since},         {"fullRefresh", s.full_refresh},
          {"resumed", s.resumed},     {"files", s.exported.files},
          {"bytes", s.exported.bytes}, {"resources", s.exported.resources},
          {"inserted", s.inserted},   {"updated", s.updated},
          {"deleted", s.deleted},     {"badLines", s.bad_lines},
          {"seconds", s.seconds},     {"archivedTo", s.archived_to.string()},
          {"tables", tables},          {"maintenance", MaintenanceJson(s)}};
}

int ExitCodeOf(sync::FailureKind kind) {
  switch (kind) {
    case sync::FailureKind::kConfig: return kExitUsage;
    case sync::FailureKind::kSource: return kExitSource;
    case sync::FailureKind::kLoad: return kExitLoad;
    case sync::FailureKind::kNone: return kExitOk;
  }
  return kExitFailed;
}

int Report(const SyncArgs& a, const Result<sync::SyncSummary>& result, sync::FailureKind kind);

int Run(const SyncArgs& a) {
  DisplayMode mode = ChooseDisplayMode(a.quiet || a.json);
  sync::SyncOptions o;
  o.source = a.source;
  o.warehouse = a.warehouse;
  o.types = a.types;
  o.group = a.group;
  o.full_refresh = a.full_refresh;
  if (!a.since.empty()) o.since = a.since;
  o.archive = a.archive;
  o.keep = a.keep;
  o.work_dir = a.work_dir;
  http::ClientOptions& client = o.export_options.client;
  client = MakeClientOptions(a.insecure, a.ca_file, a.retries, mode != DisplayMode::kQuiet);
  auto usage = [&](const std::string& message) {
    std::fprintf(stderr, "fhirlake sync: %s\n", message.c_str());
    if (a.json) std::printf("%s\n", json{{"status", "error"}, {"kind", "config"}, {"error", message}}.dump().c_str());
    return kExitUsage;
  };
  auto tokens = MakeTokenSource(a.auth, a.source, client);
  if (!tokens.ok()) return usage(tokens.status().message());
  client.tokens = tokens.value();
  auto timeout = ParseDuration(a.timeout);
  auto poll = ParseDuration(a.poll_interval);
  if (!timeout) return usage("timeout: '" + a.timeout + "' is not a duration like 90s, 5m, 24h");
  if (!poll) return usage("pollInterval: '" + a.poll_interval + "' is not a duration like 1s, 500ms");
  if (a.keep < 0) return usage("keep: must be 0 (keep all) or more");
  auto lease_ttl = ParseDuration(a.lease_ttl);
  if (!lease_ttl || lease_ttl->count() <= 0) return usage("leaseTtl: '" + a.lease_ttl + "' is not a duration like 30s, 2m");
  o.lease_ttl = *lease_ttl;
  if (a.max_depth < 0 || a.max_depth > 10) return usage("maxDepth: must be between 0 and 10");
  o.export_options.timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
  o.export_options.poll_interval = *poll;
  o.export_options.parallel = std::max(1, a.parallel);
  o.load_options.jobs = std::max(1, a.jobs);
  o.load_options.deletion_vectors = a.deletion_vectors;
  o.load_options.schema.max_depth = a.max_depth;
  o.load_options.target_file_bytes = a.maintenance.target_file_mb << 20;
  auto maintenance = MakeMaintenancePolicy(a.maintenance);
  if (!maintenance.ok()) return usage(maintenance.status().message());
  o.maintenance = maintenance.value();
  o.load_options.small_file_bytes = sync::LoadSmallFileBytes(o.maintenance);
  o.load_options.writer.row_group_bytes = std::max<uint64_t>(1, a.row_group_mb) << 20;

  sync::ScheduleOptions schedule;
  if (!a.every.empty()) {
    schedule.every = ParseDuration(a.every);
    if (!schedule.every || schedule.every->count() <= 0) return usage("every: '" + a.every + "' is not a duration like 15m, 1h");
  }
  for (auto [text, target, key] : {std::tuple{&a.cron, &schedule.cron, "cron"},
                                   std::tuple{&a.full_refresh_cron, &schedule.full_refresh_cron, "fullRefreshCron"}}) {
    if (text->empty()) continue;
    auto c = sync::CronSchedule::Parse(*text);
    if (!c.ok()) return usage(std::string(key) + ": " + c.status().message());
    *target = c.value();
  }
  if (schedule.every && schedule.cron) return usage("give --every or --cron, not both");
  auto max_lag = ParseDuration(a.max_lag);
  if (!max_lag) return usage("maxLag: '" + a.max_lag + "' is not a duration like 2h");
  const bool scheduled = schedule.every || schedule.cron;
  if (!scheduled && (!a.listen.empty() || schedule.full_refresh_cron)) {
    return usage("--listen and --full-refresh-cron need a schedule (--every or --cron)");
  }

  ProgressDisplay display(mode);
  o.on_phase = [&display, mode](std::string_view phase) {
    if (phase == "export") return;
    display.Finish();
    if (mode != DisplayMode::kQuiet && phase == "load") std::fprintf(stderr, "loading into the warehouse\n");
  };
  if (!scheduled) {
    sync::FailureKind kind = sync::FailureKind::kNone;
    auto result = sync::RunSync(o, &display, &kind);
    display.Finish();
    return Report(a, result, kind);
  }

  // Scheduled: run until SIGTERM/SIGINT, serving /health and /metrics if asked.
  static std::atomic<bool> stop{false};
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop = true; };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sync::SyncMetrics metrics;
  std::unique_ptr<server::OpsServer> ops;
  if (!a.listen.empty()) {
    auto started = server::OpsServer::Start(a.listen, {[&] { return metrics.Health(*max_lag); },
                                                       [&] { return metrics.Prometheus(); }});
    if (!started.ok()) return usage(started.status().message());
    ops = std::move(started.value());
    std::fprintf(stderr, "fhirlake sync: serving /health and /metrics on http://%s:%d\n",
                 a.listen.substr(0, a.listen.rfind(':')).c_str(), ops->port());
  }
  int last = kExitOk;
  sync::RunSchedule(schedule, o, &display, metrics, stop, [&](const Result<sync::SyncSummary>& r, sync::FailureKind k) {
    display.Finish();
    if (!r.ok() && r.status().code() == StatusCode::kCancelled) return;
    last = Report(a, r, k);
    std::fflush(stdout);
  });
  if (mode != DisplayMode::kQuiet) std::fprintf(stderr, "fhirlake sync: stopped\n");
  return last;  // the exit code of the last run that ended: a failing schedule exits non-zero
}

int Report(const SyncArgs& a, const Result<sync::SyncSummary>& result, sync::FailureKind kind) {
  if (!result.ok()) {
    std::fprintf(stderr, "fhirlake sync: %s\n", result.status().message().c_str());
    const char* names[] = {"none", "config", "source", "load"};
    if (a.json) {
      std::printf("%s\n", json{{"status", "error"}, {"kind", names[static_cast<int>(kind)]},
                               {"error", result.status().message()}}.dump().c_str());
    }
    if (const char* dsn = std::getenv("SENTRY_DSN"); dsn && *dsn) {
      const char* release = std::getenv("SENTRY_RELEASE");
      Status sent = sync::ReportToSentry(dsn, {result.status().message(), names[static_cast<int>(kind)], a.source,
                                               release ? release : ""});
      if (!sent.ok()) std::fprintf(stderr, "fhirlake sync: could not report to Sentry: %s\n", sent.message().c_str());
    }
    return ExitCodeOf(kind);
  }
  const auto& s = result.value();
  if (a.json) std::printf("%s\n", SummaryJson(s).dump().c_str());
  if (!a.quiet && !a.json) {
    for (const auto& t : s.tables) {
      std::fprintf(stderr, "  %-20s %s\n", t.type.c_str(),
                   t.already_committed ? "already loaded by an earlier, interrupted run"
                                       : fmt::format("{} added, {} updated, {} deleted{}; version {}", t.inserted,
                                                     t.updated, t.deleted,
                                                     t.bad_lines ? fmt::format(", {} bad lines", t.bad_lines) : "",
                                                     t.version).c_str());
    }
    std::vector<std::string> types;
    for (const auto& t : s.tables) types.push_back(t.type);
    std::string what = s.tables.empty()
                           ? std::string("no changes")
                           : fmt::format("{} type{} ({}): {} added, {} updated, {} deleted", s.tables.size(),
                                         s.tables.size() == 1 ? "" : "s", fmt::join(types, ", "), s.inserted, s.updated,
                                         s.deleted);
    std::fprintf(stderr, "%s\n",
                 fmt::format("synced {}; {} in {}; {}{}", what, FormatBytes(s.exported.bytes), FormatDuration(s.seconds),
                             s.full_refresh ? "full refresh" : s.since.empty() ? "first sync" : "changes since " + s.since,
                             s.bad_lines ? fmt::format("; {} bad lines (see _errors/)", s.bad_lines) : "")
                     .c_str());
  }
  // Maintenance does not fail the sync (the next run or `fhirlake maintain` retries), but its
  // failures are always shown; what it did, unless quiet.
  for (const auto& m : s.maintenance) {
    if (!m.status.ok() || (!a.quiet && !a.json)) {
      std::fprintf(stderr, "%s%s\n", m.status.ok() ? "  " : "fhirlake sync: warning: ", sync::DescribeMaintenance(m).c_str());
    }
  }
  if (!a.views.empty()) return RefreshViews(a.warehouse, a.views, a.quiet || a.json) == kExitOk ? kExitOk : kExitLoad;
  return kExitOk;
}

void AddSyncOptions(CLI::App& cmd, SyncArgs& a) {
  cmd.add_option("--source", a.source, "FHIR base URL of the Bulk Data source");
  cmd.add_option("--warehouse", a.warehouse, "Warehouse directory or s3://bucket/prefix (Delta tables per resource type)");
  cmd.add_option("--work-dir", a.work_dir,
                 "s3:// warehouses: local directory for the export in flight (default $TMPDIR/fhirlake-work-<hash>)");
  cmd.add_option("--lease-ttl", a.lease_ttl,
                 "s3:// warehouses: the run's lease expires this long after its last renewal (default 2m)");
  cmd.add_option("--types", a.types, "Only these resource types (comma-separated)")->delimiter(',');
  cmd.add_option("--views", a.views, "After each sync, refresh these materialised views (ViewDefinition files or directories)")
      ->delimiter(',');
  cmd.add_option("--group", a.group, "Group-level export of this Group id");
  cmd.add_flag("--full-refresh", a.full_refresh, "Export everything and overwrite the tables");
  cmd.add_option("--since", a.since, "Export changes since this instant, once, instead of since the last sync");
  cmd.add_option("--archive", a.archive, "Where finished exports are kept: a directory or s3://bucket/prefix (default WAREHOUSE/_exports)");
  cmd.add_option("--keep", a.keep, "Archived exports to keep (default 0: all)");
  cmd.add_flag("--deletion-vectors", a.deletion_vectors, "Merge with Delta deletion vectors (see fhirlake load)");
  cmd.add_option("--jobs", a.jobs, "Threads loading resource types, and compacting them after");
  cmd.add_option("--max-depth", a.max_depth, "Nesting depth of typed columns (default 3)");
  cmd.add_option("--row-group-mb", a.row_group_mb, "Parquet row group size in MB of buffered data (default 64)");
  cmd.add_option("--parallel", a.parallel, "Parallel downloads (default 4)");
  cmd.add_option("--timeout", a.timeout, "Give up waiting for the source after this long (default 24h)");
  cmd.add_option("--poll-interval", a.poll_interval, "First status poll interval without Retry-After (default 1s)");
  cmd.add_option("--retries", a.retries, "Attempts per request before giving up (default 6)");
  cmd.add_option("--ca-file", a.ca_file, "Extra CA certificates (PEM) for TLS");
  cmd.add_flag("--insecure", a.insecure, "Do not verify TLS certificates");
  AddClientAuthOptions(cmd, a.auth);
  AddMaintenanceOptions(cmd, a.maintenance, MaintenanceUse::kAfterLoads);
  cmd.add_option("--every", a.every, "Keep running and sync every DURATION (e.g. 1h)");
  cmd.add_option("--cron", a.cron, "Keep running and sync on this cron schedule (UTC), e.g. \"15 * * * *\"");
  cmd.add_option("--full-refresh-cron", a.full_refresh_cron, "While scheduled, make runs at this cron schedule full refreshes");
  cmd.add_option("--listen", a.listen, "While scheduled, serve /health and /metrics on HOST:PORT");
  cmd.add_option("--max-lag", a.max_lag, "/health answers 503 when the last success is older than this (default 25h)");
  cmd.add_option("--config", a.config, "JSON config file (keys in lower camel case: source, warehouse, clientId, ...)");
  AddEnvironmentNames(cmd);
}

}  // namespace

void RegisterSync(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SyncArgs>();
  CLI::App* cmd = app.add_subcommand("sync", "Export changes since the last sync and merge them into the warehouse");
  AddSyncOptions(*cmd, *args);
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors");
  cmd->add_flag("--json", args->json, "Print a JSON summary on stdout");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });

  auto config_args = std::make_shared<SyncArgs>();
  CLI::App* config = app.add_subcommand("config", "Show the effective sync configuration (secrets masked)");
  AddSyncOptions(*config, *config_args);
  config->add_flag("--show", config_args->show, "Print the configuration as JSON");
  config->callback([config, config_args, &exit_code] {  // config_args owns the options' storage
    std::printf("%s\n", EffectiveConfigJson(*config).c_str());
    exit_code = kExitOk;
  });
}

}  // namespace fhirlake::cli
