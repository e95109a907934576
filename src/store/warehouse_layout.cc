#include "fhirlake/store/warehouse_layout.h"

#include <set>

#include "fhirlake/store/object_store.h"

namespace fhirlake::store {

WarehouseLayout::WarehouseLayout(std::string location) : location_(std::move(location)), s3_(IsS3Location(location_)) {
  while (location_.size() > 1 && location_.back() == '/' && !(s3_ && location_.size() <= 5)) location_.pop_back();
}

std::string WarehouseLayout::Join(std::string_view a, std::string_view b) {
  while (!a.empty() && a.back() == '/') a.remove_suffix(1);
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string out(a);
  out += '/';
  out += b;
  return out;
}

std::filesystem::path WarehouseLayout::Path(std::string_view key) const {
  return key.empty() ? std::filesystem::path(location_) : std::filesystem::path(location_) / std::string(key);
}

std::string WarehouseLayout::Locate(std::string_view key) const {
  return s3_ ? Join(location_, key) : Path(key).string();
}

Result<std::vector<std::string>> ListWarehouseTables(ObjectStore& warehouse) {
  // One shallow listing for the names, then one key of each candidate's log: the cost grows
  // with the number of tables, not with the files in them or in the archive.
  std::set<std::string> tables;
  auto names = ListDirectories(warehouse, "");
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (WarehouseLayout::IsReserved(name)) continue;
    auto log = warehouse.List(WarehouseLayout::DeltaLog(name) + "/", {}, 1);
    if (!log.ok()) return log.status();
    if (!log->objects.empty()) tables.insert(name);
  }
  return std::vector<std::string>(tables.begin(), tables.end());
}

}  // namespace fhirlake::store
