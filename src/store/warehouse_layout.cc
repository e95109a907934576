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

Result<std::vector<std::string>> ListWarehouseTables(const WarehouseLayout& layout, ObjectStore& warehouse) {
  std::set<std::string> tables;
  if (!layout.is_s3()) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(layout.location(), ec)) {
      const std::string name = e.path().filename().string();
      if (WarehouseLayout::IsReserved(name)) continue;
      if (e.is_directory() && std::filesystem::is_directory(layout.Path(WarehouseLayout::DeltaLog(name)), ec)) {
        tables.insert(name);
      }
    }
  } else {
    auto listed = ListAll(warehouse, "");
    if (!listed.ok()) return listed.status();
    const std::string marker = "/" + std::string(WarehouseLayout::kDeltaLog) + "/";
    for (const auto& object : *listed) {
      const std::string name = object.key.substr(0, object.key.find('/'));
      if (WarehouseLayout::IsReserved(name) || tables.count(name)) continue;
      if (object.key.compare(name.size(), marker.size(), marker) == 0) tables.insert(name);
    }
  }
  return std::vector<std::string>(tables.begin(), tables.end());
}

}  // namespace fhirlake::store
