// delta::Table: a Delta Lake table in a store::ObjectStore (Delta PROTOCOL.md) — a local
// directory or an S3 prefix. Versions are the JSON commits in <table>/_delta_log; a commit is
// created with the store's put-if-absent (locally a hard link of a fully written temporary file;
// on S3 a PUT with If-None-Match: *), so of two writers racing for version N exactly one wins and
// the other learns it lost. Data files that no commit adds are never visible: a crash between
// writing a data file and committing leaves the table at its previous version.
//
// Reading replays the latest complete checkpoint (classic, single-file or multi-part, found
// through `_last_checkpoint` or by listing) and the JSON commits after it. Writing keeps the
// protocol's table features: fhirlake writes tables at reader 1 / writer 2 and up to writer 6
// when the legacy features beyond those are not in use, and tables with the features
// appendOnly, invariants and deletionVectors; it refuses any other writer feature.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::delta {

// The protocol action (PROTOCOL.md, "Protocol Evolution", "Table Features").
struct Protocol {
  int min_reader_version = 1;
  int min_writer_version = 2;
  std::optional<std::vector<std::string>> reader_features;  // reader version 3 only
  std::optional<std::vector<std::string>> writer_features;  // writer version 7 only

  // True when `feature` is supported by the table: listed (writer 7), or implied by a legacy
  // writer version (2: appendOnly, invariants; 3: checkConstraints; 4: changeDataFeed,
  // generatedColumns; 5: columnMapping; 6: identityColumns).
  bool HasWriterFeature(const std::string& feature) const;
  bool HasReaderFeature(const std::string& feature) const;
};

struct AddFile {
  std::string path;             // relative to the table root, URI-decoded
  int64_t size = 0;
  int64_t modification_time = 0;  // ms since the epoch
  int64_t num_records = 0;
  std::string stats_json;       // the add action's `stats` (a JSON document as a string)
  std::optional<DeletionVector> deletion_vector;  // rows of the file that are deleted
  // Empty: fhirlake's tables are unpartitioned. A value without text is a null partition value.
  std::map<std::string, std::optional<std::string>> partition_values;
  std::map<std::string, std::string> tags;  // the add action's `tags`, kept through checkpoints
};

// A file that a commit removed, kept in the state until its tombstone expires: a reader of an
// older version may still need it, so vacuum keeps it for the retention window.
struct RemovedFile {
  std::string path;  // URI-decoded, relative to the table root
  int64_t deletion_timestamp = 0;  // ms since the epoch
  int64_t size = 0;
  bool data_change = true;
  std::optional<DeletionVector> deletion_vector;
};

struct Snapshot {
  int64_t version = -1;         // -1: the table does not exist yet
  std::string table_id;
  std::string schema_string;
  std::vector<AddFile> files;   // active data files, in the order they were added
  std::vector<RemovedFile> tombstones;  // removed files, newest removal last
  std::map<std::string, int64_t> app_versions;  // txn appId → version
  std::map<std::string, int64_t> app_last_updated;  // txn appId → lastUpdated (ms), where given
  std::map<std::string, std::string> configuration;  // metaData.configuration
  // The rest of metaData, re-emitted unchanged when a commit rewrites metaData.
  std::optional<std::string> table_name, table_description;
  std::optional<int64_t> created_time;
  std::vector<std::string> partition_columns;
  std::map<std::string, std::string> format_options;
  Protocol protocol;
  // Why fhirlake must not write this table (features it does not support), or empty.
  std::string write_refusal;
  int64_t checkpoint_version = -1;  // the checkpoint the state was read from, or -1
  int log_files_read = 0;           // commit and checkpoint files read to build the state
  int log_files_listed = 0;         // log files the listing held (from the last checkpoint on)
  bool deletion_vectors_supported = false;  // the protocol has the deletionVectors feature
  std::string last_transaction_time;  // the latest commitInfo.transactionTime (fhirlake's loads)
  int64_t last_commit_ms = 0;         // commitInfo.timestamp of the latest commit

  bool deletion_vectors_enabled() const {
    auto it = configuration.find("delta.enableDeletionVectors");
    return deletion_vectors_supported && it != configuration.end() && it->second == "true";
  }
  // delta.appendOnly=true: commits may only add data (PROTOCOL.md, "Append-only Tables").
  bool append_only() const {
    auto it = configuration.find("delta.appendOnly");
    return it != configuration.end() && it->second == "true";
  }
  // The table property `key` as an integer, or `fallback`.
  int64_t IntProperty(const std::string& key, int64_t fallback) const;
};

struct Commit {
  std::string operation;                  // "WRITE", "MERGE", ...
  std::string operation_parameters_json;  // JSON object
  std::optional<std::string> schema_string;  // write metaData (always on version 0)
  std::vector<AddFile> adds;
  std::vector<AddFile> removes;           // files to retire (path, size and deletion vector are used)
  std::optional<std::pair<std::string, int64_t>> txn;  // (appId, version) for idempotent writers
  std::string commit_info_extra_json = "{}";  // merged into commitInfo (e.g. transactionTime)
  // Upgrades the protocol to reader 3 / writer 7 with `deletionVectors` (keeping every feature
  // the table already has, legacy ones included) and sets delta.enableDeletionVectors (once;
  // later commits keep it).
  bool enable_deletion_vectors = false;
  // False for every commit that read the table to decide what to write (merges, deletes,
  // overwrites): Delta's conflict checks trust commitInfo.isBlindAppend.
  bool blind_append = false;
  // False for commits that rearrange data without changing it (compaction): the add and
  // remove actions carry dataChange false.
  bool data_change = true;
  // Table properties to set in metaData.configuration (rewrites metaData).
  std::map<std::string, std::string> set_configuration;
};

// Where the checkpoint policy comes from: the table property delta.checkpointInterval, else
// this (PROTOCOL.md leaves the interval to writers; Delta's default is 10).
inline constexpr int64_t kDefaultCheckpointInterval = 10;

// The Spark JSON schema (Delta metaData.schemaString) matching a Parquet schema: strings,
// booleans, integers, longs, doubles, timestamps, structs and arrays, all nullable.
std::string SparkSchemaJson(const parquet::Schema& schema);

class Table {
 public:
  // The table in the local directory `root`.
  explicit Table(std::filesystem::path root);
  // The table under `table_key` ("Patient", "_views/x", or "" for the store's root) in `store`,
  // which the table shares (copies of a Table share it too).
  Table(std::shared_ptr<store::ObjectStore> store, std::string table_key);
  // The table at `location`: a directory, or s3://bucket/prefix (store::OpenStore).
  static Result<Table> Open(std::string_view location);

  // The table's location as users write it (a path, or an s3:// URL), for messages.
  const std::filesystem::path& root() const { return root_; }
  store::ObjectStore& store() const { return *store_; }
  const std::shared_ptr<store::ObjectStore>& shared_store() const { return store_; }
  // The table's prefix in store() ("" for the store's root).
  const std::string& key() const { return key_; }
  // The key of `relative` (a data file's path as add actions carry it, decoded) in store().
  std::string Key(std::string_view relative) const;

  // Replays the log. A table without a log has version -1.
  Result<Snapshot> Load() const;

  // Writes version `snapshot.version + 1` and returns it. When another writer created that
  // version first, returns a status for which IsConflict() is true; the caller reloads and
  // retries or gives up. Version 0 must carry the schema. Refuses (kInvalidArgument, without
  // writing) a table with writer features fhirlake does not support, and a commit that removes
  // data from a table with delta.appendOnly=true. After the commit, writes a checkpoint when
  // the new version is a multiple of the checkpoint interval (a failed checkpoint is not an
  // error of the commit: the next one retries).
  Result<int64_t> Write(const Snapshot& snapshot, const Commit& commit) const;

  // The commitInfo action of every commit still in the log from `from_version` on, oldest
  // first, as (version, JSON object text).
  Result<std::vector<std::pair<int64_t, std::string>>> CommitInfos(int64_t from_version = 0) const;

  // True when `status` is the lost-race result of Write.
  static bool IsConflict(const Status& status);

 private:
  void MaybeCheckpoint(int64_t version, const Snapshot& before) const;

  std::filesystem::path root_;
  std::shared_ptr<store::ObjectStore> store_;
  std::string key_;  // the table's prefix in store_, "" for its root
};

}  // namespace fhirlake::delta
