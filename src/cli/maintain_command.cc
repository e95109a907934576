// fhirlake maintain WAREHOUSE [--dry-run] [--retention 7d] [--allow-short-retention]
//   [--types Patient,Observation] [--no-compact] [--purge-deletion-vectors]: per table,
// compaction of small files and files with many deleted rows (load::Compact), a checkpoint of
// the current version, vacuum of data files no retained version needs, and cleanup of expired
// log files (delta::Maintain). The warehouse's tombstone table (load/tombstones.h) gets the same.
// For cron; sync and serve run the same after their loads.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/maintenance.h"
#include "fhirlake/load/compaction.h"
#include "fhirlake/load/tombstones.h"
#include "src/cli/commands.h"
#include "src/cli/duration.h"
#include "src/cli/progress_display.h"

namespace fhirlake::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct MaintainArgs {
  std::string warehouse;
  bool dry_run = false;
  std::string retention = "7d";
  bool allow_short_retention = false;
  std::vector<std::string> types;
  bool json = false;
  bool no_compact = false;
  bool purge_deletion_vectors = false;
  int max_depth = 3;
  uint64_t target_file_mb = 256;
};

int Run(const MaintainArgs& a) {
  std::error_code ec;
  if (!fs::is_directory(a.warehouse, ec)) {
    std::fprintf(stderr, "fhirlake maintain: %s is not a directory\n", a.warehouse.c_str());
    return kExitUsage;
  }
  auto retention = ParseDuration(a.retention);
  if (!retention) {
    std::fprintf(stderr, "fhirlake maintain: --retention %s is not a duration (e.g. 7d, 168h)\n", a.retention.c_str());
    return kExitUsage;
  }
  delta::MaintenancePolicy policy;
  policy.retention_ms = retention->count();
  policy.allow_short_retention = a.allow_short_retention;
  policy.dry_run = a.dry_run;
  std::vector<fs::path> tables;
  for (const auto& e : fs::directory_iterator(a.warehouse, ec)) {
    const std::string name = e.path().filename().string();
    if (!a.types.empty() && std::find(a.types.begin(), a.types.end(), name) == a.types.end()) continue;
    if (e.is_directory() && fs::is_directory(e.path() / "_delta_log")) tables.push_back(e.path());
  }
  std::sort(tables.begin(), tables.end());
  const fs::path tombstones = load::TombstoneTableRoot(a.warehouse);  // the merges' deletions
  if (a.types.empty() && fs::is_directory(tombstones / "_delta_log", ec)) tables.push_back(tombstones);
  int failures = 0;
  json out = json::array();
  for (const auto& root : tables) {
    const std::string name = root.filename().string();
    json compacted = nullptr;
    if (!a.no_compact && !a.dry_run) {
      load::CompactionPolicy cp;
      cp.purge_deletion_vectors = a.purge_deletion_vectors;
      cp.schema.max_depth = a.max_depth;
      cp.target_file_bytes = a.target_file_mb << 20;
      auto c = root == tombstones ? load::CompactTombstones(a.warehouse, cp) : load::Compact(root, name, cp);
      if (!c.ok()) {
        std::fprintf(stderr, "fhirlake maintain: %s: compaction: %s\n", name.c_str(), c.status().message().c_str());
        ++failures;
      } else if (c->version >= 0) {
        compacted = {{"version", c->version}, {"filesRemoved", c->files_removed}, {"filesAdded", c->files_added},
                     {"rows", c->rows}};
        if (!a.json) {
          std::printf("%s: compacted %d files into %d (%lld rows), version %lld\n", name.c_str(), c->files_removed,
                      c->files_added, static_cast<long long>(c->rows), static_cast<long long>(c->version));
        }
      }
    }
    auto report = delta::Maintain(root, policy);
    if (!report.ok()) {
      std::fprintf(stderr, "fhirlake maintain: %s: %s\n", name.c_str(), report.status().message().c_str());
      out.push_back({{"table", name}, {"error", report.status().message()}});
      ++failures;
      // A retention below the floor is the caller's mistake, the same for every table.
      if (report.status().code() == StatusCode::kInvalidArgument && !policy.allow_short_retention &&
          report.status().message().find("--allow-short-retention") != std::string::npos) {
        return kExitUsage;
      }
      continue;
    }
    out.push_back({{"table", name}, {"version", report->version}, {"checkpoint", report->checkpoint_written},
                   {"deletedFiles", report->deleted_files}, {"deletedBytes", report->deleted_bytes},
                   {"deletedLogFiles", report->deleted_log_files}, {"dryRun", a.dry_run}, {"compacted", compacted}});
    if (a.json) continue;
    const char* verb = a.dry_run ? "would delete" : "deleted";
    for (const auto& f : report->deleted_files) std::printf("%s: %s %s\n", name.c_str(), verb, f.c_str());
    for (const auto& f : report->deleted_log_files) std::printf("%s: %s _delta_log/%s\n", name.c_str(), verb, f.c_str());
    std::printf("%s: version %lld, %s%zu data files (%s) and %zu log files %s\n", name.c_str(),
                static_cast<long long>(report->version),
                report->checkpoint_written ? (a.dry_run ? "would checkpoint, " : "checkpointed, ") : "",
                report->deleted_files.size(), FormatBytes(static_cast<uint64_t>(report->deleted_bytes)).c_str(),
                report->deleted_log_files.size(), verb);
  }
  if (a.json) std::printf("%s\n", out.dump(2).c_str());
  return failures ? kExitFailed : kExitOk;
}

}  // namespace

void RegisterMaintain(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<MaintainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "maintain", "Compact, checkpoint, vacuum and clean the logs of the warehouse's Delta tables");
  cmd->add_option("WAREHOUSE", args->warehouse, "Warehouse directory")->required();
  cmd->add_flag("--dry-run", args->dry_run, "List what would be deleted; change nothing");
  cmd->add_option("--retention", args->retention,
                  "Keep files that versions younger than this need (default 7d; below the table's "
                  "delta.deletedFileRetentionDuration only with --allow-short-retention)");
  cmd->add_flag("--allow-short-retention", args->allow_short_retention,
                "Allow a retention below the table's delta.deletedFileRetentionDuration");
  cmd->add_option("--types", args->types, "Only these tables (comma list)")->delimiter(',');
  cmd->add_flag("--no-compact", args->no_compact, "Do not rewrite small files and files with many deleted rows");
  cmd->add_flag("--purge-deletion-vectors", args->purge_deletion_vectors,
                "Rewrite every file that has a deletion vector (the way back from --deletion-vectors)");
  cmd->add_option("--max-depth", args->max_depth, "The tables' --max-depth, as loaded (default 3)");
  cmd->add_option("--target-file-mb", args->target_file_mb, "Size of compacted files (default 256)");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
