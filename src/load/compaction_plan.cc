#include "fhirlake/load/compaction_plan.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "fhirlake/load/recency_layout.h"

namespace fhirlake::load {

std::vector<delta::AddFile> PickFilesToCompact(const std::vector<delta::AddFile>& files, const CompactionPolicy& policy) {
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
  // Oldest first; each file's stats are parsed once, not at every comparison.
  std::vector<std::pair<int64_t, delta::AddFile>> by_age;
  by_age.reserve(picked.size());
  for (auto& f : picked) by_age.emplace_back(MinLastUpdated(f).value_or(std::numeric_limits<int64_t>::min()), std::move(f));
  std::stable_sort(by_age.begin(), by_age.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < picked.size(); ++i) picked[i] = std::move(by_age[i].second);
  return picked;
}

}  // namespace fhirlake::load
