// Which data files a compaction rewrites. Small files are merged size-tiered: a file joins
// the smaller ones only while it is at most `CompactionPolicy::size_ratio` times their total,
// and the files picked together stay within `target_file_bytes`. So a compaction rewrites a
// bounded set, a file already grown by compaction waits until enough small files accumulate to
// be worth rewriting it, and each row is rewritten a logarithmic number of times rather than
// at every sync. Files are merged within their tier only: the recent tier is the newest files
// (by meta.lastUpdated) that hold about `CompactionPolicy::recent_fraction` of the rows (a
// file belongs to it when its middle row does), the older tier the rest. So the recency layout's recent files (recency_layout.h) are not merged into
// the files of older rows, which would make every later merge of a recent change rewrite
// those. (It did: two recent files of half the size of an older one drew it in, and from then
// on each sync rewrote the whole table.)
#pragma once

#include <vector>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/compaction.h"

namespace fhirlake::load {

// The files of `files` (a snapshot's) to rewrite under `policy`, ordered by meta.lastUpdated
// (add.stats minValues; files without stats first), which is the order their rows are written
// in: all from one tier, the older one when both have something to do (with
// purge_deletion_vectors, all files are one tier).
// Files with too many deleted rows (and, with purge_deletion_vectors, every file with a
// deletion vector) are always picked; small files by the rule above, two or more of them or
// along with such a file. Empty when there is nothing worth doing.
std::vector<delta::AddFile> PickFilesToCompact(const std::vector<delta::AddFile>& files, const CompactionPolicy& policy);

}  // namespace fhirlake::load
