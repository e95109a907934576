#include "fhirlake/view/resource_source.h"

#include "fhirlake/fhir/ndjson_files.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/load/stored_rows.h"

namespace fhirlake::view {

namespace fs = std::filesystem;

namespace {

Status ReadFile(const fs::path& file, const ResourceCallback& resource) {
  auto reader = fhir::NdjsonReader::Open(file);
  if (!reader.ok()) return reader.status();
  std::string_view line;
  while (reader->Next(line)) {
    if (fhir::IsBlankLine(line)) continue;
    Status s = resource(line);
    if (!s.ok()) return s.WithContext(file.string() + " line " + std::to_string(reader->line_number()));
  }
  return reader->status();
}

}  // namespace

Status ForEachNdjsonResource(const fs::path& path, const std::string& type, const ResourceCallback& resource) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return ReadFile(path, resource);
  if (!fs::is_directory(path, ec)) return NotFound(path.string() + " is neither an NDJSON file nor a directory");
  for (const fs::path& file : fhir::ListNdjsonFiles(path)) {
    std::string declared = fhir::ResourceTypeOfFile(file);
    if (!declared.empty() && declared != type) continue;
    if (declared.empty() && file.filename() == "log.ndjson") continue;
    FHIRLAKE_RETURN_IF_ERROR(ReadFile(file, resource));
  }
  return Status::Ok();
}

Status ForEachWarehouseResource(const fs::path& warehouse, const std::string& type, const ResourceCallback& resource) {
  auto table = delta::Table::Open(store::WarehouseLayout(warehouse.string()).Locate(store::WarehouseLayout::Table(type)));
  if (!table.ok()) return table.status();
  auto snapshot = table->Load();
  if (!snapshot.ok()) return snapshot.status();
  if (snapshot->version < 0)
    return NotFound("the warehouse " + warehouse.string() + " has no " + type + " table (" + table->root().string() + ")");
  for (const auto& add : snapshot->files) FHIRLAKE_RETURN_IF_ERROR(load::ForEachLiveJson(*table, add, resource));
  return Status::Ok();
}

}  // namespace fhirlake::view
