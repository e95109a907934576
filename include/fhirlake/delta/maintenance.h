// Table maintenance: what keeps a table that is merged into every hour from growing without
// bound (PROTOCOL.md, "Checkpoints", "Metadata Cleanup"; Delta's VACUUM rules).
//
//   checkpoint  — a checkpoint of the current version when the newest one is older, so opening
//                 the table reads one Parquet file and the few commits after it.
//   vacuum      — data files and deletion-vector files that neither the current version nor any
//                 version younger than the retention window references are deleted (the window
//                 is measured on `remove.deletionTimestamp`; files no commit ever added are
//                 deleted once older than the window, so a load in flight keeps its files).
//   log cleanup — commits and checkpoints older than the log retention
//                 (delta.logRetentionDuration, default 30 days) and older than the newest
//                 expired checkpoint go: every version still kept can be rebuilt.
//
// Every deletion is of a file no retained version needs, one file at a time, so a crash or
// kill -9 at any point leaves a readable table and the next run finishes the work.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fhirlake/delta/table.h"
#include "fhirlake/status.h"

namespace fhirlake::delta {

inline constexpr int64_t kDefaultRetentionMillis = 7 * 24 * 3600 * 1000LL;

struct MaintenancePolicy {
  // Data files removed more than this long ago may be deleted. REQUIRES: not below the table's
  // delta.deletedFileRetentionDuration (default 7 days) unless allow_short_retention.
  int64_t retention_ms = kDefaultRetentionMillis;
  bool allow_short_retention = false;
  bool dry_run = false;       // list what would be deleted or written; change nothing
  bool checkpoint = true;     // write a checkpoint of the current version when it has none
  // With `checkpoint`: a checkpoint is written when the newest one is at least this many
  // commits behind the current version (1: whenever it is behind). Commits also checkpoint
  // themselves at multiples of the table's delta.checkpointInterval (Table::Write).
  int64_t checkpoint_interval = 1;
  // Commits and checkpoints older than this may go; 0: the table's delta.logRetentionDuration
  // (default 30 days).
  int64_t log_retention_ms = 0;
  bool vacuum = true;
  bool clean_log = true;
  int64_t now_ms = 0;         // 0: the clock; tests pass a time
};

struct MaintenanceReport {
  int64_t version = -1;
  bool checkpoint_written = false;
  std::vector<std::string> deleted_files;   // relative to the table root (dry run: would be)
  int64_t deleted_bytes = 0;
  std::vector<std::string> deleted_log_files;
};

// Runs the policy on `table` (a local directory or an object-store prefix: the table's objects
// are listed, aged by their store's modification time and deleted through its store). A table
// without a log is left alone.
Result<MaintenanceReport> Maintain(const Table& table, const MaintenancePolicy& policy);
// The same for the table in the local directory `table_root`.
Result<MaintenanceReport> Maintain(const std::filesystem::path& table_root, const MaintenancePolicy& policy);

// Bytes that the current version of a table needs (its data files and deletion-vector files)
// against everything under its folder (old files, the log, checkpoints).
struct TableUsage {
  int64_t live_bytes = 0;
  int64_t disk_bytes = 0;
  int64_t log_files = 0;
};
Result<TableUsage> MeasureUsage(const Table& table, const Snapshot& snapshot);
Result<TableUsage> MeasureUsage(const std::filesystem::path& table_root, const Snapshot& snapshot);

}  // namespace fhirlake::delta
