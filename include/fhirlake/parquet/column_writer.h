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

class ColumnWriter {
 public:
  // With `current_row` (the 0-based row being written, kept by the FileWriter), rows that never
  // reach this column are nulls at level 0, filled in lazily: a row whose whole top-level
  // element is absent costs nothing until the column's next value or the end of the chunk.
  explicit ColumnWriter(const SchemaNode& leaf, const uint64_t* current_row = nullptr);

  // A missing value whose innermost present ancestor gives definition level `def`.
  void AddNull(uint16_t rep, uint16_t def);
  // A present value (definition level = max_def).
  void AddBool(uint16_t rep, bool v);
  void AddInt32(uint16_t rep, int32_t v);
  void AddInt64(uint16_t rep, int64_t v);
  void AddDouble(uint16_t rep, double v);
  void AddBytes(uint16_t rep, std::string_view v);

  // Ends the chunk's rows at `rows`: rows the column has not seen become level-0 nulls.
  void PadRows(uint64_t rows);

  // Bytes buffered (levels and values), for row-group sizing.
  // Rows up to `current_rows` that are still to be padded are counted as well.
  size_t buffered_bytes(uint64_t current_rows) const {
    size_t pending = current_rows > rows_ ? current_rows - rows_ : 0;
    return values_.size() + offsets_.size() * 4 + def_.size() + rep_.size() + pending * (leaf_.max_rep > 0 ? 2 : 1);
  }
  size_t level_count() const { return def_.size(); }

  struct Options {
    Compression compression = Compression::kZstd;
    int zstd_level = 3;
    size_t page_bytes = 1u << 20;
    size_t dictionary_limit = 1u << 20;
  };
  // Appends the column chunk (pages) to `out`, whose first byte is at file offset
  // `file_offset`, and resets the buffers for the next row group.
  Result<ColumnChunkInfo> WriteChunk(const Options& options, int64_t file_offset, std::string& out);

  const SchemaNode& leaf() const { return leaf_; }

 private:
  void Level(uint16_t rep, uint16_t def);
  void Present(uint16_t rep);
  void UpdateMinMax(std::string_view plain);

  const SchemaNode& leaf_;
  const uint64_t* current_row_;
  uint64_t rows_ = 0;  // rows started in this chunk (levels with rep 0)
  std::vector<uint8_t> rep_, def_;  // levels fit a byte: schemas nest far less than 255 deep
  std::string values_;              // PLAIN encoding of present values (BYTE_ARRAY: length-prefixed)
  std::vector<uint32_t> offsets_;   // BYTE_ARRAY: start of each value's bytes in values_
  std::vector<bool> bools_;         // BOOLEAN values (bit-packed when written)
  size_t present_ = 0;
  std::string min_, max_;
  bool has_min_max_ = false, min_max_too_long_ = false;
};

}  // namespace fhirlake::parquet
