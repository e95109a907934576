#include "fhirlake/load/parallel_rows.h"

#include <utility>

#include "fhirlake/fhir/ndjson_reader.h"

namespace fhirlake::load {

ParallelRows::ParallelRows(std::string type, LayoutFiles& own, NewFiles new_files,
                           std::vector<std::unique_ptr<LayoutFiles>>& helper_files, ThreadBudget* budget,
                           size_t batch_bytes, OnRefused on_refused)
    : type_(std::move(type)), own_(own), new_files_(std::move(new_files)), helper_files_(helper_files),
      budget_(budget), batch_bytes_(batch_bytes), on_refused_(std::move(on_refused)) {}

ParallelRows::~ParallelRows() { StopHelpers(); }

Status ParallelRows::Failure() {
  std::lock_guard lock(mu_);
  return failed_;
}

void ParallelRows::Refuse(size_t file, uint64_t number, const std::string& why) {
  if (helpers_.empty() && !batch_.lines.empty()) {
    // Alone, the lines before this one are written (and their refusals reported) first, so
    // the error log stays in line order.
    batch_.bytes.append(fhir::NdjsonReader::kPadding, ' ');
    Status s = WriteBatch(own_, batch_);
    batch_.bytes.clear();
    batch_.lines.clear();
    std::lock_guard lock(mu_);
    if (!s.ok() && failed_.ok()) failed_ = std::move(s);
  }
  std::lock_guard lock(mu_);
  on_refused_(file, number, why);
}

Status ParallelRows::Add(std::string_view line, size_t file, uint64_t number) {
  if (!budget_ || batch_bytes_ == 0) {  // no helpers: straight from the reader's buffer
    JsonShredder::RowInfo info{type_, ""};
    Status refused;
    FHIRLAKE_RETURN_IF_ERROR(own_.Add(line, &info, &refused));
    if (!refused.ok()) {
      on_refused_(file, number, refused.message());
    } else {
      ++rows_;
    }
    return Status::Ok();
  }
  batch_.lines.push_back({batch_.bytes.size(), line.size(), file, number});
  batch_.bytes.append(line);
  batch_.bytes.push_back('\n');
  if (batch_.bytes.size() >= batch_bytes_) return Dispatch();
  return Status::Ok();
}

// A full batch goes to a helper (started now if the budget has a place) unless every helper
// already has two waiting; then the reading thread writes it.
Status ParallelRows::Dispatch() {
  FHIRLAKE_RETURN_IF_ERROR(Failure());
  batch_.bytes.append(fhir::NdjsonReader::kPadding, ' ');
  if (budget_ && budget_->TryAcquire()) {
    helper_files_.push_back(new_files_());
    LayoutFiles* out = helper_files_.back().get();
    helpers_.emplace_back([this, out] { Help(out); });
  }
  {
    std::lock_guard lock(mu_);
    if (!helpers_.empty() && queue_.size() < 2 * helpers_.size()) {
      queue_.push_back(std::move(batch_));
      batch_ = Batch();
      ready_.notify_one();
      return Status::Ok();
    }
  }
  Status s = WriteBatch(own_, batch_);
  batch_.bytes.clear();
  batch_.lines.clear();
  return s;
}

Status ParallelRows::WriteBatch(LayoutFiles& out, const Batch& batch) {
  for (const Line& l : batch.lines) {
    JsonShredder::RowInfo info{type_, ""};
    Status refused;
    FHIRLAKE_RETURN_IF_ERROR(out.Add(std::string_view(batch.bytes.data() + l.offset, l.size), &info, &refused));
    if (!refused.ok()) {
      std::lock_guard lock(mu_);
      on_refused_(l.file, l.number, refused.message());
    } else {
      ++rows_;
    }
  }
  return Status::Ok();
}

void ParallelRows::Help(LayoutFiles* out) {
  Status s;
  while (s.ok()) {
    Batch batch;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [&] { return !queue_.empty() || done_ || !failed_.ok(); });
      if (queue_.empty() || !failed_.ok()) break;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    s = WriteBatch(*out, batch);
  }
  if (s.ok()) s = out->Close();  // the helper's last row group is encoded here, in parallel
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    if (failed_.ok()) failed_ = std::move(s);
    ready_.notify_all();
  }
  budget_->Release();
}

void ParallelRows::StopHelpers() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  ready_.notify_all();
  for (auto& t : helpers_) t.join();
  helpers_.clear();
}

Status ParallelRows::Finish() {
  Status s = Failure();
  if (s.ok() && !batch_.lines.empty()) {
    batch_.bytes.append(fhir::NdjsonReader::kPadding, ' ');
    s = WriteBatch(own_, batch_);
  }
  StopHelpers();  // they drain the queue first
  if (!s.ok()) return s;
  return Failure();
}

}  // namespace fhirlake::load
