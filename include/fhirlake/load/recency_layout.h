// load::RecencyLayout: where a table write puts each row, so that the changes a sync brings
// (mostly new resources, then updates of resources changed recently, a few deletions) touch few
// files. Rows are split by meta.lastUpdated: the older rows go to files of the target size, the
// recent ones to small files. A copy-on-write merge rewrites the files holding a replaced or
// deleted row; with this layout an update of a recent resource rewrites a small recent file, a
// new resource only adds to a new small file, and the big files of older rows are rewritten only
// when one of their rows changes. Compaction later rolls the small files into target-size files
// (see load::PickFilesToCompact).
//
// LayoutFiles is the writer of one table write (a load's attempt): two load::DataFiles, one per
// tier, with the same Add/Close/Adds/Keep contract.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "fhirlake/delta/table.h"
#include "fhirlake/load/data_files.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

struct RecencyLayout {
  static constexpr int64_t kNothingRecent = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kAllRecent = std::numeric_limits<int64_t>::min();

  uint64_t target_file_bytes = 256u << 20;  // files of older rows (0: one file)
  uint64_t recent_file_bytes = 8u << 20;    // files of recent rows
  // Rows with meta.lastUpdated (µs since the epoch) at or after this are recent.
  // kNothingRecent: one tier, as without a layout; kAllRecent: every row is recent (rows
  // without meta.lastUpdated count as oldest).
  int64_t recent_from = kNothingRecent;
};

// What a table write knows when it picks its layout.
struct RecencyLayoutOptions {
  uint64_t target_file_bytes = 256u << 20;  // LoadOptions::target_file_bytes
  uint64_t recent_file_bytes = 8u << 20;    // 0: no recent tier
  double recent_fraction = 0.1;             // a full write's newest rows that go to small files
};

// The layout of a write of whole data (a first load, an overwrite, a merge into a table of
// small files only): the newest `recent_fraction` of `times` (meta.lastUpdated of the rows to
// write, µs) are recent. One tier when the write is smaller than one recent file
// (`input_bytes`, the NDJSON it reads, below recent_file_bytes), or without a recent tier or
// target size.
RecencyLayout LayoutForFullWrite(std::vector<int64_t> times, uint64_t input_bytes, const RecencyLayoutOptions& options);

// The layout of a merge into `table_files`: rows newer than every big file (one of
// recent_file_bytes or more, by its add.stats maxValues of meta.lastUpdated) are recent — the
// incoming resources and the kept rows of rewritten small files — while kept rows of a
// rewritten big file stay in big files. nullopt when the table has no big file (then the merge
// is laid out as a full write).
std::optional<RecencyLayout> LayoutForMerge(const std::vector<delta::AddFile>& table_files,
                                            const RecencyLayoutOptions& options);

// The newest meta.lastUpdated of a data file by its add.stats (µs; rounded down to the
// millisecond, as stats keep it), or nullopt when the stats do not say.
std::optional<int64_t> MaxLastUpdated(const delta::AddFile& file);
// The oldest, likewise.
std::optional<int64_t> MinLastUpdated(const delta::AddFile& file);

class LayoutFiles {
 public:
  // Files go to `table`; `schema` must outlive this object.
  LayoutFiles(const delta::Table& table, const parquet::Schema& schema, const parquet::WriterOptions& options,
              const RecencyLayout& layout);

  // As DataFiles::Add: `line` is padded as NdjsonReader pads; it goes to the tier its
  // meta.lastUpdated falls in.
  Status Add(std::string_view line, JsonShredder::RowInfo* check, Status* refused);
  // As above, for a caller that has already read the row's meta.lastUpdated (µs; INT64_MIN
  // when it has none): the line is not parsed again to pick its tier.
  Status Add(std::string_view line, int64_t last_updated, JsonShredder::RowInfo* check, Status* refused);
  // The tier every row of the data file `file` belongs in, by its add.stats (true: recent), or
  // nullopt when its rows may fall in both or its stats do not say.
  std::optional<bool> TierOf(const delta::AddFile& file) const;
  // As DataFiles::Copy, into the tier `recent` says; adds the rows copied to `copied`.
  Status Copy(bool recent, parquet::FileReader& reader, size_t group, const std::vector<uint8_t>& keep,
              uint64_t& copied);
  // Finishes both tiers' open files.
  Status Close();
  // The add actions of every file written, older tier first. REQUIRES: Close() succeeded.
  std::vector<delta::AddFile> Adds() const;
  // The files are committed: the destructor leaves them.
  void Keep();

  // Joins the small files (under `below` bytes) that `parts` wrote, a tier at a time, into the
  // files of `into` (of the same table, schema and layout) when a tier has two or more of them,
  // and finishes `into`'s files. A write on several threads ends with a file per thread and
  // tier; joined before the commit, they are not left for a compaction to merge right after,
  // whose replaced copies the retention would keep. REQUIRES: each part is closed.
  static Status JoinSmallFiles(const std::vector<LayoutFiles*>& parts, uint64_t below, LayoutFiles& into);

 private:
  bool IsRecent(std::string_view line);
  bool IsRecent(int64_t last_updated) const;

  RecencyLayout layout_;
  DataFiles older_, recent_;
  simdjson::ondemand::parser parser_;
};

}  // namespace fhirlake::load
