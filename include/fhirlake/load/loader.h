// load::Loader: export directory → warehouse. For each resource type, its <Type>.*.ndjson
// files are streamed through the JsonShredder into a new Parquet data file under
// WAREHOUSE/<Type>/, which one Delta commit then makes visible (or not at all). Lines that are
// not valid resources of the file's type go to WAREHOUSE/_errors/ as OperationOutcomes naming
// the file and line; the load goes on.
//
// Merge: a first pass indexes the incoming ids and meta.lastUpdated; the table's `id` and
// `meta.lastUpdated` columns say which stored rows are replaced or deleted. Those rows get a
// Delta deletion vector on their file (or, copy-on-write, the files holding them are
// rewritten: their other rows re-shredded from `_json` into new data files). The incoming
// rows go to new data files; untouched files stay as they are; one commit does it all. Rows are
// laid out by meta.lastUpdated (recency_layout.h): recent rows in small files, so the usual
// change (new resources, updates of recently changed ones) rewrites few and small files.
// Rules: an incoming resource replaces stored rows with its id unless a stored one has a later
// meta.lastUpdated; among duplicates in one load the latest meta.lastUpdated wins (the later
// line on ties; a missing lastUpdated counts as oldest). A resource named in deleted/ and also
// present in the load is kept (it came back); a deleted id the table lacks is not an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// Pathling's save modes. Merge and overwrite drop duplicates within the load; append keeps
// every line.
enum class SaveMode { kMerge, kOverwrite, kAppend, kIgnore, kError };
Result<SaveMode> ParseSaveMode(std::string_view text);

struct LoadOptions {
  std::filesystem::path export_dir;
  // A directory or s3://bucket/prefix (then the tables, data files and error logs are objects
  // written through store::ObjectStore; deletion vectors are not supported there yet).
  std::filesystem::path warehouse;
  // The warehouse's store, when the caller has it open; null: store::OpenStore(warehouse).
  std::shared_ptr<store::ObjectStore> warehouse_store;
  SaveMode mode = SaveMode::kMerge;
  std::vector<std::string> types;        // empty: every type in the export
  // With kOverwrite: the warehouse's tables of resource types (within `types`) that the export
  // has no file for are overwritten too, with no rows: the source has none of them now (a
  // sync's full refresh makes the tables equal the source).
  bool overwrite_missing_types = false;
  TableSchemaOptions schema;
  parquet::WriterOptions writer;
  int commit_attempts = 5;               // tries when another writer commits first
  // Threads writing tables: types are loaded `jobs` at a time, largest first, and a type
  // whose rows are still being written when threads run out of types takes them as helpers
  // (each writes batches of its lines into data files of its own; one commit still makes the
  // type's files visible together).
  int jobs = 2;
  // Lines of a type are handed to a helper `write_batch_bytes` at a time.
  size_t write_batch_bytes = 4u << 20;
  // A copy-on-write merge copies the kept rows of the files it rewrites column by column; when
  // those files hold at least this many bytes and a job is free, on a thread (and into files) of
  // their own while the incoming lines are written, else first, on the table's own thread.
  uint64_t copy_thread_bytes = 4u << 20;
  // A table's new data go to files of about this size (a file ends at the first row group
  // that reaches it); 0: one file per table and load.
  uint64_t target_file_bytes = 256u << 20;
  // Recent rows go to smaller files (see recency_layout.h): of a first load or overwrite, the
  // newest `recent_fraction` by meta.lastUpdated; of a merge into a table with files of this
  // size or more, the rows newer than those. 0: no recent tier.
  uint64_t recent_file_bytes = 8u << 20;
  double recent_fraction = 0.1;
  // Written on several threads, a table's rows end in a file per thread and tier short of the
  // target size; those under this size are joined into one before the commit
  // (LayoutFiles::JoinSmallFiles), as a compaction after the load would (sync and serve set its
  // CompactionPolicy::small_file_bytes here: sync::LoadSmallFileBytes). 0: not joined.
  uint64_t small_file_bytes = 0;
  // With (appId, version): a table whose log already holds a txn of appId at version or later
  // is skipped (this load was committed there before), and each commit records the txn. This
  // makes re-running an interrupted load exact.
  std::optional<std::pair<std::string, int64_t>> txn;
  // Merge marks replaced and deleted rows in Delta deletion vectors instead of rewriting the
  // files that hold them; the table moves to reader 3 / writer 7 (feature deletionVectors) at
  // its first such merge, which engines without deletion-vector support cannot read. Off
  // (the default): copy-on-write, readable everywhere. A table that already has deletion
  // vectors keeps using them.
  bool deletion_vectors = false;
  size_t max_line_bytes = 256u << 20;    // longer lines are reported as bad and skipped (>= 1 MiB)
  // When set, called before a table is read for loading; the table is the caller's until the
  // returned holder is destroyed (after its commit). A process that runs several loads uses it
  // to keep them off the same table; other writers are still handled by commit conflicts.
  std::function<std::shared_ptr<void>(const std::string& type)> hold_table;
};

struct TableResult {
  std::string type;
  uint64_t rows = 0;                     // incoming rows written
  uint64_t inserted = 0, updated = 0, deleted = 0;  // merge: what happened to the table's rows
  uint64_t bad_lines = 0;
  int64_t version = -1;                  // committed version; -1 when skipped
  bool skipped = false;                  // mode ignore and the table existed, or nothing to do
  bool already_committed = false;        // the txn was found in the table's log
};

struct LoadSummary {
  std::vector<TableResult> tables;
  uint64_t bad_lines = 0;
  std::vector<std::filesystem::path> error_files;  // local paths, or s3:// locations
};

// Threads a load or a compaction uses unless told otherwise: the cores, at most 4.
int DefaultJobs();

// Loads the export, `jobs` types at a time. Fails (with nothing committed for that type)
// when a table cannot be written: mode error and the table exists, I/O, unsupported Delta features, lost races after
// every attempt. Bad lines do not fail the load; the summary counts them.
Result<LoadSummary> Load(const LoadOptions& options);

}  // namespace fhirlake::load
