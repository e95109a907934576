// The sync state of a warehouse: WAREHOUSE/_fhirlake/state.json, written atomically. One entry
// per source + group + type set (the key): the transactionTime of its last successful sync
// (the next run's _since), when that was, the last error, and the export in flight.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
  explicit StateFile(std::filesystem::path warehouse);
  const std::filesystem::path& path() const { return path_; }

  // Reads the file (a missing file is an empty state).
  Result<std::map<std::string, SyncEntry>> Read() const;
  // Replaces one entry (read-modify-write of the whole file, atomically renamed into place).
  Status Put(const std::string& key, const SyncEntry& entry) const;

 private:
  std::filesystem::path path_;
};

}  // namespace fhirlake::sync
