#include "fhirlake/sync/maintenance.h"

#include <nlohmann/json.hpp>

#include <cstdio>

#include "fhirlake/load/tombstones.h"
#include "fhirlake/store/warehouse_layout.h"

namespace fhirlake::sync {
namespace fs = std::filesystem;
using nlohmann::json;

MaintenancePolicy DefaultMaintenancePolicy() {
  MaintenancePolicy policy;
  policy.table.checkpoint_interval = delta::kDefaultCheckpointInterval;
  return policy;
}

uint64_t LoadSmallFileBytes(const MaintenancePolicy& policy) {
  return policy.enabled && policy.compact ? policy.compaction.small_file_bytes : 0;
}

TableMaintenance MaintainTable(const fs::path& warehouse, const std::string& type, const MaintenancePolicy& policy) {
  auto opened = store::OpenStore(warehouse.string());
  if (!opened.ok()) {
    TableMaintenance out;
    out.type = type;
    out.status = opened.status();
    return out;
  }
  return MaintainTable(std::shared_ptr<store::ObjectStore>(std::move(opened.value())), type, policy);
}

TableMaintenance MaintainTable(const std::shared_ptr<store::ObjectStore>& warehouse, const std::string& type,
                               const MaintenancePolicy& policy) {
  TableMaintenance out;
  out.type = type;
  // A table without a log: compaction and delta::Maintain both find version -1 and do nothing.
  const delta::Table table(warehouse, store::WarehouseLayout::Table(type));
  // Compaction first: its commit is then part of the checkpoint, and vacuum sees the files it
  // replaced (kept for the retention window like any removed file).
  if (policy.compact && !policy.table.dry_run) {
    // The tombstone table (WAREHOUSE/_fhirlake/tombstones) has its own schema.
    auto compacted = type == store::WarehouseLayout::kTombstones ? load::CompactTombstones(warehouse, policy.compaction)
                                                                 : load::Compact(table, type, policy.compaction);
    if (!compacted.ok()) {
      out.status = compacted.status().WithContext("compaction");
      return out;
    }
    out.compaction = *compacted;
  }
  auto report = delta::Maintain(table, policy.table);
  if (!report.ok()) {
    out.status = report.status();
    return out;
  }
  out.report = std::move(report.value());
  return out;
}

std::string DescribeMaintenance(const TableMaintenance& m) {
  if (!m.status.ok()) return m.type + ": maintenance failed: " + m.status.message();
  std::string text;
  auto add = [&text](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (m.compaction.version >= 0) {
    add("compacted " + std::to_string(m.compaction.files_removed) + " files into " +
        std::to_string(m.compaction.files_added));
  }
  if (m.report.checkpoint_written) add("checkpoint at version " + std::to_string(m.report.version));
  if (!m.report.deleted_files.empty()) {
    char bytes[32];
    std::snprintf(bytes, sizeof bytes, "%.1f MB", static_cast<double>(m.report.deleted_bytes) / (1 << 20));
    add(std::to_string(m.report.deleted_files.size()) + " data files deleted (" + bytes + ")");
  }
  if (!m.report.deleted_log_files.empty()) add(std::to_string(m.report.deleted_log_files.size()) + " log files deleted");
  return m.type + ": maintenance: " + (text.empty() ? "nothing to do" : text);
}

std::string MaintenanceJson(const TableMaintenance& m) {
  json j = {{"table", m.type}};
  if (!m.status.ok()) {
    j["error"] = m.status.message();
    return j.dump();
  }
  j["version"] = m.report.version;
  j["checkpoint"] = m.report.checkpoint_written;
  j["filesCompacted"] = m.compaction.files_removed;
  j["filesWritten"] = m.compaction.files_added;
  j["filesDeleted"] = m.report.deleted_files.size();
  j["bytesFreed"] = m.report.deleted_bytes;
  j["logFilesDeleted"] = m.report.deleted_log_files.size();
  return j.dump();
}

}  // namespace fhirlake::sync
