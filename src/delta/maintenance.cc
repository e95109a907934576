#include "fhirlake/delta/maintenance.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "fhirlake/delta/checkpoint.h"
#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/warehouse_layout.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;

namespace {

// A duration for a message, in the largest unit that states it exactly: "1 hour", "168 hours",
// "30 minutes", "0 seconds".
std::string SpanText(int64_t ms) {
  struct Unit {
    int64_t ms;
    const char* name;
  };
  for (const Unit u : {Unit{3600000, "hour"}, Unit{60000, "minute"}, Unit{1000, "second"}, Unit{1, "millisecond"}}) {
    if (ms % u.ms != 0 || (ms == 0 && u.ms != 1000)) continue;
    const int64_t n = ms / u.ms;
    return std::to_string(n) + " " + u.name + (n == 1 ? "" : "s");
  }
  return std::to_string(ms) + " milliseconds";
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A file that belongs to the table's data: not the log, not hidden ('.' or '_' first, as
// Delta's VACUUM skips them, except partition folders holding '=').
bool IsDataArea(std::string_view relative) {
  while (!relative.empty()) {
    const size_t slash = relative.find('/');
    const std::string_view part = relative.substr(0, slash);
    if (!part.empty() && (part[0] == '.' || part[0] == '_') && part.find('=') == std::string_view::npos) return false;
    if (slash == std::string_view::npos) break;
    relative.remove_prefix(slash + 1);
  }
  return true;
}

// `<dir>/.<name>.crc`: Delta's own checksum file beside `relative`.
std::string CrcSibling(std::string_view relative) {
  const size_t slash = relative.rfind('/');
  const std::string_view dir = slash == std::string_view::npos ? std::string_view() : relative.substr(0, slash);
  const std::string_view name = slash == std::string_view::npos ? relative : relative.substr(slash + 1);
  return store::WarehouseLayout::Join(dir, "." + std::string(name) + ".crc");
}

// The last '/'-separated part of a key.
std::string BaseName(std::string_view key) {
  const size_t slash = key.rfind('/');
  return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

// A path of an action (decoded), as a key relative to the table's root: relative paths as they
// are; absolute ones (a path, a file: URI, or a URI under the table's own location, as other
// writers may record them) made relative when they lie under the root; nullopt for a file
// elsewhere, which is not among the table's objects.
std::optional<std::string> TableKey(const Table& table, std::string_view path) {
  const std::string root = table.root().generic_string();
  const bool uri = path.find("://") != std::string_view::npos;
  if (!uri && path.rfind("file:", 0) != 0 && (path.empty() || path[0] != '/')) {
    return fs::path(path).lexically_normal().generic_string();
  }
  if (uri && path.rfind("file:", 0) != 0) {  // s3://bucket/... under an object-store table's root
    if (path.size() > root.size() && path.rfind(root, 0) == 0 && path[root.size()] == '/') {
      return fs::path(path.substr(root.size() + 1)).lexically_normal().generic_string();
    }
    return std::nullopt;
  }
  std::error_code ec;
  const fs::path base = fs::absolute(table.root(), ec).lexically_normal();
  const fs::path relative = fs::path(WithoutFileScheme(path)).lexically_normal().lexically_relative(base);
  if (ec || relative.empty() || *relative.begin() == "..") return std::nullopt;
  return relative.generic_string();
}

// The files (keys relative to the table's root) a data file entry and its deletion vector
// keep alive.
void Reference(const Table& table, const std::string& path, const std::optional<DeletionVector>& dv,
               std::set<std::string>& keep) {
  if (auto key = TableKey(table, path)) keep.insert(*key);
  if (!dv || dv->storage_type == "i") return;
  auto key = dv->storage_type == "u" ? TableKey(table, DeletionVectorRelativePath(*dv))
                                     : TableKey(table, dv->path_or_inline_dv);
  if (key) keep.insert(*key);
}

// Every object of the table, keys relative to the table's root.
Result<std::vector<store::ObjectInfo>> ListTable(const Table& table) {
  const std::string prefix = table.key().empty() ? std::string() : table.key() + "/";
  auto listed = store::ListAll(table.store(), prefix);
  if (!listed.ok()) return listed.status().WithContext("cannot list " + table.root().string());
  for (store::ObjectInfo& object : *listed) object.key.erase(0, prefix.size());
  return listed;
}

Status Vacuum(const Table& table, const Snapshot& snap, const MaintenancePolicy& policy, int64_t now,
              MaintenanceReport& report) {
  const int64_t horizon = now - policy.retention_ms;
  std::set<std::string> keep;
  for (const AddFile& f : snap.files) Reference(table, f.path, f.deletion_vector, keep);
  for (const RemovedFile& f : snap.tombstones) {
    if (f.deletion_timestamp >= horizon) Reference(table, f.path, f.deletion_vector, keep);
  }
  auto listed = ListTable(table);
  if (!listed.ok()) return listed.status();
  std::vector<store::ObjectInfo> doomed;
  for (store::ObjectInfo& object : *listed) {
    if (!IsDataArea(object.key) || keep.count(object.key)) continue;
    // A file younger than the window may belong to a commit still being written.
    if (object.modified_ms >= horizon) continue;
    doomed.push_back(std::move(object));
  }
  for (const store::ObjectInfo& file : doomed) {
    report.deleted_files.push_back(file.key);
    report.deleted_bytes += static_cast<int64_t>(file.size);
    if (policy.dry_run) continue;
    FHIRLAKE_RETURN_IF_ERROR(table.store().Delete(table.Key(file.key)).WithContext("vacuum of " + table.root().string()));
    // Delta's own checksum files beside data files go with them.
    Status crc = table.store().Delete(table.Key(CrcSibling(file.key)));
    (void)crc;  // a checksum file left behind is harmless: readers ignore it
    store::CrashPoint("vacuum-after-delete");
  }
  return Status::Ok();
}

Status CleanLog(const Table& table, const Snapshot& snap, const MaintenancePolicy& policy, int64_t now,
                MaintenanceReport& report) {
  auto listed = ListLogFiles(table.store(), table.key());
  if (!listed.ok()) return listed.status();
  const int64_t horizon = now - (policy.log_retention_ms > 0 ? policy.log_retention_ms : LogRetentionMillis(snap));
  // The newest checkpoint whose own commit has expired: everything before it can go, and every
  // version from it on can still be rebuilt.
  int64_t boundary = -1;
  std::map<int64_t, int64_t> commit_time;
  for (const LogFile& f : *listed) {
    if (f.kind == LogFileKind::kCommit) commit_time[f.version] = f.modified_ms;
  }
  // Only a whole checkpoint can stand in for the commits before it: a classic one, or a
  // multi-part one with every part present (readers ignore one with parts missing).
  std::map<std::pair<int64_t, int>, int> parts_present;  // (version, parts) → parts listed
  for (const LogFile& f : *listed) {
    if (f.kind == LogFileKind::kCheckpointPart) ++parts_present[{f.version, f.parts}];
  }
  for (const LogFile& f : *listed) {
    if ((f.kind != LogFileKind::kCheckpoint && f.kind != LogFileKind::kCheckpointPart) ||
        f.version > snap.checkpoint_version) {
      continue;
    }
    if (f.kind == LogFileKind::kCheckpointPart && parts_present[{f.version, f.parts}] < f.parts) continue;
    auto t = commit_time.find(f.version);
    const int64_t when = t != commit_time.end() ? t->second : f.modified_ms;
    if (when < horizon) boundary = std::max(boundary, f.version);
  }
  for (const LogFile& f : *listed) {
    if (f.version >= boundary) continue;
    report.deleted_log_files.push_back(BaseName(f.key));
    if (policy.dry_run) continue;
    FHIRLAKE_RETURN_IF_ERROR(table.store().Delete(f.key).WithContext("log cleanup of " + table.root().string()));
    Status crc = table.store().Delete(CrcSibling(f.key));
    (void)crc;  // a checksum file left behind is harmless: readers ignore it
  }
  return Status::Ok();
}

}  // namespace

Result<MaintenanceReport> Maintain(const fs::path& root, const MaintenancePolicy& policy) {
  return Maintain(Table(root), policy);
}

Result<MaintenanceReport> Maintain(const Table& table, const MaintenancePolicy& policy) {
  const int64_t now = policy.now_ms ? policy.now_ms : NowMillis();
  const std::string name = table.root().string();
  MaintenanceReport report;
  auto snap = table.Load();
  if (!snap.ok()) return snap.status();
  report.version = snap->version;
  if (snap->version < 0) return report;
  const int64_t floor = TombstoneRetentionMillis(*snap);
  if (policy.retention_ms < floor && !policy.allow_short_retention) {
    return InvalidArgument("a retention of " + SpanText(policy.retention_ms) + " is below " + name +
                           "'s delta.deletedFileRetentionDuration (" + SpanText(floor) +
                           "): readers of older versions, and writers still committing, could lose files. "
                           "Pass --allow-short-retention if no such reader or writer exists");
  }
  if (!snap->write_refusal.empty() && policy.vacuum) {
    return InvalidArgument(name + ": " + snap->write_refusal);
  }
  if (snap->protocol.HasWriterFeature("vacuumProtocolCheck") && !snap->write_refusal.empty()) {
    return InvalidArgument(name + ": vacuum needs write support for every feature of the table");
  }
  if (policy.checkpoint && snap->version - snap->checkpoint_version >= std::max<int64_t>(1, policy.checkpoint_interval)) {
    if (!policy.dry_run) {
      FHIRLAKE_RETURN_IF_ERROR(WriteCheckpoint(table.store(), table.key(), *snap, now));
      snap->checkpoint_version = snap->version;
    }
    report.checkpoint_written = true;
  }
  if (policy.vacuum) FHIRLAKE_RETURN_IF_ERROR(Vacuum(table, *snap, policy, now, report));
  if (policy.clean_log) FHIRLAKE_RETURN_IF_ERROR(CleanLog(table, *snap, policy, now, report));
  return report;
}

Result<TableUsage> MeasureUsage(const fs::path& root, const Snapshot& snap) { return MeasureUsage(Table(root), snap); }

Result<TableUsage> MeasureUsage(const Table& table, const Snapshot& snap) {
  TableUsage usage;
  std::set<std::string> live;
  for (const AddFile& f : snap.files) Reference(table, f.path, f.deletion_vector, live);
  auto listed = ListTable(table);
  if (!listed.ok()) return listed.status();
  for (const store::ObjectInfo& object : *listed) {
    const int64_t size = static_cast<int64_t>(object.size);
    usage.disk_bytes += size;
    if (live.count(object.key)) usage.live_bytes += size;
    if (ParseLogFileName(BaseName(object.key))) ++usage.log_files;
  }
  return usage;
}

}  // namespace fhirlake::delta
