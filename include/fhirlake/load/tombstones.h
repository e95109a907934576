// Tombstones: which resources merges deleted, and when, kept where `$export` with `_since`
// finds them (the `deleted/` output) and any engine can query them. One small Delta table per
// warehouse, WAREHOUSE/_fhirlake/tombstones/, with a row per deleted resource:
//   type STRING (the resource type), id STRING, deletedAt TIMESTAMP (the export's transactionTime, else the
//   time of the load), tableVersion BIGINT (the data table's commit that deleted it),
//   transactionTime STRING (the exact text), _json STRING (the row as JSON, so compaction can
//   rewrite it like any fhirlake table).
// A data commit's commitInfo carries only `numTargetRowsDeleted` and a `tombstones` reference
// ({count, file, size, stats}), never the ids: a commit line stays small however many rows a
// merge deletes.
//
// Crash safety (write-ahead, recovered on the next run): a merge writes its tombstone file into
// the tombstone table's folder (its prefix, on S3) *before* its data commit, uncommitted, and the data commit names
// it. After the data commit the file is appended to the tombstone table, with a Delta `txn`
// (appId "<Type>:<data table id>", version = the data version), so it is appended once. A crash
// between the two leaves the file on disk and named by the data log: the next load of that type
// (CommitPendingTombstones) appends it, and readers (ForEachTombstone) already count it. A lost
// commit race removes the attempt's file with the attempt. Vacuum of the tombstone table
// deletes files no commit added only after the retention (7 days), so recovery must happen
// within that window.
//
// Tables written before this layout recorded the ids in `commitInfo.deletedIds`; readers read
// both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/compaction.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// Every function below takes the warehouse as its store (a local directory or an S3 prefix:
// the same code runs for both), or as a location (a path, or s3://bucket/prefix) that is
// opened with store::OpenStore.

// WAREHOUSE/_fhirlake/tombstones: the tombstone table's root (a path, or an s3:// location).
std::filesystem::path TombstoneTableRoot(const std::filesystem::path& warehouse);
// The tombstone table in the warehouse's store.
delta::Table TombstoneTable(std::shared_ptr<store::ObjectStore> warehouse);

// One merge's deletions, before its data commit.
struct TombstoneBatch {
  std::string resource_type;
  int64_t table_version = 0;        // the data version the merge is about to commit
  std::string transaction_time;     // the export's transactionTime; may be empty
  std::vector<std::string> ids;
};

// A tombstone file written and not yet in the tombstone table's log.
struct PendingTombstones {
  std::string file;       // relative to TombstoneTableRoot
  int64_t size = 0;
  int64_t count = 0;
  std::string stats_json; // the add action's stats
  // The `tombstones` member of the data commit's commitInfo (a JSON object).
  std::string CommitInfoJson() const;
};

// Writes `batch` as a data file of the tombstone table (not committed). REQUIRES: ids not empty.
// The caller removes the file when its data commit does not happen (RemovePendingTombstones).
Result<PendingTombstones> WriteTombstoneFile(const std::shared_ptr<store::ObjectStore>& warehouse,
                                             const TombstoneBatch& batch);
// Best effort: a file left behind is one no commit names (vacuum deletes it after the retention).
void RemovePendingTombstones(store::ObjectStore& warehouse, const PendingTombstones& pending);

// Appends to the tombstone table every tombstone file that commits of WAREHOUSE/<type> name
// and that the tombstone table does not hold yet (after a crash between a data commit and its
// append, this is the recovery). Retries when other types append at the same moment. A table
// without a log, or with nothing pending, changes nothing.
Status CommitPendingTombstones(const std::shared_ptr<store::ObjectStore>& warehouse, const std::string& type);

struct Tombstone {
  std::string id;
  std::string when;      // the instant to report (transactionTime text, else deletedAt)
  int64_t deleted_at = 0;  // micros since the epoch
  int64_t table_version = 0;
};

// Calls `fn` with every tombstone of `type`: the tombstone table's rows, tombstone files that
// data commits name and that are not appended yet, and older commits' `deletedIds`; in data
// table version order; with `since`, only those with deleted_at >= since (micros).
Status ForEachTombstone(const std::shared_ptr<store::ObjectStore>& warehouse, const std::string& type,
                        std::optional<int64_t> since, const std::function<Status(const Tombstone&)>& fn);
Status ForEachTombstone(const std::filesystem::path& warehouse, const std::string& type,
                        std::optional<int64_t> since, const std::function<Status(const Tombstone&)>& fn);

// Compacts the tombstone table (small files into one; see load::Compact).
Result<CompactionResult> CompactTombstones(const std::shared_ptr<store::ObjectStore>& warehouse,
                                           CompactionPolicy policy);
Result<CompactionResult> CompactTombstones(const std::filesystem::path& warehouse, CompactionPolicy policy);

}  // namespace fhirlake::load
