// Delta checkpoints (PROTOCOL.md, "Checkpoints", "Checkpoint Format", "Last Checkpoint File"):
// the complete state of a table at one version as a Parquet file, one action per row in
// optional struct columns `txn`, `add`, `remove`, `metaData`, `protocol` (maps for
// partitionValues and configuration, lists for features), so that readers need not replay every
// JSON commit. fhirlake reads classic checkpoints, single-file and multi-part, as Spark writes
// them, and writes classic single-file ones of the same shape, then `_last_checkpoint`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/table.h"
#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::delta {

// The content of `_delta_log/_last_checkpoint`.
struct LastCheckpoint {
  int64_t version = -1;
  int64_t size = 0;                 // actions in the checkpoint
  std::optional<int> parts;         // multi-part checkpoints
  std::optional<int64_t> num_of_add_files;
};

// The `_last_checkpoint` hint of the table, or nothing when it is absent or unreadable (a
// reader then lists the log, as the protocol allows).
std::optional<LastCheckpoint> ReadLastCheckpoint(const std::filesystem::path& table_root);
std::optional<LastCheckpoint> ReadLastCheckpoint(store::ObjectStore& store, std::string_view table_key);

// Calls `action` with each action of the checkpoint file `file`, as the JSON object a commit
// line would hold ({"add": {...}}, {"metaData": {...}}, ...); add/remove paths stay as stored
// (URI-encoded). Of the *_parsed columns only add.stats_parsed.numRecords is read. Stops at
// the first error `action` returns.
Status ReadCheckpointActions(const std::filesystem::path& file,
                             const std::function<Status(const nlohmann::json&)>& action);
// The same, reading the checkpoint from `source` (e.g. delta::OpenObjectSource).
Status ReadCheckpointActions(std::unique_ptr<parquet::InputSource> source,
                             const std::function<Status(const nlohmann::json&)>& action);

// Writes the checkpoint of `snapshot` (at snapshot.version) as
// `_delta_log/<version>.checkpoint.parquet` (written under a temporary name, then renamed, so a
// reader never sees half a checkpoint) and then `_delta_log/_last_checkpoint`. Tombstones older
// than delta.deletedFileRetentionDuration before `now_ms` are left out.
// REQUIRES: snapshot.version >= 0 and `snapshot` is the complete state at that version.
Status WriteCheckpoint(const std::filesystem::path& table_root, const Snapshot& snapshot, int64_t now_ms);
// The same for the table under `table_key` in `store`; the checkpoint object appears whole
// (the store's writer publishes it on close).
Status WriteCheckpoint(store::ObjectStore& store, std::string_view table_key, const Snapshot& snapshot, int64_t now_ms);

// delta.deletedFileRetentionDuration (default 1 week) and delta.logRetentionDuration (default
// 30 days) of the table, in ms; Delta's interval syntax ("interval 7 days").
int64_t TombstoneRetentionMillis(const Snapshot& snapshot);
int64_t LogRetentionMillis(const Snapshot& snapshot);

// A file path as add/remove actions carry it: a URI path (RFC 2396), percent-encoding what
// may not appear in one.
std::string EncodeActionPath(const std::string& path);
// The inverse: `%XX` sequences decoded.
std::string DecodeActionPath(const std::string& path);

// An add or remove action's `deletionVector` object.
nlohmann::json DeletionVectorJson(const DeletionVector& dv);
// Sets `partitionValues` (a null partition value stays null) and, when the file has any,
// `tags` of the add or remove action `action` for `file`.
void PutPartitionValuesAndTags(const AddFile& file, nlohmann::json& action);

}  // namespace fhirlake::delta
