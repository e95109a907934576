// fhirlake maintain WAREHOUSE [--dry-run] [--types Patient,Observation] [--purge-deletion-vectors]
//   [maintenance options: --retention 7d, --no-compact, ... (maintenance_options.h)]: per table,
// sync::MaintainTable: compaction of small files and files with many deleted rows, a checkpoint
// of the current version, vacuum of data files no retained version needs, and cleanup of
// expired log files; the warehouse's tombstone table (load/tombstones.h) gets the same. For
// cron; sync and serve run the same after their loads, on the same options.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/log_files.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/sync/maintenance.h"
#include "src/cli/commands.h"
#include "src/cli/config_file.h"
#include "src/cli/maintenance_options.h"
#include "src/cli/progress_display.h"

namespace fhirlake::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct MaintainArgs {
  std::string warehouse;
  bool dry_run = false;
  std::vector<std::string> types;
  bool json = false;
  bool purge_deletion_vectors = false;
  int max_depth = 3;
  int jobs = load::DefaultJobs();
  std::string config;
  MaintenanceArgs maintenance;
};

int Run(const MaintainArgs& a) {
  std::error_code ec;
  const store::WarehouseLayout layout(a.warehouse);
  if (!layout.is_s3() && !fs::is_directory(a.warehouse, ec)) {
    std::fprintf(stderr, "fhirlake maintain: %s is not a directory\n", a.warehouse.c_str());
    return kExitUsage;
  }
  auto opened = store::OpenStore(layout.location());
  if (!opened.ok()) {
    std::fprintf(stderr, "fhirlake maintain: %s\n", opened.status().message().c_str());
    return kExitUsage;
  }
  const std::shared_ptr<store::ObjectStore> warehouse = std::move(opened.value());
  auto made = MakeMaintenancePolicy(a.maintenance);
  if (!made.ok()) {
    std::fprintf(stderr, "fhirlake maintain: %s\n", made.status().message().c_str());
    return kExitUsage;
  }
  sync::MaintenancePolicy policy = made.value();
  policy.table.dry_run = a.dry_run;
  policy.compaction.purge_deletion_vectors = a.purge_deletion_vectors;
  policy.compaction.schema.max_depth = a.max_depth;
  policy.compaction.jobs = std::max(1, a.jobs);
  auto listed = store::ListWarehouseTables(*warehouse);
  if (!listed.ok()) {
    std::fprintf(stderr, "fhirlake maintain: %s\n", listed.status().message().c_str());
    return kExitFailed;
  }
  std::vector<std::string> tables;
  for (const std::string& name : *listed) {
    if (a.types.empty() || std::find(a.types.begin(), a.types.end(), name) != a.types.end()) tables.push_back(name);
  }
  // A cron line with a mistyped path or type would otherwise do nothing, quietly, forever.
  if (a.types.empty() && tables.empty()) {
    std::fprintf(stderr,
                 "fhirlake maintain: no Delta tables in %s (a table is a folder with a _delta_log); give the "
                 "warehouse that sync writes\n",
                 a.warehouse.c_str());
    return kExitUsage;
  }
  if (a.types.empty()) {  // the merges' deletions
    auto log = delta::ListLogFiles(*warehouse, store::WarehouseLayout::kTombstones);
    if (!log.ok() || !log->empty()) tables.push_back(store::WarehouseLayout::kTombstones);
  }
  json out = json::array();
  int failures = 0;
  for (const std::string& type : a.types) {
    if (std::find(tables.begin(), tables.end(), type) != tables.end()) continue;
    const std::string message = "no such table in " + a.warehouse;
    std::fprintf(stderr, "fhirlake maintain: %s: %s\n", type.c_str(), message.c_str());
    out.push_back({{"table", type}, {"error", message}});
    ++failures;
  }
  for (const std::string& name : tables) {
    const sync::TableMaintenance m = sync::MaintainTable(warehouse, name, policy);
    if (!m.status.ok()) {
      std::fprintf(stderr, "fhirlake maintain: %s: %s\n", name.c_str(), m.status.message().c_str());
      out.push_back({{"table", name}, {"error", m.status.message()}});
      ++failures;
      // A retention below the floor is the caller's mistake, the same for every table.
      if (m.status.code() == StatusCode::kInvalidArgument && !policy.table.allow_short_retention &&
          m.status.message().find("--allow-short-retention") != std::string::npos) {
        return kExitUsage;
      }
      continue;
    }
    const delta::MaintenanceReport& report = m.report;
    json compacted = nullptr;
    if (m.compaction.version >= 0) {
      compacted = {{"version", m.compaction.version}, {"filesRemoved", m.compaction.files_removed},
                   {"filesAdded", m.compaction.files_added}, {"rows", m.compaction.rows}};
      if (!a.json) {
        std::printf("%s: compacted %d files into %d (%lld rows), version %lld\n", name.c_str(),
                    m.compaction.files_removed, m.compaction.files_added, static_cast<long long>(m.compaction.rows),
                    static_cast<long long>(m.compaction.version));
      }
    }
    out.push_back({{"table", name}, {"version", report.version}, {"checkpoint", report.checkpoint_written},
                   {"deletedFiles", report.deleted_files}, {"deletedBytes", report.deleted_bytes},
                   {"deletedLogFiles", report.deleted_log_files}, {"dryRun", a.dry_run}, {"compacted", compacted}});
    if (a.json) continue;
    const char* verb = a.dry_run ? "would delete" : "deleted";
    for (const auto& f : report.deleted_files) std::printf("%s: %s %s\n", name.c_str(), verb, f.c_str());
    for (const auto& f : report.deleted_log_files) std::printf("%s: %s _delta_log/%s\n", name.c_str(), verb, f.c_str());
    std::printf("%s: version %lld, %s%zu data files (%s) and %zu log files %s\n", name.c_str(),
                static_cast<long long>(report.version),
                report.checkpoint_written ? (a.dry_run ? "would checkpoint, " : "checkpointed, ") : "",
                report.deleted_files.size(), FormatBytes(static_cast<uint64_t>(report.deleted_bytes)).c_str(),
                report.deleted_log_files.size(), verb);
  }
  if (a.json) std::printf("%s\n", out.dump(2).c_str());
  return failures ? kExitFailed : kExitOk;
}

}  // namespace

void RegisterMaintain(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<MaintainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "maintain", "Compact, checkpoint, vacuum and clean the logs of the warehouse's Delta tables");
  cmd->add_option("WAREHOUSE", args->warehouse, "Warehouse directory or s3://bucket/prefix")->required();
  cmd->add_flag("--dry-run", args->dry_run, "List what would be deleted; change nothing");
  cmd->add_option("--types", args->types, "Only these tables (comma list)")->delimiter(',');
  cmd->add_flag("--purge-deletion-vectors", args->purge_deletion_vectors,
                "Rewrite every file that has a deletion vector (the way back from --deletion-vectors)");
  cmd->add_option("--max-depth", args->max_depth, "The tables' --max-depth, as loaded (default 3)");
  cmd->add_option("--jobs", args->jobs, "Threads a compaction copies and encodes columns on (default: the cores, at most 4)")
      ->envname(EnvironmentName("jobs"));
  AddMaintenanceOptions(*cmd, args->maintenance, MaintenanceUse::kCommand);
  cmd->add_option("--config", args->config, "JSON config file of these options (keys in lower camel case)");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
