// parquet::FileWriter: writes one Parquet file (Apache Parquet format 2.x) from a Schema and
// rows fed to its leaf ColumnWriters. Rows are buffered per column until the row group reaches
// `row_group_bytes`, then written as column chunks; memory is bounded by one row group, not by
// the file. Close() writes the footer (FileMetaData, Thrift compact) and "PAR1". Bytes go to an
// OutputSink (a local file, an object store's streaming writer) front to back, never seeking.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/parquet/column_writer.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/status.h"

namespace fhirlake::parquet {

// Runs work(0) … work(n - 1), each once, and returns when every one has run: on the calling
// thread, and on other threads that are free to help. A row group's column chunks are encoded
// this way (each chunk is independent of the others).
class ParallelFor {
 public:
  virtual ~ParallelFor() = default;
  virtual void Run(size_t n, const std::function<void(size_t)>& work) = 0;
  // Run over work(0) … work(cost.size() - 1), the costliest started first: the items are
  // taken in order, and one big item taken last (a row group's `_json` chunk) would keep a
  // thread busy after the others ran out of work.
  void RunCostliestFirst(const std::vector<uint64_t>& cost, const std::function<void(size_t)>& work);
};

// The indexes 0 … cost.size() - 1, the costliest first (ties in index order).
std::vector<size_t> CostliestFirst(const std::vector<uint64_t>& cost);

struct WriterOptions {
  ColumnWriter::Options column;
  size_t row_group_bytes = 64u << 20;  // encoded (uncompressed) size at which a row group ends
  std::string created_by = "fhirlake version 0.1.0";
  ParallelFor* parallel = nullptr;  // not owned; null: the writing thread encodes every chunk
};

class FileWriter {
 public:
  // Creates `path` (truncating it). The schema must outlive the writer.
  static Result<std::unique_ptr<FileWriter>> Open(const std::filesystem::path& path, const Schema& schema,
                                                  WriterOptions options = {});
  // Writes into `sink`, which the writer owns; Close() closes (publishes) it, and a writer
  // destroyed before a successful Close() destroys the sink unclosed.
  static Result<std::unique_ptr<FileWriter>> Open(std::unique_ptr<OutputSink> sink, const Schema& schema,
                                                  WriterOptions options = {});
  ~FileWriter();

  ColumnWriter& column(size_t leaf_index) { return *columns_[leaf_index]; }
  // Stays valid after Close(): its stats() then describe the whole file.
  const ColumnWriter& column(size_t leaf_index) const { return *columns_[leaf_index]; }
  size_t column_count() const { return columns_.size(); }

  // A null for every leaf below `group` (a group of the schema below its root): the group is
  // absent where its parent gives definition level `def`, at repetition level `rep`. The same
  // as AddNull(rep, def) on each of those leaves' columns, in order with the levels written to
  // them, at the cost of one call (see GroupNulls).
  void AddGroupNull(const SchemaNode& group, uint16_t rep, uint16_t def) {
    group_nulls_.Add(group.group_index, rows_in_group_, rep, def);
  }

  // Marks the end of a row (after its values went to every column); may write a row group.
  Status EndRow();
  // Marks the end of `count` rows whose levels went to the columns column by column (each
  // column's levels of those rows in turn, as CopyRows writes them); may write a row group.
  Status EndRows(uint64_t count);
  // Writes the last row group and the footer, and closes the file.
  Status Close();

  uint64_t rows() const { return total_rows_; }
  // Where the writer encodes chunks on many threads (null: on the calling thread).
  ParallelFor* parallel() const { return options_.parallel; }
  uint64_t bytes_written() const { return offset_; }

 private:
  FileWriter(std::unique_ptr<OutputSink> sink, const Schema& schema, WriterOptions options);
  Status FlushRowGroup();
  Status MaybeFlush();  // writes the row group if it reached its size
  Status Write(const std::string& bytes);

  struct RowGroupInfo {
    std::vector<ColumnChunkInfo> chunks;
    int64_t rows = 0;
    int64_t total_size = 0;
    int64_t file_offset = 0;
  };

  std::unique_ptr<OutputSink> sink_;
  const Schema& schema_;
  WriterOptions options_;
  GroupNulls group_nulls_;  // the columns read it: declared before them
  std::vector<std::unique_ptr<ColumnWriter>> columns_;
  std::vector<RowGroupInfo> row_groups_;
  uint64_t offset_ = 0;
  uint64_t rows_in_group_ = 0, total_rows_ = 0;
  // EndRow measures the row group (a pass over every column) when rows_in_group_ reaches this:
  // at its first row, then as often as the rows' size so far says the target may be reached,
  // at least every 256 rows. Rows of many megabytes (inline attachments) are measured each.
  uint64_t next_check_ = 1;
  bool closed_ = false;
};

}  // namespace fhirlake::parquet
