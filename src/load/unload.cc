#include "fhirlake/load/unload.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/load/tombstones.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/warehouse_layout.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Status WriteTable(const delta::Table& table, const std::shared_ptr<store::ObjectStore>& warehouse,
                  const std::string& type, const fs::path& out_dir, std::ofstream& deleted, std::optional<int64_t> deleted_since, const std::function<bool()>& stop) {
  auto snap = table.Load();
  if (!snap.ok()) return snap.status();
  std::ofstream out(out_dir / (type + ".000.ndjson"), std::ios::binary);
  for (const auto& add : snap->files) {
    FHIRLAKE_RETURN_IF_ERROR(ForEachLiveJson(table, add, [&](std::string_view line) {
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
      out.put('\n');
      return Status::Ok();
    }, stop));
  }
  out.close();
  if (!out) return IoError("cannot write " + (out_dir / (type + ".000.ndjson")).string());

  return ForEachTombstone(warehouse, type, deleted_since, [&](const Tombstone& t) {
    json bundle = {{"resourceType", "Bundle"},
                   {"type", "transaction"},
                   {"meta", {{"lastUpdated", t.when}}},
                   {"entry", {{{"request", {{"method", "DELETE"}, {"url", type + "/" + t.id}}}}}}};
    deleted << bundle.dump() << '\n';
    return Status::Ok();
  });
}

}  // namespace

Status WriteTablesAsNdjson(const fs::path& warehouse, const std::vector<std::string>& types, const fs::path& out_dir,
                           const std::function<bool()>& stop, std::optional<int64_t> deleted_since) {
  std::error_code ec;
  fs::create_directories(out_dir / "deleted", ec);
  std::ofstream deleted(out_dir / "deleted" / "Bundle.000.ndjson", std::ios::binary);
  // The tables, from a directory or (s3://) through the store, read by ranged reads.
  const store::WarehouseLayout layout(warehouse.string());
  auto opened = store::OpenStore(layout.location());
  if (!opened.ok()) return opened.status();
  const std::shared_ptr<store::ObjectStore> store = std::move(opened).value();
  auto names = store::ListWarehouseTables(*store);
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    if (!types.empty() && std::find(types.begin(), types.end(), name) == types.end()) continue;
    const delta::Table table = layout.is_s3() ? delta::Table(store, store::WarehouseLayout::Table(name))
                                              : delta::Table(layout.Path(store::WarehouseLayout::Table(name)));
    Status s = WriteTable(table, store, name, out_dir, deleted, deleted_since, stop);
    if (!s.ok()) return s.WithContext(name);
  }
  deleted.close();
  if (!deleted) return IoError("cannot write " + (out_dir / "deleted").string());
  return Status::Ok();
}

}  // namespace fhirlake::load
