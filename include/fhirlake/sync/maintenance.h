// sync::MaintainTable: the maintenance that follows a load, and what `fhirlake maintain` runs.
// One policy for the three callers (sync after its loads, serve after its import loads, the
// maintain command): compaction of small files and files with many deleted rows
// (load::Compact), then a checkpoint when the newest one is `checkpoint_interval` commits old,
// vacuum and log cleanup (delta::Maintain). The outcome says what was done, or why not, per
// table, so that callers report it to the operator instead of dropping it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "fhirlake/delta/maintenance.h"
#include "fhirlake/load/compaction.h"
#include "fhirlake/status.h"
#include "fhirlake/store/object_store.h"

namespace fhirlake::sync {

struct MaintenancePolicy {
  bool enabled = true;                // off: loads are not followed by maintenance
  bool compact = true;
  load::CompactionPolicy compaction;  // thresholds and target size; its schema must be the loads'
  delta::MaintenancePolicy table;     // checkpoint interval, vacuum and log retention
};

// load::LoadOptions::small_file_bytes for loads that `policy` follows: when it compacts, its
// small-file size (the files a load's threads end with are joined before the commit instead of
// merged by the compaction right after it); else 0.
uint64_t LoadSmallFileBytes(const MaintenancePolicy& policy);

// The default policy after loads: compaction, a checkpoint every 10 commits (Delta's default
// interval), vacuum after 7 days, log cleanup after the table's log retention (30 days).
MaintenancePolicy DefaultMaintenancePolicy();

struct TableMaintenance {
  std::string type;
  Status status;                      // the first step that failed; the steps after it did not run
  load::CompactionResult compaction;  // version -1: nothing compacted
  delta::MaintenanceReport report;
};

// Maintains WAREHOUSE/<type> in the warehouse's store (a local directory or an S3 prefix);
// `type` store::WarehouseLayout::kTombstones is the warehouse's tombstone table
// (load/tombstones.h). A table without a log is left alone (ok, nothing done).
// REQUIRES: policy.enabled (callers skip maintenance when it is off).
TableMaintenance MaintainTable(const std::shared_ptr<store::ObjectStore>& warehouse, const std::string& type,
                               const MaintenancePolicy& policy);
// The same for the warehouse at `warehouse` (a path, or s3://bucket/prefix; store::OpenStore).
TableMaintenance MaintainTable(const std::filesystem::path& warehouse, const std::string& type,
                               const MaintenancePolicy& policy);

// One line for an operator: "Patient: compacted 3 files into 1, checkpoint at version 20,
// 4 files (1.2 MB) and 2 log files deleted", or "Patient: maintenance failed: ...".
std::string DescribeMaintenance(const TableMaintenance& outcome);

// The outcome as a JSON object text: table, error or compaction/checkpoint/deleted counts and
// bytes freed.
std::string MaintenanceJson(const TableMaintenance& outcome);

}  // namespace fhirlake::sync
