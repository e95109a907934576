#include "fhirlake/view/materialized_view.h"

#include <chrono>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fhirlake/delta/table.h"
#include "fhirlake/view/resource_source.h"
#include "fhirlake/view/view_runner.h"
#include "src/view/row_sinks.h"

namespace fhirlake::view {

namespace fs = std::filesystem;

fs::path MaterializedViewPath(const fs::path& warehouse, const ViewDefinition& view) {
  return warehouse / "_views" / view.name();
}

Result<MaterializeStats> MaterializeView(const fs::path& warehouse, const ViewDefinition& view) {
  if (view.name().empty())
    return InvalidArgument("a materialised view needs a name (the ViewDefinition's \"name\" names its table)");
  for (char c : view.name())
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return InvalidArgument("view name '" + view.name() + "' may hold only letters, digits, _ and -");
  const fs::path root = MaterializedViewPath(warehouse, view);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return IoError("cannot create " + root.string() + ": " + ec.message());
  delta::Table table(root);
  auto snapshot = table.Load();
  if (!snapshot.ok()) return snapshot.status();

  std::random_device random;
  const std::string file = fmt::format("part-{:016x}{:08x}.parquet",
      std::chrono::system_clock::now().time_since_epoch().count(), random());
  auto sink = MakeParquetSink(root / file, view.columns());
  if (!sink.ok()) return sink.status();
  const std::string type = view.resource();
  ResourceSource source = [&](const ResourceCallback& cb) { return ForEachWarehouseResource(warehouse, type, cb); };
  auto run = RunView(view, source, **sink);
  if (!run.ok()) {
    fs::remove(root / file, ec);
    return run.status().WithContext("view " + view.name());
  }

  delta::AddFile add;
  add.path = file;
  add.size = static_cast<int64_t>(fs::file_size(root / file, ec));
  add.modification_time =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  add.num_records = static_cast<int64_t>(run->rows);
  add.stats_json = nlohmann::json({{"numRecords", run->rows}}).dump();
  delta::Commit commit;
  commit.operation = "WRITE";
  commit.operation_parameters_json = R"({"mode":"Overwrite"})";
  commit.schema_string = delta::SparkSchemaJson(*ViewParquetSchema(view.columns()));
  commit.adds.push_back(add);
  commit.removes = snapshot->files;
  auto version = table.Write(*snapshot, commit);
  if (!version.ok()) {
    fs::remove(root / file, ec);
    return version.status();
  }
  MaterializeStats stats;
  stats.version = *version;
  stats.rows = run->rows;
  stats.resources = run->resources;
  return stats;
}

}  // namespace fhirlake::view
