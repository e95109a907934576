#include "fhirlake/load/tombstones.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "fhirlake/delta/object_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/load/data_files.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/json_field.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Appends to the tombstone table race with other types' appends; each loser reloads.
constexpr int kAppendAttempts = 20;

// `type`, not `resourceType`: the row shredder reads a root `resourceType` as the row's own type.
const parquet::Schema& TombstoneSchema() {
  static const parquet::Schema schema = [] {
    using parquet::LogicalType;
    using parquet::PhysicalType;
    std::vector<std::unique_ptr<parquet::SchemaNode>> columns;
    columns.push_back(parquet::Leaf("type", PhysicalType::kByteArray, LogicalType::kString));
    columns.push_back(parquet::Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
    columns.push_back(parquet::Leaf("deletedAt", PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc));
    columns.push_back(parquet::Leaf("tableVersion", PhysicalType::kInt64));
    columns.push_back(parquet::Leaf("transactionTime", PhysicalType::kByteArray, LogicalType::kString));
    columns.push_back(parquet::Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
    return parquet::Schema(std::move(columns));
  }();
  return schema;
}

// The txn appId under which the tombstone table records how far it holds a data table's
// deletions: per type and per table id, so a table that is dropped and created again starts over.
Result<std::string> AppIdOf(const delta::Snapshot& data, const std::string& type) {
  if (data.table_id.empty()) return DataLoss("the table " + type + " has no metaData.id");
  return type + ":" + data.table_id;
}

// Reads the tombstones of `type` from the tombstone file `file` (relative to the table).
Status ReadTombstoneFile(const delta::Table& table, const std::string& file, const std::string& type,
                         std::vector<Tombstone>& out) {
  const std::string path = table.root().string() + "/" + file;  // for messages
  auto reader = parquet::FileReader::Open(delta::OpenObjectSource(table.store(), table.Key(file)));
  if (!reader.ok()) return reader.status();
  const parquet::FileReader& r = **reader;
  const int type_col = r.FindColumn("type"), id_col = r.FindColumn("id"), at_col = r.FindColumn("deletedAt"),
            version_col = r.FindColumn("tableVersion"), tt_col = r.FindColumn("transactionTime");
  if (type_col < 0 || id_col < 0 || at_col < 0 || version_col < 0 || tt_col < 0) {
    return DataLoss(path + " is not a tombstone file (a column is missing)");
  }
  for (size_t g = 0; g < r.row_group_count(); ++g) {
    auto types = r.ReadColumn(g, type_col);
    if (!types.ok()) return types.status();
    auto ids = r.ReadColumn(g, id_col);
    if (!ids.ok()) return ids.status();
    auto at = r.ReadColumn(g, at_col);
    if (!at.ok()) return at.status();
    auto versions = r.ReadColumn(g, version_col);
    if (!versions.ok()) return versions.status();
    auto tt = r.ReadColumn(g, tt_col);
    if (!tt.ok()) return tt.status();
    for (size_t i = 0; i < types->size(); ++i) {
      if (!types->present[i] || types->string(i) != type || !ids->present[i]) continue;
      Tombstone t;
      t.id = std::string(ids->string(i));
      t.deleted_at = at->present[i] ? at->ints[i] : 0;
      t.table_version = versions->present[i] ? versions->ints[i] : 0;
      t.when = tt->present[i] && !tt->string(i).empty() ? std::string(tt->string(i)) : fhir::FormatInstant(t.deleted_at);
      out.push_back(std::move(t));
    }
  }
  return Status::Ok();
}

// A data commit's reference to its tombstone file, or nullptr when it names none.
const json* TombstoneReference(const json& info) {
  if (!info.is_object() || !info.contains("tombstones")) return nullptr;
  const json& ref = info["tombstones"];
  return ref.is_object() && ref.contains("file") && ref["file"].is_string() ? &ref : nullptr;
}

// The data commits from `from_version` on that name a tombstone file, as (version, reference).
Result<std::vector<std::pair<int64_t, json>>> NamedTombstoneFiles(const delta::Table& data, int64_t from_version) {
  auto infos = data.CommitInfos(from_version);
  if (!infos.ok()) return infos.status();
  std::vector<std::pair<int64_t, json>> out;
  for (const auto& [version, text] : *infos) {
    const json info = json::parse(text, nullptr, false);
    if (const json* ref = TombstoneReference(info)) out.emplace_back(version, *ref);
  }
  return out;
}

// Whether the tombstone file `file` is still there (vacuum deletes one no commit added after
// the retention).
Result<bool> FileExists(const delta::Table& table, const std::string& file) {
  auto size = table.store().Size(table.Key(file));
  if (size.ok()) return true;
  if (size.status().code() == StatusCode::kNotFound) return false;
  return size.status();
}

Result<std::shared_ptr<store::ObjectStore>> OpenWarehouse(const fs::path& warehouse) {
  auto opened = store::OpenStore(warehouse.string());
  if (!opened.ok()) return opened.status();
  return std::shared_ptr<store::ObjectStore>(std::move(opened.value()));
}

}  // namespace

fs::path TombstoneTableRoot(const fs::path& warehouse) {
  return store::WarehouseLayout(warehouse.string()).Locate(store::WarehouseLayout::kTombstones);
}

delta::Table TombstoneTable(std::shared_ptr<store::ObjectStore> warehouse) {
  return delta::Table(std::move(warehouse), store::WarehouseLayout::kTombstones);
}

std::string PendingTombstones::CommitInfoJson() const {
  return json{{"count", count}, {"file", file}, {"size", size}, {"stats", stats_json}}.dump();
}

Result<PendingTombstones> WriteTombstoneFile(const std::shared_ptr<store::ObjectStore>& warehouse,
                                             const TombstoneBatch& batch) {
  const int64_t now = fhir::NowMicros();
  const std::optional<int64_t> tt = fhir::ParseFhirTime(batch.transaction_time);
  const std::string deleted_at = fhir::FormatInstant(tt.value_or(now));
  DataFiles out(TombstoneTable(warehouse), TombstoneSchema(), {}, 0);
  PaddedLine line;
  for (const auto& id : batch.ids) {
    const std::string row = json{{"type", batch.resource_type}, {"id", id}, {"deletedAt", deleted_at},
                                 {"tableVersion", batch.table_version}, {"transactionTime", batch.transaction_time}}.dump();
    Status refused;
    FHIRLAKE_RETURN_IF_ERROR(out.Add(line.Of(row), nullptr, &refused));
    if (!refused.ok()) return InternalError("a tombstone row was refused: " + refused.message());
  }
  FHIRLAKE_RETURN_IF_ERROR(out.Close());
  std::vector<delta::AddFile> adds = out.Adds();
  if (adds.size() != 1) return InternalError("a tombstone batch wrote " + std::to_string(adds.size()) + " files");
  out.Keep();
  return PendingTombstones{adds[0].path, adds[0].size, adds[0].num_records, adds[0].stats_json};
}

void RemovePendingTombstones(store::ObjectStore& warehouse, const PendingTombstones& pending) {
  // Best effort on a path that already failed (a lost or failed commit): a file left behind is
  // one no commit names, and vacuum deletes it after the retention.
  (void)warehouse.Delete(store::WarehouseLayout::Join(store::WarehouseLayout::kTombstones, pending.file));
}

Status CommitPendingTombstones(const std::shared_ptr<store::ObjectStore>& warehouse, const std::string& type) {
  const delta::Table data(warehouse, store::WarehouseLayout::Table(type));
  auto data_snap = data.Load();
  if (!data_snap.ok()) return data_snap.status();
  if (data_snap->version < 0) return Status::Ok();
  auto app_id = AppIdOf(*data_snap, type);
  if (!app_id.ok()) return app_id.status();
  const delta::Table tombstones = TombstoneTable(warehouse);
  for (int attempt = 1;; ++attempt) {
    auto snap = tombstones.Load();
    if (!snap.ok()) return snap.status();
    auto held = snap->app_versions.find(*app_id);
    const int64_t recorded = held == snap->app_versions.end() ? -1 : held->second;
    if (recorded >= data_snap->version) return Status::Ok();
    auto named = NamedTombstoneFiles(data, recorded + 1);
    if (!named.ok()) return named.status();
    delta::Commit commit;
    int64_t last = -1;
    for (const auto& [version, ref] : *named) {
      if (version > data_snap->version) break;  // a commit newer than what we looked at: its own load appends it
      const std::string file = ref["file"].get<std::string>();
      auto exists = FileExists(tombstones, file);
      if (!exists.ok()) return exists.status();
      if (!*exists) continue;  // vacuumed after the retention: nothing to recover
      delta::AddFile add;
      add.path = file;
      add.size = FieldOr(ref, "size", int64_t{0});
      add.modification_time = fhir::NowMicros() / 1000;
      add.num_records = FieldOr(ref, "count", int64_t{0});
      add.stats_json = FieldOr(ref, "stats", std::string());
      commit.adds.push_back(std::move(add));
      last = version;
    }
    if (commit.adds.empty()) return Status::Ok();
    commit.operation = "WRITE";
    commit.operation_parameters_json = R"({"mode":"Append"})";
    commit.blind_append = false;  // it reads the txn to decide
    commit.txn = std::make_pair(*app_id, last);
    if (snap->version < 0) commit.schema_string = delta::SparkSchemaJson(TombstoneSchema());
    auto written = tombstones.Write(*snap, commit);
    if (written.ok()) return Status::Ok();
    if (!delta::Table::IsConflict(written.status()) || attempt >= kAppendAttempts) {
      return written.status().WithContext("appending tombstones of " + type);
    }
  }
}

Status ForEachTombstone(const fs::path& warehouse, const std::string& type, std::optional<int64_t> since,
                        const std::function<Status(const Tombstone&)>& fn) {
  auto opened = OpenWarehouse(warehouse);
  if (!opened.ok()) return opened.status();
  return ForEachTombstone(*opened, type, since, fn);
}

Status ForEachTombstone(const std::shared_ptr<store::ObjectStore>& warehouse, const std::string& type,
                        std::optional<int64_t> since, const std::function<Status(const Tombstone&)>& fn) {
  const delta::Table data(warehouse, store::WarehouseLayout::Table(type));
  auto data_snap = data.Load();
  if (!data_snap.ok()) return data_snap.status();
  const delta::Table tombstones = TombstoneTable(warehouse);
  auto snap = tombstones.Load();
  if (!snap.ok()) return snap.status();
  // How far the tombstone table holds this data table's deletions; the files of later data
  // commits are read where they lie.
  int64_t recorded = -1;
  if (data_snap->version >= 0) {
    auto app_id = AppIdOf(*data_snap, type);
    auto held = app_id.ok() ? snap->app_versions.find(*app_id) : snap->app_versions.end();
    if (held != snap->app_versions.end()) recorded = held->second;
  }
  std::vector<Tombstone> all;
  for (const auto& add : snap->files) FHIRLAKE_RETURN_IF_ERROR(ReadTombstoneFile(tombstones, add.path, type, all));
  // One pass over the data log: files named by commits the table does not hold yet, and the
  // ids of older commits (commitInfo.deletedIds).
  auto infos = data.CommitInfos();
  if (!infos.ok()) return infos.status();
  for (const auto& [version, text] : *infos) {
    json info = json::parse(text, nullptr, false);
    if (const json* ref = TombstoneReference(info); ref && version > recorded) {
      const std::string file = (*ref)["file"].get<std::string>();
      auto exists = FileExists(tombstones, file);
      if (!exists.ok()) return exists.status();
      if (*exists) FHIRLAKE_RETURN_IF_ERROR(ReadTombstoneFile(tombstones, file, type, all));
      continue;
    }
    if (!info.is_object() || !info.contains("deletedIds") || !info["deletedIds"].is_array()) continue;
    std::string when = FieldOr(info, "transactionTime", "");
    const int64_t commit_micros = FieldOr(info, "timestamp", int64_t{0}) * 1000;
    if (when.empty()) when = fhir::FormatInstant(commit_micros);
    const int64_t at = fhir::ParseFhirTime(when).value_or(commit_micros);
    for (const auto& id : info["deletedIds"]) {
      if (id.is_string()) all.push_back({id.get<std::string>(), when, at, version});
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Tombstone& a, const Tombstone& b) { return a.table_version < b.table_version; });
  for (const auto& t : all) {
    if (since && t.deleted_at < *since) continue;
    FHIRLAKE_RETURN_IF_ERROR(fn(t));
  }
  return Status::Ok();
}

Result<CompactionResult> CompactTombstones(const fs::path& warehouse, CompactionPolicy policy) {
  auto opened = OpenWarehouse(warehouse);
  if (!opened.ok()) return opened.status();
  return CompactTombstones(*opened, std::move(policy));
}

Result<CompactionResult> CompactTombstones(const std::shared_ptr<store::ObjectStore>& warehouse,
                                           CompactionPolicy policy) {
  policy.table_schema = &TombstoneSchema();
  return Compact(TombstoneTable(warehouse), "tombstones", policy);  // a table without a log: nothing to do
}

}  // namespace fhirlake::load
