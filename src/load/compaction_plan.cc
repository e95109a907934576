#include "fhirlake/load/compaction_plan.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "fhirlake/load/recency_layout.h"

namespace fhirlake::load {

namespace {

// The size-tiered pick among `files` (one tier), unordered.
std::vector<delta::AddFile> PickWithin(const std::vector<delta::AddFile>& files, const CompactionPolicy& policy) {
  std::vector<delta::AddFile> picked, small;
  uint64_t total = 0;
  for (const auto& f : files) {
    const int64_t deleted = f.deletion_vector ? f.deletion_vector->cardinality : 0;
    const bool holey = f.num_records > 0 && static_cast<double>(deleted) > policy.deleted_fraction * f.num_records;
    if (holey || (policy.purge_deletion_vectors && f.deletion_vector)) {
      picked.push_back(f);
      total += static_cast<uint64_t>(f.size);
    } else if (static_cast<uint64_t>(f.size) < policy.small_file_bytes) {
      small.push_back(f);
    }
  }
  const bool forced = !picked.empty();
  std::stable_sort(small.begin(), small.end(), [](const delta::AddFile& a, const delta::AddFile& b) { return a.size < b.size; });
  size_t small_picked = 0;
  for (const auto& f : small) {
    const auto size = static_cast<uint64_t>(f.size);
    if (total > 0 && static_cast<double>(size) > policy.size_ratio * static_cast<double>(total)) break;
    if (policy.target_file_bytes > 0 && small_picked >= 2 && total + size > policy.target_file_bytes) break;
    picked.push_back(f);
    total += size;
    ++small_picked;
  }
  if (!forced && small_picked < 2) return {};
  return picked;
}

}  // namespace

std::vector<delta::AddFile> PickFilesToCompact(const std::vector<delta::AddFile>& files, const CompactionPolicy& policy) {
  // Each file's meta.lastUpdated range, parsed once; files without stats count as oldest.
  struct Dated {
    int64_t min, max;
    const delta::AddFile* file;
  };
  std::vector<Dated> dated;
  dated.reserve(files.size());
  int64_t rows = 0;
  uint64_t bytes = 0;
  for (const auto& f : files) {
    bytes += static_cast<uint64_t>(std::max<int64_t>(0, f.size));
    const int64_t min = MinLastUpdated(f).value_or(std::numeric_limits<int64_t>::min());
    dated.push_back({min, std::max(min, MaxLastUpdated(f).value_or(min)), &f});
    rows += std::max<int64_t>(0, f.num_records);
  }
  // The recent tier: the newest files (by their newest row) while the middle of each lies
  // within the newest recent_fraction of the rows (so a file of older rows next to a recent
  // tier a little short of that share is not taken in). A table smaller than one recent file
  // has no layout (recency_layout.h), and purging deletion vectors asks for every file that
  // has one: then one tier.
  std::stable_sort(dated.begin(), dated.end(), [](const Dated& a, const Dated& b) { return a.max > b.max; });
  std::vector<delta::AddFile> older, recent;
  int64_t newer_rows = 0;
  for (const Dated& d : dated) {
    // A file without meta.lastUpdated in its stats (a table without it, like the tombstones')
    // is in the older tier.
    const bool is_recent = !policy.purge_deletion_vectors && bytes >= policy.recent_file_bytes &&
                           d.max != std::numeric_limits<int64_t>::min() &&
                           static_cast<double>(newer_rows) + static_cast<double>(d.file->num_records) / 2 <
                               policy.recent_fraction * static_cast<double>(rows);
    (is_recent ? recent : older).push_back(*d.file);
    newer_rows += std::max<int64_t>(0, d.file->num_records);
  }
  std::vector<delta::AddFile> picked = PickWithin(older, policy);
  if (picked.empty()) picked = PickWithin(recent, policy);
  // Oldest first, the order their rows are written in, by the ranges parsed above.
  std::unordered_map<std::string_view, int64_t> oldest;
  for (const Dated& d : dated) oldest.emplace(d.file->path, d.min);
  std::stable_sort(picked.begin(), picked.end(),
                   [&](const delta::AddFile& a, const delta::AddFile& b) { return oldest[a.path] < oldest[b.path]; });
  return picked;
}

}  // namespace fhirlake::load
