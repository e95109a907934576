#include "fhirlake/delta/maintenance.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "fhirlake/delta/checkpoint.h"
#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/store/crash_point.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;

namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t ModifiedMillis(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// A file that belongs to the table's data: not the log, not hidden ('.' or '_' first, as
// Delta's VACUUM skips them, except partition folders holding '=').
bool IsDataArea(const fs::path& relative) {
  for (const auto& part : relative) {
    const std::string s = part.string();
    if (s.empty()) continue;
    if ((s[0] == '.' || s[0] == '_') && s.find('=') == std::string::npos) return false;
  }
  return true;
}

std::string Relative(const fs::path& root, const fs::path& file) { return file.lexically_relative(root).generic_string(); }

// The files (relative paths) a data file entry and its deletion vector keep alive.
void Reference(const fs::path& root, const std::string& path, const std::optional<DeletionVector>& dv,
               std::set<std::string>& keep) {
  keep.insert(fs::path(path).lexically_normal().generic_string());
  if (dv && dv->storage_type != "i") {
    fs::path file = DeletionVectorFile(root, *dv);
    keep.insert(file.is_absolute() ? Relative(root, file) : file.lexically_normal().generic_string());
  }
}

Status Vacuum(const fs::path& root, const Snapshot& snap, const MaintenancePolicy& policy, int64_t now,
              MaintenanceReport& report) {
  const int64_t horizon = now - policy.retention_ms;
  std::set<std::string> keep;
  for (const AddFile& f : snap.files) Reference(root, f.path, f.deletion_vector, keep);
  for (const RemovedFile& f : snap.tombstones) {
    if (f.deletion_timestamp >= horizon) Reference(root, f.path, f.deletion_vector, keep);
  }
  std::error_code ec;
  std::vector<std::pair<fs::path, int64_t>> doomed;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return IoError("cannot list " + root.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return IoError("cannot list " + root.string() + ": " + ec.message());
    const fs::path rel = it->path().lexically_relative(root);
    if (!IsDataArea(rel)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (keep.count(rel.generic_string())) continue;
    // A file younger than the window may belong to a commit still being written.
    if (ModifiedMillis(it->path()) >= horizon) continue;
    doomed.emplace_back(it->path(), static_cast<int64_t>(it->file_size(ec)));
  }
  for (const auto& [file, size] : doomed) {
    report.deleted_files.push_back(Relative(root, file));
    report.deleted_bytes += size;
    if (policy.dry_run) continue;
    fs::remove(file, ec);
    if (ec) return IoError("cannot delete " + file.string() + ": " + ec.message());
    // Delta's own checksum files beside data files go with them.
    fs::remove(file.parent_path() / ("." + file.filename().string() + ".crc"), ec);
    store::CrashPoint("vacuum-after-delete");
  }
  return Status::Ok();
}

Status CleanLog(const fs::path& root, const Snapshot& snap, const MaintenancePolicy& policy, int64_t now,
                MaintenanceReport& report) {
  auto listed = ListLogFiles(root);
  if (!listed.ok()) return listed.status();
  const int64_t horizon = now - (policy.log_retention_ms > 0 ? policy.log_retention_ms : LogRetentionMillis(snap));
  // The newest checkpoint whose own commit has expired: everything before it can go, and every
  // version from it on can still be rebuilt.
  int64_t boundary = -1;
  std::map<int64_t, int64_t> commit_time;
  for (const LogFile& f : *listed) {
    if (f.kind == LogFileKind::kCommit) commit_time[f.version] = ModifiedMillis(f.path);
  }
  for (const LogFile& f : *listed) {
    if (f.kind == LogFileKind::kCommit || f.version > snap.checkpoint_version) continue;
    auto t = commit_time.find(f.version);
    const int64_t when = t != commit_time.end() ? t->second : ModifiedMillis(f.path);
    if (when < horizon) boundary = std::max(boundary, f.version);
  }
  std::error_code ec;
  for (const LogFile& f : *listed) {
    if (f.version >= boundary) continue;
    report.deleted_log_files.push_back(f.path.filename().string());
    if (policy.dry_run) continue;
    fs::remove(f.path, ec);
    if (ec) return IoError("cannot delete " + f.path.string() + ": " + ec.message());
    fs::remove(f.path.parent_path() / ("." + f.path.filename().string() + ".crc"), ec);
  }
  return Status::Ok();
}

}  // namespace

Result<MaintenanceReport> Maintain(const fs::path& root, const MaintenancePolicy& policy) {
  const int64_t now = policy.now_ms ? policy.now_ms : NowMillis();
  MaintenanceReport report;
  Table table(root);
  auto snap = table.Load();
  if (!snap.ok()) return snap.status();
  report.version = snap->version;
  if (snap->version < 0) return report;
  const int64_t floor = TombstoneRetentionMillis(*snap);
  if (policy.retention_ms < floor && !policy.allow_short_retention) {
    return InvalidArgument("a retention of " + std::to_string(policy.retention_ms / 3600000) + " hours is below " +
                           root.string() + "'s delta.deletedFileRetentionDuration (" + std::to_string(floor / 3600000) +
                           " hours): readers of older versions, and writers still committing, could lose files. "
                           "Pass --allow-short-retention if no such reader or writer exists");
  }
  if (!snap->write_refusal.empty() && policy.vacuum) {
    return InvalidArgument(root.string() + ": " + snap->write_refusal);
  }
  if (snap->protocol.HasWriterFeature("vacuumProtocolCheck") && !snap->write_refusal.empty()) {
    return InvalidArgument(root.string() + ": vacuum needs write support for every feature of the table");
  }
  if (policy.checkpoint && snap->version - snap->checkpoint_version >= std::max<int64_t>(1, policy.checkpoint_interval)) {
    if (!policy.dry_run) {
      FHIRLAKE_RETURN_IF_ERROR(WriteCheckpoint(root, *snap, now));
      snap->checkpoint_version = snap->version;
    }
    report.checkpoint_written = true;
  }
  if (policy.vacuum) FHIRLAKE_RETURN_IF_ERROR(Vacuum(root, *snap, policy, now, report));
  if (policy.clean_log) FHIRLAKE_RETURN_IF_ERROR(CleanLog(root, *snap, policy, now, report));
  return report;
}

Result<TableUsage> MeasureUsage(const fs::path& root, const Snapshot& snap) {
  TableUsage usage;
  std::set<std::string> live;
  for (const AddFile& f : snap.files) Reference(root, f.path, f.deletion_vector, live);
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return IoError("cannot list " + root.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return IoError("cannot list " + root.string() + ": " + ec.message());
    if (!it->is_regular_file()) continue;
    const int64_t size = static_cast<int64_t>(it->file_size(ec));
    usage.disk_bytes += size;
    const fs::path rel = it->path().lexically_relative(root);
    if (live.count(rel.generic_string())) usage.live_bytes += size;
    if (ParseLogFileName(it->path().filename().string())) ++usage.log_files;
  }
  return usage;
}

}  // namespace fhirlake::delta
