#include "src/cli/maintenance_options.h"

#include "src/cli/config_file.h"
#include "src/cli/duration.h"

namespace fhirlake::cli {

void AddMaintenanceOptions(CLI::App& cmd, MaintenanceArgs& a, MaintenanceUse use) {
  if (use == MaintenanceUse::kCommand) a.checkpoint_interval = 1;
  std::vector<CLI::Option*> added;
  if (use == MaintenanceUse::kAfterLoads) {
    added.push_back(cmd.add_flag("--no-maintenance", a.no_maintenance,
                                 "Do not compact, checkpoint, vacuum or clean the log of the tables after loads"));
  }
  added.push_back(cmd.add_option(
      "--checkpoint-interval", a.checkpoint_interval,
      use == MaintenanceUse::kCommand
          ? "Checkpoint a table whose newest checkpoint is this many commits old (default 1; 0: none)"
          : "After loads, checkpoint a table whose newest checkpoint is this many commits old (default 10; 0: none)"));
  added.push_back(cmd.add_option("--retention", a.retention,
                                 "Vacuum: keep files that versions younger than this need (default 7d; below the "
                                 "table's delta.deletedFileRetentionDuration only with --allow-short-retention)"));
  added.push_back(cmd.add_flag("--allow-short-retention", a.allow_short_retention,
                               "Allow a --retention below the table's delta.deletedFileRetentionDuration"));
  added.push_back(cmd.add_option("--log-retention", a.log_retention,
                                 "Delete commits and checkpoints older than this (default: the table's "
                                 "delta.logRetentionDuration, 30d)"));
  added.push_back(cmd.add_flag("--no-compact", a.no_compact, "Do not rewrite small files and files with many deleted rows"));
  added.push_back(cmd.add_option("--small-file-mb", a.small_file_mb,
                                 "Compaction: rewrite data files below this many MB when there are two or more (default 32)"));
  added.push_back(cmd.add_option("--deleted-fraction", a.deleted_fraction,
                                 "Compaction: rewrite data files with more deleted rows than this fraction (default 0.1)"));
  added.push_back(cmd.add_option("--target-file-mb", a.target_file_mb,
                                 "Data files (of loads and compaction) end after about this many MB (default 256)"));
  // Their variables now, so that commands without AddEnvironmentNames (serve) have them too.
  for (CLI::Option* opt : added) opt->envname(EnvironmentName(opt->get_lnames()[0]));
}

Result<sync::MaintenancePolicy> MakeMaintenancePolicy(const MaintenanceArgs& a) {
  sync::MaintenancePolicy p = sync::DefaultMaintenancePolicy();
  p.enabled = !a.no_maintenance;
  if (a.checkpoint_interval < 0) return InvalidArgument("checkpointInterval: must be 0 (none) or more");
  p.table.checkpoint = a.checkpoint_interval > 0;
  p.table.checkpoint_interval = a.checkpoint_interval;
  auto retention = ParseDuration(a.retention);
  if (!retention) return InvalidArgument("retention: '" + a.retention + "' is not a duration like 7d, 168h");
  p.table.retention_ms = retention->count();
  p.table.allow_short_retention = a.allow_short_retention;
  if (!a.log_retention.empty()) {
    auto log = ParseDuration(a.log_retention);
    if (!log || log->count() <= 0) {
      return InvalidArgument("logRetention: '" + a.log_retention + "' is not a duration like 30d");
    }
    p.table.log_retention_ms = log->count();
  }
  p.compact = !a.no_compact;
  if (!(a.deleted_fraction >= 0 && a.deleted_fraction <= 1)) {
    return InvalidArgument("deletedFraction: must be between 0 and 1");
  }
  p.compaction.small_file_bytes = a.small_file_mb << 20;
  p.compaction.deleted_fraction = a.deleted_fraction;
  if (a.target_file_mb > 0) p.compaction.target_file_bytes = a.target_file_mb << 20;  // 0 is for loads only
  return p;
}

}  // namespace fhirlake::cli
