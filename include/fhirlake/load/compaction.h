// Compaction: rewrites a table's small files, and files with many deleted rows, into files of
// the target size, in one Delta commit of `remove`s and `add`s with dataChange false (readers
// and change feeds see no change of data). Rows are copied from each file's stored `_json`
// (deleted rows skipped), so deletion vectors of the rewritten files are purged: once every
// file with a vector is compacted, the table no longer needs a deletion-vector reader for its
// data (the protocol still lists the feature; see README, "Leaving deletion vectors").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

struct CompactionPolicy {
  uint64_t target_file_bytes = 256u << 20;   // new files end at the first row group past this
  uint64_t small_file_bytes = 32u << 20;     // files below this are merged (see compaction_plan.h)
  double size_ratio = 2;                     // a small file joins smaller ones up to this times their total
  double recent_fraction = 0.1;              // the newest files holding this share of rows are a tier
                                             // of their own (compaction_plan.h); 0: one tier
  uint64_t recent_file_bytes = 8u << 20;     // tables smaller than this are one tier
  double deleted_fraction = 0.1;             // files with more deleted rows than this are rewritten
  bool purge_deletion_vectors = false;       // rewrite every file that has a deletion vector
  TableSchemaOptions schema;                 // must give the table's schema string
  // A table that is not a resource type's (e.g. the tombstone table): its schema, used instead
  // of the one `schema` gives; it must outlive the call.
  const parquet::Schema* table_schema = nullptr;
  parquet::WriterOptions writer;
  int jobs = 0;  // threads copying and encoding column chunks (unless writer.parallel); 0: the cores, at most 4
};

struct CompactionResult {
  int64_t version = -1;  // the commit written, or -1 when nothing needed compaction
  int files_removed = 0, files_added = 0;
  int64_t rows = 0;
};

// Compacts the table of `resource_type` (a local directory or an object-store prefix: files are
// read by ranged reads and written through the table's store). A lost commit race is returned
// as a conflict (delta::Table::IsConflict), with the new files removed; nothing else changes.
Result<CompactionResult> Compact(const delta::Table& table, const std::string& resource_type,
                                 const CompactionPolicy& policy);
// The same for the table in the local directory `table_root`.
Result<CompactionResult> Compact(const std::filesystem::path& table_root, const std::string& resource_type,
                                 const CompactionPolicy& policy);

}  // namespace fhirlake::load
