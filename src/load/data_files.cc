#include "fhirlake/load/data_files.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

#include "fhirlake/load/file_stats.h"
#include "fhirlake/delta/object_files.h"
#include "fhirlake/parquet/row_copy.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/warehouse_layout.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

DataFiles::DataFiles(fs::path root, const parquet::Schema& schema, parquet::WriterOptions options,
                     uint64_t target_file_bytes)
    : DataFiles(delta::Table(std::move(root)), schema, std::move(options), target_file_bytes) {}

DataFiles::DataFiles(const delta::Table& table, const parquet::Schema& schema, parquet::WriterOptions options,
                     uint64_t target_file_bytes)
    : store_(table.shared_store()), prefix_(table.Key("")), schema_(schema), options_(std::move(options)), target_(target_file_bytes),
      json_leaf_(schema.leaves().size() - 1) {}

DataFiles::~DataFiles() {
  if (!kept_) Discard();
}

Status DataFiles::Add(std::string_view line, JsonShredder::RowInfo* check, Status* refused) {
  if (!writer_) FHIRLAKE_RETURN_IF_ERROR(Open());
  Status s = shredder_->ShredRow(line, check);
  if (!s.ok()) {
    *refused = std::move(s);
    return Status::Ok();
  }
  writer_->column(json_leaf_).AddBytes(0, line);
  FHIRLAKE_RETURN_IF_ERROR(writer_->EndRow());
  ++current_rows_;
  if (target_ > 0 && writer_->bytes_written() >= target_) return CloseCurrent();
  return Status::Ok();
}

Result<uint64_t> DataFiles::Copy(parquet::FileReader& reader, size_t group, const std::vector<uint8_t>& keep) {
  if (!writer_) FHIRLAKE_RETURN_IF_ERROR(Open());
  auto n = parquet::CopyRows(reader, group, keep, *writer_);
  if (!n.ok()) return n.status();
  current_rows_ += *n;
  if (target_ > 0 && writer_->bytes_written() >= target_) FHIRLAKE_RETURN_IF_ERROR(CloseCurrent());
  return n;
}

Status DataFiles::Close() { return writer_ ? CloseCurrent() : Status::Ok(); }

size_t DataFiles::SmallFiles(uint64_t below) const {
  return static_cast<size_t>(std::count_if(done_.begin(), done_.end(), [&](const Done& d) { return d.bytes < below; }));
}

Status DataFiles::MoveSmallFilesInto(DataFiles& into, uint64_t below) {
  for (size_t i = 0; i < done_.size();) {
    if (done_[i].bytes >= below) {
      ++i;
      continue;
    }
    const std::string key = store::WarehouseLayout::Join(prefix_, done_[i].name);
    auto reader = parquet::FileReader::Open(delta::OpenObjectSource(*store_, key));
    if (!reader.ok()) return reader.status();
    FHIRLAKE_RETURN_IF_ERROR(ForEachRowGroupKeeping(**reader, {}, [&](size_t g, const std::vector<uint8_t>& keep) {
      return into.Copy(**reader, g, keep).status();
    }));
    reader->reset();
    // Best effort, as Discard: the file is in no commit.
    (void)store_->Delete(key);
    done_.erase(done_.begin() + static_cast<std::ptrdiff_t>(i));
    stats_.erase(stats_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return Status::Ok();
}

std::vector<delta::AddFile> DataFiles::Adds() const {
  std::vector<delta::AddFile> adds;
  for (size_t i = 0; i < done_.size(); ++i) {
    adds.push_back({done_[i].name, static_cast<int64_t>(done_[i].bytes), NowMillis(), static_cast<int64_t>(done_[i].rows),
                    stats_[i], std::nullopt, {}, {}});
  }
  return adds;
}

void DataFiles::Discard() {
  shredder_.reset();
  writer_.reset();  // an unfinished file was never published: dropping its writer discards it
  // Best effort: a file left behind is not in any commit, so no reader sees it; vacuum removes it.
  for (const Done& d : done_) (void)store_->Delete(store::WarehouseLayout::Join(prefix_, d.name));
  done_.clear();
  stats_.clear();
  current_.clear();
}

Status DataFiles::Open() {
  current_ = "part-" + store::RandomHex(16) + ".parquet";
  auto sink = delta::OpenObjectSink(*store_, store::WarehouseLayout::Join(prefix_, current_));
  if (!sink.ok()) return sink.status();
  auto w = parquet::FileWriter::Open(std::move(sink.value()), schema_, options_);
  if (!w.ok()) return w.status();
  writer_ = std::move(w.value());
  shredder_ = std::make_unique<JsonShredder>(schema_, *writer_, std::vector<std::string>{"_json"});
  current_rows_ = 0;
  return Status::Ok();
}

Status DataFiles::CloseCurrent() {
  shredder_.reset();
  if (current_rows_ == 0) {  // every line was refused: no file (dropping the writer discards it)
    writer_.reset();
    current_.clear();
    return Status::Ok();
  }
  Status s = writer_->Close();
  if (s.ok()) stats_.push_back(DeltaFileStats(schema_, *writer_));
  const uint64_t bytes = writer_->bytes_written();
  writer_.reset();
  if (!s.ok()) return s;
  done_.push_back({current_, current_rows_, bytes});
  current_.clear();
  return Status::Ok();
}

Status ForEachRowGroupKeeping(const parquet::FileReader& reader, const std::vector<uint64_t>& gone,
                              const std::function<Status(size_t group, const std::vector<uint8_t>& keep)>& fn) {
  size_t next_gone = 0;
  uint64_t first = 0;  // the first row of the row group
  std::vector<uint8_t> keep;
  for (size_t g = 0; g < reader.row_group_count(); ++g) {
    const auto rows = static_cast<uint64_t>(reader.row_group_rows(g));
    keep.assign(rows, 1);
    for (; next_gone < gone.size() && gone[next_gone] < first + rows; ++next_gone) keep[gone[next_gone] - first] = 0;
    FHIRLAKE_RETURN_IF_ERROR(fn(g, keep));
    first += rows;
  }
  return Status::Ok();
}

}  // namespace fhirlake::load
