#include "fhirlake/delta/log_files.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "fhirlake/store/warehouse_layout.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;

namespace {

bool Digits(std::string_view s, size_t n) {
  return s.size() >= n && s.substr(0, n).find_first_not_of("0123456789") == std::string_view::npos;
}

int64_t Number(std::string_view s) {
  int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// The 20 digits every log file name of `version` starts with.
std::string VersionDigits(int64_t version) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(version));
  return buf;
}

}  // namespace

std::string CommitFileName(int64_t version) { return VersionDigits(version) + ".json"; }

std::string CheckpointFileName(int64_t version) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%020lld.checkpoint.parquet", static_cast<long long>(version));
  return buf;
}

std::string CheckpointPartFileName(int64_t version, int part, int parts) {
  char buf[72];
  std::snprintf(buf, sizeof buf, "%020lld.checkpoint.%010d.%010d.parquet", static_cast<long long>(version), part, parts);
  return buf;
}

std::optional<LogFile> ParseLogFileName(std::string_view name) {
  if (!Digits(name, 20)) return std::nullopt;
  LogFile f;
  f.version = Number(name.substr(0, 20));
  std::string_view rest = name.substr(20);
  if (rest == ".json") {
    f.kind = LogFileKind::kCommit;
    return f;
  }
  if (rest == ".checkpoint.parquet") {
    f.kind = LogFileKind::kCheckpoint;
    return f;
  }
  if (rest == ".crc") {
    f.kind = LogFileKind::kChecksum;
    return f;
  }
  // .<20 digits>.compacted.json: the commits from the first version through this one
  constexpr std::string_view kCompacted = ".compacted.json";
  if (rest.size() == 1 + 20 + kCompacted.size() && rest[0] == '.' && Digits(rest.substr(1), 20) &&
      rest.ends_with(kCompacted)) {
    f.kind = LogFileKind::kCompacted;
    f.version = Number(rest.substr(1, 20));
    return f;
  }
  // .checkpoint.<10 digits>.<10 digits>.parquet
  constexpr std::string_view kPrefix = ".checkpoint.";
  if (rest.size() == kPrefix.size() + 10 + 1 + 10 + 8 && rest.starts_with(kPrefix) && rest.ends_with(".parquet")) {
    std::string_view nums = rest.substr(kPrefix.size());
    if (Digits(nums, 10) && nums[10] == '.' && Digits(nums.substr(11), 10)) {
      f.kind = LogFileKind::kCheckpointPart;
      f.part = static_cast<int>(Number(nums.substr(0, 10)));
      f.parts = static_cast<int>(Number(nums.substr(11, 10)));
      if (f.part >= 1 && f.part <= f.parts) return f;
    }
  }
  return std::nullopt;
}

Result<std::vector<LogFile>> ListLogFiles(store::ObjectStore& store, std::string_view table_key, int64_t from_version) {
  std::vector<LogFile> out;
  const std::string log = store::WarehouseLayout::DeltaLog(table_key) + "/";
  // Every name of a version starts with its 20 digits, and sorts after them alone.
  auto listed = store::ListAll(store, log, from_version > 0 ? log + VersionDigits(from_version) : std::string());
  if (!listed.ok()) return listed.status().WithContext("cannot list the Delta log of " + store.Describe());
  for (const store::ObjectInfo& object : *listed) {
    std::string_view name = std::string_view(object.key).substr(log.size());
    if (name.find('/') != std::string_view::npos) continue;  // _sidecars/ and the like
    auto f = ParseLogFileName(name);
    if (!f) continue;
    f->key = object.key;
    f->path = object.key;
    f->modified_ms = object.modified_ms;
    out.push_back(std::move(*f));
  }
  // Per version: the commit, then a classic checkpoint, then multi-part checkpoints by their
  // part count and part (two checkpoints of one version may coexist).
  std::sort(out.begin(), out.end(), [](const LogFile& a, const LogFile& b) {
    return std::tie(a.version, a.kind, a.parts, a.part) < std::tie(b.version, b.kind, b.parts, b.part);
  });
  return out;
}

Result<std::vector<LogFile>> ListLogFiles(const fs::path& table_root) {
  auto local = store::NewLocalStore(table_root.string());
  auto listed = ListLogFiles(*local, "");
  if (!listed.ok()) return listed.status();
  for (LogFile& f : *listed) f.path = table_root / f.key;
  return listed;
}

}  // namespace fhirlake::delta
