// delta::Table: a Delta Lake table on the local filesystem (Delta PROTOCOL.md, reader v1 /
// writer v2; or reader v3 / writer v7 with the one table feature `deletionVectors`). Versions are the JSON commits in <table>/_delta_log; a commit
// is created with put-if-absent (a hard link of a fully written temporary file), so of two
// writers racing for version N exactly one wins and the other learns it lost. Data files that
// no commit adds are never visible: a crash between writing a data file and committing leaves
// the table at its previous version.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/status.h"

namespace fhirlake::delta {

struct AddFile {
  std::string path;             // relative to the table root
  int64_t size = 0;
  int64_t modification_time = 0;  // ms since the epoch
  int64_t num_records = 0;
  std::string stats_json;       // the add action's `stats` (a JSON document as a string)
  std::optional<DeletionVector> deletion_vector;  // rows of the file that are deleted
};

struct Snapshot {
  int64_t version = -1;         // -1: the table does not exist yet
  std::string table_id;
  std::string schema_string;
  std::vector<AddFile> files;   // active data files, in the order they were added
  std::map<std::string, int64_t> app_versions;  // txn appId → version
  std::map<std::string, std::string> configuration;  // metaData.configuration
  bool deletion_vectors_supported = false;  // the protocol has the deletionVectors feature
  std::string last_transaction_time;  // the latest commitInfo.transactionTime (fhirlake's loads)
  int64_t last_commit_ms = 0;         // commitInfo.timestamp of the latest commit

  bool deletion_vectors_enabled() const {
    auto it = configuration.find("delta.enableDeletionVectors");
    return deletion_vectors_supported && it != configuration.end() && it->second == "true";
  }
};

struct Commit {
  std::string operation;                  // "WRITE", "MERGE", ...
  std::string operation_parameters_json;  // JSON object
  std::optional<std::string> schema_string;  // write metaData (always on version 0)
  std::vector<AddFile> adds;
  std::vector<AddFile> removes;           // files to retire (path, size and deletion vector are used)
  std::optional<std::pair<std::string, int64_t>> txn;  // (appId, version) for idempotent writers
  std::string commit_info_extra_json = "{}";  // merged into commitInfo (e.g. transactionTime)
  // Upgrades the protocol to reader 3 / writer 7 with `deletionVectors` and sets
  // delta.enableDeletionVectors (once; later commits keep it).
  bool enable_deletion_vectors = false;
};

// The Spark JSON schema (Delta metaData.schemaString) matching a Parquet schema: strings,
// booleans, integers, longs, doubles, timestamps, structs and arrays, all nullable.
std::string SparkSchemaJson(const parquet::Schema& schema);

class Table {
 public:
  explicit Table(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }

  // Replays the log. A table without a log has version -1.
  Result<Snapshot> Load() const;

  // Writes version `snapshot.version + 1` and returns it. When another writer created that
  // version first, returns a status for which IsConflict() is true; the caller reloads and
  // retries or gives up. Version 0 must carry the schema.
  Result<int64_t> Write(const Snapshot& snapshot, const Commit& commit) const;

  // The commitInfo action of every commit, oldest first, as (version, JSON object text).
  Result<std::vector<std::pair<int64_t, std::string>>> CommitInfos() const;

  // True when `status` is the lost-race result of Write.
  static bool IsConflict(const Status& status);

 private:
  std::filesystem::path root_;
};

}  // namespace fhirlake::delta
