// store::WarehouseLayout: the one owner of the names inside a warehouse (in the spirit of
// LevelDB's db/filename.h). A warehouse is a local directory or an `s3://bucket/prefix`; below
// its root, every module names things through this type and nobody else spells them:
//
//   <Type>/                     a resource type's Delta table
//   <Type>/_delta_log/          its log (commits, checkpoints, _last_checkpoint)
//   _errors/                    the lines loads refused, one NDJSON file per table write
//   _views/<name>/              materialised SQL on FHIR views (Delta tables)
//   _fhirlake/state.json        the sync state (sync::StateFile)
//   _fhirlake/inflight/<key>/   a sync's export in flight (local warehouses)
//   _fhirlake/imports/          the server's import job records
//   _fhirlake/locks/            leases for "one run at a time" on object stores
//   _fhirlake/tombstones/       the merges' deletions, a Delta table (load/tombstones.h)
//   _exports/<transactionTime>/ archived exports
//
// Keys are '/'-separated and relative to the root (what store::ObjectStore takes); Path() and
// Locate() turn them into a local path or a full location for messages and other tools.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"
#include "fhirlake/store/object_store.h"

namespace fhirlake::store {

class WarehouseLayout {
 public:
  static constexpr char kDeltaLog[] = "_delta_log";
  static constexpr char kErrors[] = "_errors";
  static constexpr char kViews[] = "_views";
  static constexpr char kFhirlake[] = "_fhirlake";
  static constexpr char kState[] = "_fhirlake/state.json";
  static constexpr char kInflight[] = "_fhirlake/inflight";
  static constexpr char kImports[] = "_fhirlake/imports";
  static constexpr char kLocks[] = "_fhirlake/locks";
  static constexpr char kTombstones[] = "_fhirlake/tombstones";
  static constexpr char kArchive[] = "_exports";

  // `location`: a directory path, or s3://bucket[/prefix] (a trailing '/' is dropped).
  explicit WarehouseLayout(std::string location);

  const std::string& location() const { return location_; }
  bool is_s3() const { return s3_; }

  // The key of the table of `type` (a resource type, or a view's "_views/<name>").
  static std::string Table(std::string_view type) { return std::string(type); }
  static std::string View(std::string_view name) { return Join(kViews, name); }
  // `<table>/_delta_log`.
  static std::string DeltaLog(std::string_view table_key) { return Join(table_key, kDeltaLog); }
  static std::string ErrorFile(std::string_view name) { return Join(kErrors, name); }
  // The lease (or, locally, the lock file stem) that keeps one sync of `key_hash` at a time.
  static std::string SyncLock(std::string_view key_hash) { return Join(kLocks, "sync-" + std::string(key_hash)); }
  // The lease that keeps one writer of the sync state at a time on an object store.
  static std::string StateLock() { return Join(kLocks, "state"); }
  // Whether a top-level name is fhirlake's own (not a resource type's table).
  static bool IsReserved(std::string_view name) { return !name.empty() && name[0] == '_'; }

  // `a/b` with exactly one '/' between (either may be empty).
  static std::string Join(std::string_view a, std::string_view b);

  // The local path of `key`. REQUIRES: !is_s3().
  std::filesystem::path Path(std::string_view key) const;
  // The full location of `key`: a path, or s3://bucket/prefix/key.
  std::string Locate(std::string_view key) const;

 private:
  std::string location_;
  bool s3_ = false;
};

// The resource-type tables of the warehouse: its top-level names that are not fhirlake's own
// (`_...`) and hold a Delta log, sorted: one shallow listing of the warehouse and one short
// listing per candidate, on a directory and on S3 alike.
[[nodiscard]] Result<std::vector<std::string>> ListWarehouseTables(ObjectStore& warehouse);

}  // namespace fhirlake::store
