#include "fhirlake/load/compaction.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "fhirlake/delta/object_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/load/compaction_plan.h"
#include "fhirlake/load/data_files.h"
#include "fhirlake/load/file_stats.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/load/shared_work.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/parquet/row_copy.h"

namespace fhirlake::load {
namespace fs = std::filesystem;

Result<CompactionResult> Compact(const fs::path& root, const std::string& type, const CompactionPolicy& policy) {
  return Compact(delta::Table(root), type, policy);
}

namespace {

// A table with nothing to compact that should leave deletion vectors: one commit turning
// delta.enableDeletionVectors off.
Result<int64_t> TurnOffDeletionVectors(const delta::Table& table, const delta::Snapshot& snap) {
  delta::Commit off;
  off.operation = "SET TBLPROPERTIES";
  off.operation_parameters_json = R"({"properties":"{\"delta.enableDeletionVectors\":\"false\"}"})";
  off.data_change = false;
  off.set_configuration = {{"delta.enableDeletionVectors", "false"}};
  return table.Write(snap, off);
}

// The live rows of the data file `f` (deleted rows skipped) into `out`: copied a column at a
// time when the file has the schema's columns (parquet::CopyRows), else shredded again from
// its `_json`.
Status CopyLiveRowsOf(const delta::Table& table, const delta::AddFile& f, const parquet::Schema& schema,
                      DataFiles& out, int64_t& rows) {
  auto gone = DeletedRowsOf(table, f);
  if (!gone.ok()) return gone.status();
  auto reader = parquet::FileReader::Open(delta::OpenObjectSource(table.store(), table.Key(f.path)));
  if (!reader.ok()) return reader.status();
  if (parquet::SameColumns(**reader, schema)) {
    return ForEachRowGroupKeeping(**reader, *gone, [&](size_t g, const std::vector<uint8_t>& keep) -> Status {
      auto copied = out.Copy(**reader, g, keep);
      if (!copied.ok()) return copied.status();
      rows += static_cast<int64_t>(*copied);
      return Status::Ok();
    });
  }
  PaddedLine padded;
  return ForEachStoredJson(delta::OpenObjectSource(table.store(), table.Key(f.path)), *gone, [&](std::string_view line) {
    Status refused;
    FHIRLAKE_RETURN_IF_ERROR(out.Add(padded.Of(line), nullptr, &refused));
    if (!refused.ok()) return DataLoss("a stored row no longer parses: " + refused.message());
    ++rows;
    return Status::Ok();
  });
}


}  // namespace

Result<CompactionResult> Compact(const delta::Table& table, const std::string& type, const CompactionPolicy& policy) {
  CompactionResult result;
  auto snap = table.Load();
  if (!snap.ok()) return snap.status();
  if (snap->version < 0) return result;
  const std::vector<delta::AddFile> picked = PickFilesToCompact(snap->files, policy);
  // The way back from deletion vectors (Delta's DROP FEATURE does the same first steps): turn
  // delta.enableDeletionVectors off so later merges copy on write, and purge the vectors.
  const bool disable_dvs = policy.purge_deletion_vectors && snap->deletion_vectors_enabled();
  if (picked.empty() || (picked.size() == 1 && !picked[0].deletion_vector)) {
    if (!disable_dvs) return result;
    auto v = TurnOffDeletionVectors(table, *snap);
    if (!v.ok()) return v.status();
    result.version = *v;
    return result;
  }
  std::optional<parquet::Schema> built;
  if (!policy.table_schema) built.emplace(BuildTableSchema(type, policy.schema));
  const parquet::Schema& schema = policy.table_schema ? *policy.table_schema : *built;
  if (delta::SparkSchemaJson(schema) != snap->schema_string) {
    return InvalidArgument(table.root().string() + ": the table's schema is not the one --max-depth " +
                           std::to_string(policy.schema.max_depth) + " gives; not compacting (pass the --max-depth "
                           "the table was loaded with)");
  }

  // Column chunks are copied and encoded on `jobs` threads (see SharedWork).
  parquet::WriterOptions writer = policy.writer;
  SharedWork work;
  std::optional<SharedWorkHelpers> helpers;
  const int jobs = policy.jobs > 0 ? policy.jobs : DefaultJobs();
  if (!writer.parallel && jobs > 1) {
    writer.parallel = &work;
    helpers.emplace(work, jobs - 1);
  }
  // Written files are removed again unless the commit names them (DataFiles::Keep).
  DataFiles out(table, schema, writer, policy.target_file_bytes);
  for (const auto& f : picked) {
    Status s = CopyLiveRowsOf(table, f, schema, out, result.rows);
    if (!s.ok()) return s.WithContext("compacting " + (table.root() / f.path).string());
  }
  FHIRLAKE_RETURN_IF_ERROR(out.Close());
  helpers.reset();
  delta::Commit commit;
  commit.operation = "OPTIMIZE";
  commit.operation_parameters_json = R"({"predicate":"[]","zOrderBy":"[]"})";
  commit.data_change = false;
  commit.adds = out.Adds();  // add.stats, so merges and readers see each file's meta.lastUpdated range
  if (snap->deletion_vectors_enabled()) {
    for (auto& add : commit.adds) add.stats_json = WithTightBounds(add.stats_json, true);
  }
  commit.removes = picked;
  if (disable_dvs) commit.set_configuration = {{"delta.enableDeletionVectors", "false"}};
  auto version = table.Write(*snap, commit);
  // Only a lost race says the commit did not land; after any other failure the files may be
  // named by it, and are left for vacuum.
  if (!version.ok() && !delta::Table::IsConflict(version.status())) out.Keep();
  if (!version.ok()) return version.status();
  out.Keep();
  result.version = *version;
  result.files_removed = static_cast<int>(picked.size());
  result.files_added = static_cast<int>(commit.adds.size());
  return result;
}

}  // namespace fhirlake::load
