#include "fhirlake/view/materialized_view.h"

#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fhirlake/delta/object_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/view/view_runner.h"
#include "src/view/row_sinks.h"
#include "fhirlake/load/stored_rows.h"

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
  return store::WarehouseLayout(warehouse.string()).Locate(store::WarehouseLayout::View(view.name()));
}

Result<MaterializeStats> MaterializeView(const fs::path& warehouse, const ViewDefinition& view) {
  if (view.name().empty())
    return InvalidArgument("a materialised view needs a name (the ViewDefinition's \"name\" names its table)");
  for (char c : view.name())
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return InvalidArgument("view name '" + view.name() + "' may hold only letters, digits, _ and -");
  const store::WarehouseLayout layout(warehouse.string());
  auto source_table = delta::Table::Open(layout.Locate(store::WarehouseLayout::Table(view.resource())));
  if (!source_table.ok()) return source_table.status();
  auto source = source_table->Load();
  if (!source.ok()) return source.status();
  if (source->version < 0)
    return NotFound("the warehouse " + warehouse.string() + " has no " + view.resource() + " table to run view " +
                    view.name() + " over");

  auto opened = delta::Table::Open(layout.Locate(store::WarehouseLayout::View(view.name())));
  if (!opened.ok()) return opened.status();
  const delta::Table& table = *opened;
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
  std::vector<std::string> written;  // keys of this refresh's files, removed if it fails
  auto discard = [&] {
    for (const auto& key : written) (void)table.store().Delete(key);  // an orphan at worst
  };
  JsonTree tree;
  std::vector<Row> rows;
  for (const auto& file : source->files) {
    const std::string name = ViewFileFor(file, schema);
    wanted.insert(name);
    if (existing.count(name)) continue;
    const std::string key = table.Key(name);
    auto object = delta::OpenObjectSink(table.store(), key);
    auto sink = object.ok() ? MakeParquetSink(std::move(object).value(), view.columns())
                            : Result<std::unique_ptr<RowSink>>(object.status());
    if (!sink.ok()) {
      discard();
      return sink.status();
    }
    written.push_back(key);
    ResourceSource one_file = [&](const ResourceCallback& cb) { return load::ForEachLiveJson(*source_table, file, cb); };
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
    auto size = table.store().Size(key);
    if (!size.ok()) {
      discard();
      return size.status();
    }
    add.size = static_cast<int64_t>(*size);
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
