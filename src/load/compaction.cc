#include "fhirlake/load/compaction.h"

#include <chrono>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/delta/object_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/load/compaction_plan.h"
#include "fhirlake/load/file_stats.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/store/names.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

Result<CompactionResult> Compact(const fs::path& root, const std::string& type, const CompactionPolicy& policy) {
  return Compact(delta::Table(root), type, policy);
}

Result<CompactionResult> Compact(const delta::Table& table, const std::string& type, const CompactionPolicy& policy) {
  CompactionResult result;
  const fs::path& root = table.root();
  store::ObjectStore& files = table.store();
  auto snap = table.Load();
  if (!snap.ok()) return snap.status();
  if (snap->version < 0) return result;
  const std::vector<delta::AddFile> picked = PickFilesToCompact(snap->files, policy);
  // The way back from deletion vectors (Delta's DROP FEATURE does the same first steps): turn
  // delta.enableDeletionVectors off so later merges copy on write, and purge the vectors.
  const bool disable_dvs = policy.purge_deletion_vectors && snap->deletion_vectors_enabled();
  if (picked.empty() || (picked.size() == 1 && !picked[0].deletion_vector)) {
    if (!disable_dvs) return result;
    delta::Commit off;
    off.operation = "SET TBLPROPERTIES";
    off.operation_parameters_json = R"({"properties":"{\"delta.enableDeletionVectors\":\"false\"}"})";
    off.data_change = false;
    off.set_configuration = {{"delta.enableDeletionVectors", "false"}};
    auto v = table.Write(*snap, off);
    if (!v.ok()) return v.status();
    result.version = *v;
    return result;
  }
  std::optional<parquet::Schema> built;
  if (!policy.table_schema) built.emplace(BuildTableSchema(type, policy.schema));
  const parquet::Schema& schema = policy.table_schema ? *policy.table_schema : *built;
  if (delta::SparkSchemaJson(schema) != snap->schema_string) {
    return InvalidArgument(root.string() + ": the table's schema is not the one --max-depth " +
                           std::to_string(policy.schema.max_depth) + " gives; not compacting (pass the --max-depth "
                           "the table was loaded with)");
  }

  const size_t json_leaf = schema.leaves().size() - 1;
  struct Written {
    std::string name;
    int64_t rows = 0;
    std::string stats;  // add.stats, so merges and readers see the file's meta.lastUpdated range
  };
  std::vector<Written> written;
  std::unique_ptr<parquet::FileWriter> writer;
  std::unique_ptr<JsonShredder> shredder;
  std::string current;
  int64_t current_rows = 0;
  auto discard = [&] {
    shredder.reset();
    writer.reset();  // an unclosed object writer publishes nothing
    // Best effort on a path that already failed: a file left behind is one no commit names,
    // which vacuum deletes after the retention.
    for (const auto& w : written) (void)files.Delete(table.Key(w.name));
  };
  auto close = [&]() -> Status {
    shredder.reset();
    Status s = writer->Close();
    std::string stats = s.ok() ? DeltaFileStats(schema, *writer) : "";
    writer.reset();
    if (!s.ok()) return s;
    written.push_back({current, current_rows, std::move(stats)});
    current.clear();
    return Status::Ok();
  };
  std::string padded;
  auto copy = [&](std::string_view line) -> Status {
    if (!writer) {
      current = "part-" + store::RandomHex(16) + ".parquet";
      auto sink = delta::OpenObjectSink(files, table.Key(current));
      if (!sink.ok()) return sink.status();
      auto w = parquet::FileWriter::Open(std::move(sink.value()), schema, policy.writer);
      if (!w.ok()) return w.status();
      writer = std::move(w.value());
      shredder = std::make_unique<JsonShredder>(schema, *writer, std::vector<std::string>{"_json"});
      current_rows = 0;
    }
    padded.assign(line);
    padded.append(fhir::NdjsonReader::kPadding, '\0');
    FHIRLAKE_RETURN_IF_ERROR(shredder->ShredRow(std::string_view(padded.data(), line.size())));
    writer->column(json_leaf).AddBytes(0, line);
    FHIRLAKE_RETURN_IF_ERROR(writer->EndRow());
    ++current_rows;
    ++result.rows;
    if (policy.target_file_bytes > 0 && writer->bytes_written() >= policy.target_file_bytes) return close();
    return Status::Ok();
  };
  for (const auto& f : picked) {
    std::vector<uint64_t> gone;
    if (f.deletion_vector) {
      auto rows = delta::ReadDeletionVector(files, table.key(), *f.deletion_vector);
      if (!rows.ok()) {
        discard();
        return rows.status();
      }
      gone = std::move(rows.value());
    }
    Status s = ForEachStoredJson(delta::OpenObjectSource(files, table.Key(f.path)), gone, copy);
    if (!s.ok()) {
      discard();
      return s.WithContext("compacting " + (root / f.path).string());
    }
  }
  if (writer) {
    Status s = close();
    if (!s.ok()) {
      discard();
      return s;
    }
  }
  delta::Commit commit;
  commit.operation = "OPTIMIZE";
  commit.operation_parameters_json = R"({"predicate":"[]","zOrderBy":"[]"})";
  commit.data_change = false;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& w : written) {
    auto size = files.Size(table.Key(w.name));
    if (!size.ok()) {
      discard();
      return size.status();
    }
    delta::AddFile add;
    add.path = w.name;
    add.size = static_cast<int64_t>(*size);
    add.modification_time = now;
    add.num_records = w.rows;
    add.stats_json = snap->deletion_vectors_enabled() ? WithTightBounds(w.stats, true) : w.stats;
    commit.adds.push_back(std::move(add));
  }
  commit.removes = picked;
  if (disable_dvs) commit.set_configuration = {{"delta.enableDeletionVectors", "false"}};
  auto version = table.Write(*snap, commit);
  if (!version.ok()) {
    discard();
    return version.status();
  }
  result.version = *version;
  result.files_removed = static_cast<int>(picked.size());
  result.files_added = static_cast<int>(written.size());
  return result;
}

}  // namespace fhirlake::load
