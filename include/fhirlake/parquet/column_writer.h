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
  explicit ColumnWriter(const SchemaNode& leaf);

  // A missing value whose innermost present ancestor gives definition level `def`.
  void AddNull(uint16_t rep, uint16_t def);
  // A present value (definition level = max_def).
  void AddBool(uint16_t rep, bool v);
  void AddInt32(uint16_t rep, int32_t v);
  void AddInt64(uint16_t rep, int64_t v);
  void AddDouble(uint16_t rep, double v);
  void AddBytes(uint16_t rep, std::string_view v);

  // Bytes buffered (levels and values), for row-group sizing.
  size_t buffered_bytes() const { return values_.size() + levels_bytes_; }
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
  std::vector<uint16_t> rep_, def_;
  size_t levels_bytes_ = 0;
  std::string values_;              // PLAIN encoding of present values (BYTE_ARRAY: length-prefixed)
  std::vector<uint32_t> offsets_;   // BYTE_ARRAY: start of each value's bytes in values_
  std::vector<bool> bools_;         // BOOLEAN values (bit-packed when written)
  size_t present_ = 0;
  std::string min_, max_;
  bool has_min_max_ = false, min_max_too_long_ = false;
};

}  // namespace fhirlake::parquet
