// load::DataFiles: the rolling data-file writer of one table write. Resources (NDJSON lines)
// are shredded into the open Parquet file until it reaches the target size (checked as row
// groups are written), then the next file starts; files open on the first row, so a write of
// nothing makes none. Loads, and later views and compaction, write a table's new files with it
// and commit them with load::CommitWithRetries.
//
// Ownership: the files are the writer's until Keep(); destroying it (a failed or lost attempt)
// removes every file it wrote, so nothing uncommitted is left behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// A copy of a line that is not padded as NdjsonReader pads (a stored row, a built one), with
// the padding DataFiles::Add and the shredder's parser read past its end. The buffer is reused
// from line to line.
class PaddedLine {
 public:
  // `line`, padded; valid until the next call.
  std::string_view Of(std::string_view line) {
    buf_.assign(line);
    buf_.append(fhir::NdjsonReader::kPadding, '\0');
    return std::string_view(buf_.data(), line.size());
  }

 private:
  std::string buf_;
};

class DataFiles {
 public:
  // Files go under `root` (the table's directory) as part-<random>.parquet. `schema` must
  // outlive this object; its last leaf is `_json`, which gets each line as received.
  // `target_file_bytes` 0: one file.
  DataFiles(std::filesystem::path root, const parquet::Schema& schema, parquet::WriterOptions options,
            uint64_t target_file_bytes);
  // Files go to the table `table` (under its key in its store: a local directory or S3, each
  // file streamed and published whole when it is finished).
  DataFiles(const delta::Table& table, const parquet::Schema& schema, parquet::WriterOptions options,
            uint64_t target_file_bytes);
  ~DataFiles();  // removes the files unless Keep() was called
  DataFiles(const DataFiles&) = delete;
  DataFiles& operator=(const DataFiles&) = delete;

  // Shreds `line` (padded as NdjsonReader pads) into a row. When the line is refused (see
  // JsonShredder::ShredRow), nothing is written and `*refused` says why; the returned status
  // is for I/O errors.
  Status Add(std::string_view line, JsonShredder::RowInfo* check, Status* refused);

  // Appends the rows of row group `group` of `reader` that `keep` marks (one entry per row), a
  // column at a time (parquet::CopyRows): rows of a data file of the same columns, not parsed
  // again. Returns how many. REQUIRES: parquet::SameColumns(reader, the schema).
  Result<uint64_t> Copy(parquet::FileReader& reader, size_t group, const std::vector<uint8_t>& keep);

  // Finishes the open file; then Adds() describes every file written.
  Status Close();

  uint64_t target_file_bytes() const { return target_; }
  // How many of the finished files are smaller than `below` bytes.
  size_t SmallFiles(uint64_t below) const;
  // Copies the rows of each finished file smaller than `below` bytes into `into` (a column at a
  // time, as Copy), then removes that file: its rows are `into`'s now. REQUIRES: Close()
  // succeeded; `into` writes the same schema.
  Status MoveSmallFilesInto(DataFiles& into, uint64_t below);

  // The add actions for the files written. REQUIRES: Close() succeeded.
  std::vector<delta::AddFile> Adds() const;

  // The files are committed: the destructor leaves them.
  void Keep() { kept_ = true; }

  // Removes every file written so far (also done by the destructor without Keep()).
  void Discard();

 private:
  Status Open();
  Status CloseCurrent();

  std::shared_ptr<store::ObjectStore> store_;
  std::string prefix_;  // the table's key in store_
  const parquet::Schema& schema_;
  parquet::WriterOptions options_;
  uint64_t target_;
  size_t json_leaf_;
  std::unique_ptr<parquet::FileWriter> writer_;
  std::unique_ptr<JsonShredder> shredder_;
  std::string current_;
  uint64_t current_rows_ = 0;
  struct Done {
    std::string name;
    uint64_t rows = 0, bytes = 0;
  };
  std::vector<Done> done_;
  std::vector<std::string> stats_;  // add.stats of each of done_
  bool kept_ = false;
};

// Calls fn(group, keep) for each row group of `reader`, `keep` marking (1) the rows of the
// group that `gone` (row numbers in the file, ascending) does not name: the rows a copy keeps.
Status ForEachRowGroupKeeping(const parquet::FileReader& reader, const std::vector<uint64_t>& gone,
                              const std::function<Status(size_t group, const std::vector<uint8_t>& keep)>& fn);

}  // namespace fhirlake::load
