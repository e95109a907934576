#include "fhirlake/load/data_files.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "fhirlake/load/file_stats.h"
#include "fhirlake/store/names.h"

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
    : root_(std::move(root)), schema_(schema), options_(std::move(options)), target_(target_file_bytes),
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

Status DataFiles::Close() { return writer_ ? CloseCurrent() : Status::Ok(); }

std::vector<delta::AddFile> DataFiles::Adds() const {
  std::vector<delta::AddFile> adds;
  for (size_t i = 0; i < done_.size(); ++i) {
    const auto& [name, rows] = done_[i];
    std::error_code ec;
    adds.push_back({name, static_cast<int64_t>(fs::file_size(root_ / name, ec)), NowMillis(),
                    static_cast<int64_t>(rows), stats_[i], std::nullopt, {}});
  }
  return adds;
}

void DataFiles::Discard() {
  std::error_code ec;
  shredder_.reset();
  writer_.reset();
  if (!current_.empty()) fs::remove(root_ / current_, ec);
  for (const auto& [name, rows] : done_) fs::remove(root_ / name, ec);
  done_.clear();
  stats_.clear();
  current_.clear();
}

Status DataFiles::Open() {
  current_ = "part-" + store::RandomHex(16) + ".parquet";
  auto w = parquet::FileWriter::Open(root_ / current_, schema_, options_);
  if (!w.ok()) return w.status();
  writer_ = std::move(w.value());
  shredder_ = std::make_unique<JsonShredder>(schema_, *writer_, std::vector<std::string>{"_json"});
  current_rows_ = 0;
  return Status::Ok();
}

Status DataFiles::CloseCurrent() {
  shredder_.reset();
  Status s = writer_->Close();
  if (s.ok()) stats_.push_back(DeltaFileStats(schema_, *writer_));
  writer_.reset();
  if (!s.ok()) return s;
  done_.emplace_back(current_, current_rows_);
  current_.clear();
  return Status::Ok();
}

}  // namespace fhirlake::load
