// ColumnWriter: one leaf column of the row group being written. It buffers repetition and
// definition levels and values (memory is bounded by the row group), then writes the column
// chunk: a dictionary page and RLE_DICTIONARY data pages for strings that repeat, PLAIN pages
// otherwise, each page compressed, with min/max/null-count statistics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/parquet/schema.h"
#include "fhirlake/parquet/value_buffer.h"
#include "fhirlake/status.h"

namespace fhirlake::parquet {

class ThriftCompactWriter;

enum class Compression : int32_t { kUncompressed = 0, kSnappy = 1, kZstd = 6 };

struct ColumnChunkInfo {  // what the footer needs about a written chunk
  int64_t file_offset = 0;
  int64_t data_page_offset = 0;
  int64_t dictionary_page_offset = -1;
  int64_t num_values = 0;
  int64_t uncompressed_size = 0;
  int64_t compressed_size = 0;
  int64_t null_count = 0;
  bool dictionary = false;
  std::string min, max;  // PLAIN-encoded; empty with has_min_max false
  bool has_min_max = false;
};

// What one column held across every chunk written so far (the whole file once the writer is
// closed), for table-level statistics such as Delta's `add.stats`.
struct ColumnStats {
  static constexpr size_t kBoundBytes = 260;  // BYTE_ARRAY bounds keep at most this prefix

  int64_t levels = 0;  // definition levels written (one per row for a leaf without a repeated ancestor)
  int64_t nulls = 0;   // levels without a value
  // Leaves with a repeated ancestor: rows counted by the definition level of their first
  // level; rows[d] for d < node.max_def are the rows where an ancestor `node` is null.
  std::vector<int64_t> rows_by_def;
  // Bounds of the present values, PLAIN-encoded; BYTE_ARRAY values are the raw bytes, cut to
  // kBoundBytes: `min` is then still a lower bound, and `max_cut` says that the maximum
  // value continues past `max` (so `max` alone is not an upper bound).
  bool has_bounds = false;
  std::string min, max;
  bool max_cut = false;
};

// Nulls of whole groups: an object or list absent below a present ancestor gives every leaf
// below it the same (rep, def) level with no value. A record shredder reports such a null once
// for the group (FileWriter::AddGroupNull) instead of once per leaf — a FHIR schema has
// hundreds of leaves under elements most rows lack — and each leaf's ColumnWriter turns the
// nulls of its ancestors into levels in bulk, when it next writes a level or when its chunk
// ends. Shared by the FileWriter's columns; cleared with each row group.
struct GroupNulls {
  struct Null {
    uint64_t seq;  // order among the row group's group nulls
    uint64_t row;  // the row (in the row group) it belongs to
    uint16_t rep, def;
  };
  std::vector<std::vector<Null>> by_group;  // by SchemaNode::group_index
  std::vector<uint64_t> end_seq;            // by group: 1 + the seq of its last null (0: none)
  uint64_t seq = 0;                         // nulls recorded in this row group
  // Groups that have had a null in this file, and how many: most groups never do (those
  // at the top level, where absence is padding, and the repeated middle of every list), and
  // a leaf need not look at them.
  std::vector<uint8_t> used;
  uint32_t used_groups = 0;

  void Resize(size_t groups) {
    by_group.resize(groups);
    end_seq.resize(groups);
    used.resize(groups);
  }
  void Add(int group, uint64_t row, uint16_t rep, uint16_t def) {
    const auto g = static_cast<size_t>(group);
    by_group[g].push_back({seq, row, rep, def});
    end_seq[g] = ++seq;
    if (!used[g]) {
      used[g] = 1;
      ++used_groups;
    }
  }
  void Clear() {  // for the next row group
    for (auto& nulls : by_group) nulls.clear();
    std::fill(end_seq.begin(), end_seq.end(), 0);
    seq = 0;
  }
};

struct ColumnWriterOptions {
  Compression compression = Compression::kZstd;
  int zstd_level = 3;
  size_t page_bytes = 1u << 20;
  size_t dictionary_limit = 1u << 20;
};

class ColumnWriter {
 public:
  // With `current_row` (the 0-based row being written, kept by the FileWriter), rows that never
  // reach this column are nulls at level 0, filled in lazily: a row whose whole top-level
  // element is absent costs nothing until the column's next value or the end of the chunk.
  // The leaf's levels also come from the nulls in `groups` of its ancestor groups `ancestors`
  // (SchemaNode::group_index, outermost first). `options` (page size, compression, dictionary
  // limit) and `groups` must outlive the writer. A BYTE_ARRAY leaf outside any group or list
  // whose values do not repeat is written page by page as its values arrive (see below).
  ColumnWriter(const SchemaNode& leaf, const ColumnWriterOptions& options, const uint64_t* current_row,
               const GroupNulls* groups, std::vector<int> ancestors);

  // A missing value whose innermost present ancestor gives definition level `def`.
  void AddNull(uint16_t rep, uint16_t def);
  // `count` rows (repetition level 0) of a missing value at definition level `def`, in one go.
  void AddNullRows(uint16_t def, size_t count);
  // `count` missing values, the i-th at levels reps[i] (reps null: 0) and defs[i]: AddNull
  // for each, in one call.
  void AddNulls(const uint32_t* reps, const uint32_t* defs, size_t count);
  // A present value (definition level = max_def).
  void AddBool(uint16_t rep, bool v);
  void AddInt32(uint16_t rep, int32_t v);
  void AddInt64(uint16_t rep, int64_t v);
  void AddDouble(uint16_t rep, double v);
  void AddBytes(uint16_t rep, std::string_view v);
  // FIXED_LEN_BYTE_ARRAY: `v` has exactly the leaf's type_length bytes (DECIMAL: big-endian).
  void AddFixed(uint16_t rep, std::string_view v);

  // Ends the chunk's rows at `rows`: rows the column has not seen become level-0 nulls. A
  // chunk the rows never reached is kept as a count (written as one run), not as levels.
  void PadRows(uint64_t rows);

  // About the bytes the buffered rows will take encoded (before compression), for row-group
  // sizing: the PLAIN values plus a couple of bytes per run of equal levels (the RLE hybrid
  // encodes a run in a few bytes, so a column of nulls costs almost nothing, while padding
  // to the current row is one run).
  size_t encoded_bytes() const { return paged_encoded_ + values_.size() + bools_.size() / 8 + 2 * level_runs_; }
  // Bytes held in memory (levels, values and pages already compressed), for bounding memory.
  size_t memory_bytes() const { return pages_.size() + values_.size() + offsets_.size() * 4 + def_.size() + rep_.size(); }
  size_t level_count() const { return def_.size(); }

  using Options = ColumnWriterOptions;
  // Appends the column chunk (pages) to `out`, whose first byte is at file offset
  // `file_offset`, and resets the buffers for the next row group.
  Result<ColumnChunkInfo> WriteChunk(int64_t file_offset, std::string& out);

  const SchemaNode& leaf() const { return leaf_; }
  // The statistics of every chunk written so far (not of rows still buffered).
  const ColumnStats& stats() const { return stats_; }

 private:
  void PadTo(uint64_t rows);  // rows before `rows` the column has not seen become nulls
  void Level(uint16_t rep, uint16_t def);
  void LevelInRow(uint64_t row, uint16_t rep, uint16_t def);  // a level of row `row` of the chunk
  void Append(uint16_t rep, uint16_t def);  // a level after the rows before it were padded
  void AppendRows(uint16_t def, size_t count);  // `count` rows of one level each (rep 0), padded before
  void TakeGroupNulls();  // the ancestors' group nulls not yet taken become levels
  void FindLiveAncestors();
  Status WriteNullChunk(int64_t file_offset, ColumnChunkInfo& info, std::string& out);
  void ResetChunk();  // empties the chunk once written: levels, values, stats, group nulls taken
  void Present(uint16_t rep);
  void UpdateMinMax(std::string_view plain);
  // UpdateMinMax for each value of PLAIN BYTE_ARRAY bytes (4-byte length, then the bytes):
  // strings are bounded when they leave the buffer, from the dictionary's distinct values when
  // there is one, not one comparison per value added.
  void BytesMinMax(std::string_view plain);
  void AccumulateStats();  // adds the chunk being written to stats_
  // The buffered BYTE_ARRAY values as dictionary indices, the PLAIN dictionary and its size
  // in values; false when a dictionary does not pay (it would pass `limit` bytes, or over half
  // the values are distinct).
  bool BuildDictionary(size_t limit, std::vector<uint32_t>& indices, std::string& dictionary, size_t& distinct) const;
  void PageOut();  // with paging: the buffered levels and values become a compressed page

  const SchemaNode& leaf_;
  const ColumnWriterOptions& options_;
  const uint64_t* current_row_;
  const GroupNulls* groups_ = nullptr;
  std::vector<int> ancestors_;     // group indices whose nulls are this leaf's
  std::vector<int> live_;          // the ancestors that have had nulls (GroupNulls::used)
  std::vector<size_t> taken_;      // per live ancestor: its nulls already taken
  uint32_t live_seen_ = 0;         // groups_->used_groups when live_ was made
  uint64_t taken_seq_ = 0;         // groups_->seq when they were last taken
  uint64_t rows_ = 0;  // rows started in this chunk (levels with rep 0)
  ValueBuffer rep_, def_;  // levels, a byte each: schemas nest far less than 255 deep
  ValueBuffer values_;                 // PLAIN encoding of present values (BYTE_ARRAY: length-prefixed;
                                    // FIXED_LEN_BYTE_ARRAY: the bytes back to back)
  std::vector<uint32_t> offsets_;   // BYTE_ARRAY: start of each value's bytes in values_
  std::vector<bool> bools_;         // BOOLEAN values (bit-packed when written)
  size_t present_ = 0;
  uint64_t null_rows_ = 0;  // a chunk of nothing but level-0 nulls, not materialised (def_ is empty)
  size_t level_runs_ = 0;  // runs of equal (rep, def) levels in this chunk
  uint16_t last_level_ = 0xFFFF;  // the last (rep << 8 | def)
  std::string min_, max_;  // chunk bounds (BYTE_ARRAY: cut to ColumnStats::kBoundBytes)
  bool has_min_max_ = false, min_cut_ = false, max_cut_ = false;
  ColumnStats stats_;

  // Paging: a leaf without repetition or ancestors (such as `_json`, the text of each row)
  // whose first page of values is mostly distinct, so that no dictionary would pay, is
  // compressed a page at a time as values arrive: the row group holds its compressed pages,
  // not all its text. Columns whose first page repeats are buffered whole, as others are.
  enum class Paging : uint8_t { kUndecided, kPaged, kBuffered };
  bool pageable_ = false;  // the leaf may be paged: BYTE_ARRAY, no repetition, no ancestors
  Paging paging_ = Paging::kUndecided;
  std::string pages_;  // the chunk's data pages so far, compressed, with headers
  size_t paged_levels_ = 0, paged_encoded_ = 0, paged_uncompressed_ = 0;
  Status paging_status_;  // the first failure to compress a page, reported by WriteChunk
};

}  // namespace fhirlake::parquet
