// The names of the files in a Delta table's `_delta_log` (PROTOCOL.md, "Delta Log Entries",
// "Checkpoints", "Last Checkpoint File"): JSON commits `<v:020>.json`, classic single-file
// checkpoints `<v:020>.checkpoint.parquet`, multi-part checkpoints
// `<v:020>.checkpoint.<part:010>.<parts:010>.parquet`, version checksums `<v:020>.crc`, log
// compaction files `<x:020>.<y:020>.compacted.json`, and `_last_checkpoint`. This is the one
// place that spells or parses them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::delta {

// Readers replay commits and checkpoints; checksums and compaction files are optional extras
// that only log cleanup looks at.
enum class LogFileKind { kCommit, kCheckpoint, kCheckpointPart, kChecksum, kCompacted };

struct LogFile {
  LogFileKind kind = LogFileKind::kCommit;
  int64_t version = 0;  // a compaction file's last version
  int part = 1, parts = 1;  // a multi-part checkpoint's part number (1-based) and part count
  std::filesystem::path path;  // the local path (ListLogFiles of a directory), else the key
  std::string key;             // the object key in the table's store
  int64_t modified_ms = 0;     // when it was written (store::ObjectInfo::modified_ms)
};

inline constexpr char kLastCheckpointName[] = "_last_checkpoint";

std::string CommitFileName(int64_t version);
std::string CheckpointFileName(int64_t version);
std::string CheckpointPartFileName(int64_t version, int part, int parts);

// What `name` is, or nothing for files that are none of the above (CRCs, temporary files,
// V2 checkpoints, compacted log files).
std::optional<LogFile> ParseLogFileName(std::string_view name);

// Every commit and checkpoint file in `<table>/_delta_log`, ordered by version, then commits
// before checkpoints, then by part. A missing log directory gives an empty list.
Result<std::vector<LogFile>> ListLogFiles(const std::filesystem::path& table_root);

// The same for the table under `table_key` in `store` (`<table_key>/_delta_log/`, following
// the listing's pages); LogFile::key and ::path are the object keys. With `from_version` > 0,
// only the files of that version and later are listed (compaction files that start before it
// are left out): what a reader that starts at a checkpoint needs.
Result<std::vector<LogFile>> ListLogFiles(store::ObjectStore& store, std::string_view table_key,
                                          int64_t from_version = 0);

}  // namespace fhirlake::delta
