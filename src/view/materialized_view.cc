#include "fhirlake/view/materialized_view.h"

#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/view/view_runner.h"
#include "src/view/row_sinks.h"

namespace fhirlake::view {

namespace fs = std::filesystem;

namespace {

// FNV-1a, 64 bits: names a view file after the source file (and deletion vector) it mirrors.
uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The schema is part of the name, so a view whose columns changed never reuses a file name.
std::string ViewFileFor(const delta::AddFile& source, const std::string& schema) {
  std::string identity = schema + "\n" + source.path;
  if (source.deletion_vector) identity += "#" + source.deletion_vector->UniqueId();
  return fmt::format("rows-{:016x}.parquet", Fnv1a(identity));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

fs::path MaterializedViewPath(const fs::path& warehouse, const ViewDefinition& view) {
  return warehouse / "_views" / view.name();
}

Result<MaterializeStats> MaterializeView(const fs::path& warehouse, const ViewDefinition& view) {
  if (view.name().empty())
    return InvalidArgument("a materialised view needs a name (the ViewDefinition's \"name\" names its table)");
  for (char c : view.name())
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return InvalidArgument("view name '" + view.name() + "' may hold only letters, digits, _ and -");
  const fs::path source_root = warehouse / view.resource();
  std::error_code ec;
  if (!fs::is_directory(source_root / "_delta_log", ec))
    return NotFound("the warehouse " + warehouse.string() + " has no " + view.resource() + " table to run view " +
                    view.name() + " over");
  auto source = delta::Table(source_root).Load();
  if (!source.ok()) return source.status();

  const fs::path root = MaterializedViewPath(warehouse, view);
  fs::create_directories(root, ec);
  if (ec) return IoError("cannot create " + root.string() + ": " + ec.message());
  delta::Table table(root);
  auto snapshot = table.Load();
  if (!snapshot.ok()) return snapshot.status();
  const std::string schema = delta::SparkSchemaJson(*ViewParquetSchema(view.columns()));
  const bool same_schema = snapshot->version >= 0 && snapshot->schema_string == schema;

  std::map<std::string, const delta::AddFile*> existing;
  for (const auto& f : snapshot->files) existing[f.path] = &f;

  MaterializeStats stats;
  stats.source_files = source->files.size();
  delta::Commit commit;
  commit.operation = "WRITE";
  commit.operation_parameters_json = R"({"mode":"Incremental"})";
  if (!same_schema) commit.schema_string = schema;
  std::set<std::string> wanted;
  std::vector<fs::path> written;
  auto discard = [&] {
    for (const auto& p : written) fs::remove(p, ec);
  };
  JsonTree tree;
  std::vector<Row> rows;
  for (const auto& file : source->files) {
    const std::string name = ViewFileFor(file, schema);
    wanted.insert(name);
    if (existing.count(name)) continue;
    std::vector<uint64_t> gone;
    if (file.deletion_vector) {
      auto deleted = delta::ReadDeletionVector(source_root, *file.deletion_vector);
      if (!deleted.ok()) return deleted.status();
      gone = std::move(deleted).value();
    }
    auto sink = MakeParquetSink(root / name, view.columns());
    if (!sink.ok()) {
      discard();
      return sink.status();
    }
    written.push_back(root / name);
    ResourceSource one_file = [&](const ResourceCallback& cb) {
      return load::ForEachStoredJson(source_root / file.path, gone, cb);
    };
    auto run = RunView(view, one_file, **sink);
    if (!run.ok()) {
      discard();
      return run.status().WithContext("view " + view.name());
    }
    stats.rows += run->rows;
    stats.resources += run->resources;
    ++stats.recomputed_files;
    delta::AddFile add;
    add.path = name;
    add.size = static_cast<int64_t>(fs::file_size(root / name, ec));
    add.modification_time = NowMs();
    add.num_records = static_cast<int64_t>(run->rows);
    add.stats_json = nlohmann::json({{"numRecords", run->rows}}).dump();
    commit.adds.push_back(std::move(add));
  }
  for (const auto& f : snapshot->files) {
    if (wanted.count(f.path)) continue;
    commit.removes.push_back(f);
    ++stats.retired_files;
  }
  if (commit.adds.empty() && commit.removes.empty() && snapshot->version >= 0) {
    stats.version = snapshot->version;
    return stats;
  }
  auto version = table.Write(*snapshot, commit);
  if (!version.ok()) {
    discard();
    return version.status();
  }
  stats.version = *version;
  return stats;
}

}  // namespace fhirlake::view
