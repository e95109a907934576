// sync::RunSync: one synchronisation of a warehouse with a Bulk Data source.
//
//   state (last transactionTime) → export (_since) into WAREHOUSE/_fhirlake/inflight/<key>/
//   → load (merge; overwrite for a full refresh) with a Delta txn per table
//   → archive the export under WAREHOUSE/_exports/<transactionTime>/ → state
//
// The warehouse may be s3://bucket/prefix: the state, the tables and the archive are then
// objects written through store::ObjectStore (commits with put-if-absent); the export in flight
// stays in a local work directory (SyncOptions::work_dir) so that a killed run resumes it; and
// "one run at a time" is a store::Lease instead of flock().
//
// Crash safety: every step can be killed and the same call repeated. The in-flight export
// directory resumes the export (its export-state.json keeps the status URL); a table whose log
// already holds this export's txn is not loaded twice; the state advances last, only after
// every table commit of the run succeeded. Loads are merges keyed by id and meta.lastUpdated,
// so even a repeated export of the same changes gives the same tables.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/bulk/export_client.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/status.h"
#include "fhirlake/sync/maintenance.h"

namespace fhirlake::sync {

struct SyncOptions {
  std::string source;                   // FHIR base URL
  std::filesystem::path warehouse;
  std::vector<std::string> types;       // empty: every type the source exports
  std::string group;                    // group-level export of this Group id
  bool full_refresh = false;            // export everything and overwrite the tables
  std::optional<std::string> since;     // _since for this run instead of the state's
  std::filesystem::path archive;        // where finished exports go: a directory or s3:// (default WAREHOUSE/_exports)
  // s3:// warehouses: the local directory that holds the export in flight (default
  // $TMPDIR/fhirlake-work-<hash of the warehouse>). Keep it across runs to resume exports.
  std::filesystem::path work_dir;
  // s3:// warehouses: how long the run's lease lasts without renewal (renewed every third of it
  // while the run goes on). A killed run keeps others out until it expires.
  std::chrono::milliseconds lease_ttl{std::chrono::minutes(2)};
  int keep = 0;                         // archived exports to keep (0: all)
  bulk::ExportOptions export_options;   // HTTP client, auth, parallelism, timeouts (the rest is set here)
  load::LoadOptions load_options;       // jobs, deletion vectors, schema depth (the rest is set here)
  // Run on each loaded table after the state has advanced (compaction uses the loads' schema).
  MaintenancePolicy maintenance = DefaultMaintenancePolicy();
  // Set (by a signal handler) to stop soon: during the export (its wait and downloads stop;
  // finished and partial files stay) or between export and load, never inside the load. The
  // run then fails with kCancelled and the export in flight resumes next time.
  const std::atomic<bool>* stop = nullptr;
  std::function<void(std::string_view phase)> on_phase;  // "export", "load", "archive"
};

// What failed, for exit codes: bad options, the source (auth, export), or the warehouse.
enum class FailureKind { kNone, kConfig, kSource, kLoad };

struct SyncSummary {
  std::string key;
  std::string transaction_time;
  std::string since;                    // "" for a full export
  bool full_refresh = false;
  bool resumed = false;                 // an interrupted export was picked up
  std::filesystem::path archived_to;    // a directory, or an s3:// prefix
  bulk::ExportSummary exported;
  std::vector<load::TableResult> tables;
  uint64_t inserted = 0, updated = 0, deleted = 0, rows = 0, bad_lines = 0;
  double seconds = 0;
  // What maintenance did to each loaded table, or why it failed (the sync itself succeeded).
  std::vector<TableMaintenance> maintenance;
};

// Runs one sync. On failure, `*kind` says which part failed and the entry's lastError is
// recorded in the state (the last successful transactionTime is kept).
// `observer` (may be null) sees the export's progress.
Result<SyncSummary> RunSync(const SyncOptions& options, bulk::ExportObserver* observer, FailureKind* kind);

// Each archived export holds an empty file of this name for the sync key that made it (`owner`
// is the key's hash), so that --keep counts a sync's own archives among others' in a shared
// archive.
std::string ArchiveOwnerFile(const std::string& owner);

// The directories under `archive` that hold archived exports, oldest first; with `owner`, only
// those of that sync (and archives that name no owner, made before archives did).
std::vector<std::filesystem::path> ArchivedExports(const std::filesystem::path& archive, const std::string& owner = "");

}  // namespace fhirlake::sync
