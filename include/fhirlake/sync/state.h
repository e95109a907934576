// The sync state of a warehouse: WAREHOUSE/_fhirlake/state.json (a local file or an S3 object),
// written whole and atomically through the warehouse's store. One entry
// per source + group + type set (the key): the transactionTime of its last successful sync
// (the next run's _since), when that was, the last error, and the export in flight.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::sync {

struct InFlight {
  std::string export_dir;    // the export directory being filled (resumable)
  std::string since;         // the _since it was started with ("" for none)
  bool full_refresh = false;
  std::string started_at;
  std::string status_url;    // once known
};

struct SyncEntry {
  std::string source, group;
  std::vector<std::string> types;      // sorted; empty = all
  std::string transaction_time;        // of the last successful sync
  std::string last_success;            // when it finished (instant)
  std::string last_error, last_error_at;
  std::optional<InFlight> in_flight;
};

// The state key of a source, group and type set.
std::string SyncKey(const std::string& source, const std::string& group, std::vector<std::string> types);

class StateFile {
 public:
  // The state of the warehouse at `warehouse` (a directory, or s3://bucket/prefix).
  explicit StateFile(const std::filesystem::path& warehouse);
  // The state in the warehouse whose store is `warehouse` (shared).
  explicit StateFile(std::shared_ptr<store::ObjectStore> warehouse);
  // The file's location, a path or an s3:// URL, for messages.
  const std::string& location() const { return location_; }

  // Reads the file (a missing file is an empty state).
  Result<std::map<std::string, SyncEntry>> Read() const;
  // Replaces one entry (read-modify-write of the whole file, atomically renamed into place).
  Status Put(const std::string& key, const SyncEntry& entry) const;

 private:
  Status Open() const;

  std::string warehouse_;
  std::string location_;
  mutable std::shared_ptr<store::ObjectStore> store_;  // opened on first use when built from a location
};

}  // namespace fhirlake::sync
