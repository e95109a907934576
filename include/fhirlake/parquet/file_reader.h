// parquet::FileReader: reads the leaf columns of a Parquet file, one row group at a time: what
// a merge needs from a table's own data files (`id`, `meta.lastUpdated`, `_json`, or every
// column to copy kept rows) and what a Delta checkpoint holds (nested optional structs, MAPs and
// LISTs, as Spark writes them). It decodes data pages v1 and v2, PLAIN and dictionary encodings
// (of any physical type), RLE/bit-packed repetition and definition levels, and UNCOMPRESSED,
// SNAPPY and ZSTD pages; anything else is refused with a message naming it. Memory is bounded
// by one column chunk (one row group's chunks after LoadRowGroup). Bytes come from an
// InputSource by ranged reads: the footer's tail, the footer, then one read per column chunk
// asked for (so on an object store only the columns a caller needs travel), or one per row
// group loaded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/parquet/thrift_compact.h"
#include "fhirlake/status.h"

namespace fhirlake::parquet {

// The values of one column in one row group: a slot per row for a flat column; for a column
// with a repeated ancestor, a slot per level entry (a new row starts where rep_levels is 0).
struct ColumnValues {
  std::vector<bool> present;     // the value is defined (definition level = the column's maximum)
  std::vector<int64_t> ints;     // BOOLEAN, INT32, INT64 and DOUBLE (its bits) columns (0 where absent)
  std::string bytes;             // BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY columns: the values back to back
  std::vector<size_t> ends;      // those columns: where row i's value ends in `bytes`
  std::vector<uint8_t> def_levels, rep_levels;  // repeated columns only: each slot's levels
  size_t size() const { return present.size(); }
  // Row i's BYTE_ARRAY value (empty where absent).
  std::string_view string(size_t i) const {
    size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes).substr(begin, ends[i] - begin);
  }
};

// The values of one data page of a column, as FileReader::ForEachPage passes them: a slot per
// level entry (a row, for a flat column). The string views are valid during the call only.
struct PageValues {
  int max_def = 0, max_rep = 0;          // the column's
  std::vector<uint32_t> defs, reps;      // each slot's levels (reps: columns with a repeated ancestor)
  std::vector<int64_t> ints;             // BOOLEAN, INT32, INT64 and DOUBLE (its bits): the present values
  std::vector<std::string_view> strings;  // BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY: the present values
  // With ForEachPage's `null_pages`: a page of nothing but rows at level 0 (no value, no entry
  // of a list, no ancestor) comes as its number of rows here, with no levels or values.
  size_t null_rows = 0;
  size_t size() const { return defs.size(); }
  bool present(size_t slot) const { return defs[slot] == static_cast<uint32_t>(max_def); }
};

// What one column chunk may claim before the reader allocates for it. A file that claims more
// is refused as corrupt: RLE lets a few bytes claim billions of values, so the claims, not the
// file's size, bound the memory a read takes. No known writer comes near the defaults.
struct ReadLimits {
  int64_t max_chunk_values = int64_t{1} << 28;  // values (nulls included) in one column chunk
  int64_t max_page_bytes = int64_t{1} << 30;    // one page, uncompressed
};

class FileReader {
 public:
  static Result<std::unique_ptr<FileReader>> Open(const std::filesystem::path& path, ReadLimits limits = {});
  // Reads from `source`, which the reader owns.
  static Result<std::unique_ptr<FileReader>> Open(std::unique_ptr<InputSource> source, ReadLimits limits = {});
  ~FileReader();

  int64_t rows() const { return rows_; }
  size_t row_group_count() const { return row_groups_.size(); }
  int64_t row_group_rows(size_t group) const { return row_groups_[group].rows; }

  // The column whose path is `dotted` ("meta.lastUpdated"), or -1.
  int FindColumn(std::string_view dotted) const;

  // Column `column`'s maximum definition and repetition levels. REQUIRES: a valid column.
  int max_def(int column) const { return columns_[static_cast<size_t>(column)].max_def; }
  int max_rep(int column) const { return columns_[static_cast<size_t>(column)].max_rep; }
  // The definition level of the column's innermost repeated ancestor (a list's or map's entry
  // exists where a slot's level reaches it), or 0 for a flat column.
  int repeated_def(int column) const { return columns_[static_cast<size_t>(column)].repeated_def; }
  size_t column_count() const { return columns_.size(); }
  PhysicalType column_type(int column) const { return columns_[static_cast<size_t>(column)].type; }
  const std::string& column_path(int column) const { return columns_[static_cast<size_t>(column)].path; }
  // FIXED_LEN_BYTE_ARRAY columns: bytes per value (0 for other types).
  int column_type_length(int column) const { return columns_[static_cast<size_t>(column)].type_length; }
  // The stored (compressed) bytes of a column chunk.
  int64_t chunk_bytes(size_t group, int column) const {
    return row_groups_[group].chunks[static_cast<size_t>(column)].size;
  }

  // Reads row group `group`'s column chunks in one read and keeps them until the next call:
  // ForEachPage and ReadColumn of that group then read from memory (one request to an object
  // store for a caller that wants every column, not one per column). Not thread-safe against
  // those calls; they may run on many threads once it returned.
  Status LoadRowGroup(size_t group);

  // Reads column `column` of row group `group`.
  Result<ColumnValues> ReadColumn(size_t group, int column) const;
  // The same, a data page at a time: `page` is called with each page's values in order, and
  // only one page is decompressed in memory at a time (with the chunk's compressed bytes). An
  // error from `page` ends the walk and is returned. With `null_pages`, a page of level-0 nulls
  // only is passed as PageValues::null_rows, its levels not decoded.
  Status ForEachPage(size_t group, int column, const std::function<Status(const PageValues&)>& page,
                     bool null_pages = false) const;

 private:
  struct Column {
    std::string path;  // dotted
    PhysicalType type = PhysicalType::kByteArray;
    int max_def = 0, max_rep = 0, repeated_def = 0;
    int type_length = 0;
  };
  struct Chunk {
    int64_t offset = 0, size = 0, num_values = 0;
    int32_t codec = 0;
  };
  struct RowGroup {
    int64_t rows = 0;
    std::vector<Chunk> chunks;
  };

  FileReader(std::unique_ptr<InputSource> source, ReadLimits limits) : source_(std::move(source)), limits_(limits) {}
  struct SchemaElement;  // one of the footer's schema elements, as ParseFooter reads it
  Status ParseFooter(std::string_view footer);
  Status BuildColumns(const std::vector<SchemaElement>& elements);  // columns_ from the schema
  // The bytes of a column chunk: a view into the loaded row group, or read into `owned`.
  Result<std::string_view> ChunkBytes(size_t group, int column, std::string& owned) const;
  Status Corrupt(const std::string& why) const;

  std::unique_ptr<InputSource> source_;
  ReadLimits limits_;
  int64_t rows_ = 0;
  std::vector<Column> columns_;
  std::vector<RowGroup> row_groups_;
  std::string loaded_;  // LoadRowGroup's bytes: from file offset loaded_at_, of row group loaded_group_
  uint64_t loaded_at_ = 0;
  size_t loaded_group_ = SIZE_MAX;
};

}  // namespace fhirlake::parquet
