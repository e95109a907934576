#include "fhirlake/load/unload.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/load/tombstones.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Status WriteTable(const fs::path& root, const std::string& type, const fs::path& out_dir, std::ofstream& deleted,
                  std::optional<int64_t> deleted_since, const std::function<bool()>& stop) {
  delta::Table table(root);
  auto snap = table.Load();
  if (!snap.ok()) return snap.status();
  std::ofstream out(out_dir / (type + ".000.ndjson"), std::ios::binary);
  for (const auto& add : snap->files) {
    std::vector<uint64_t> gone;
    if (add.deletion_vector) {
      auto rows = delta::ReadDeletionVector(root, *add.deletion_vector);
      if (!rows.ok()) return rows.status();
      gone = std::move(rows.value());
    }
    FHIRLAKE_RETURN_IF_ERROR(ForEachStoredJson(root / add.path, gone, [&](std::string_view line) {
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
      out.put('\n');
      return Status::Ok();
    }, stop));
  }
  out.close();
  if (!out) return IoError("cannot write " + (out_dir / (type + ".000.ndjson")).string());

  return ForEachTombstone(root.parent_path(), type, deleted_since, [&](const Tombstone& t) {
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
  std::vector<fs::path> tables;
  for (const auto& e : fs::directory_iterator(warehouse, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.empty() || name[0] == '_' || !fs::is_directory(e.path() / "_delta_log")) continue;
    if (!types.empty() && std::find(types.begin(), types.end(), name) == types.end()) continue;
    tables.push_back(e.path());
  }
  std::sort(tables.begin(), tables.end());
  for (const auto& root : tables) {
    Status s = WriteTable(root, root.filename().string(), out_dir, deleted, deleted_since, stop);
    if (!s.ok()) return s.WithContext(root.filename().string());
  }
  deleted.close();
  if (!deleted) return IoError("cannot write " + (out_dir / "deleted").string());
  return Status::Ok();
}

}  // namespace fhirlake::load
