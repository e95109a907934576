#include "fhirlake/load/parallel_rows.h"

#include <utility>

#include "fhirlake/fhir/ndjson_reader.h"

namespace fhirlake::load {

ParallelRows::ParallelRows(std::string type, LayoutFiles& own, NewFiles new_files,
                           std::vector<std::unique_ptr<LayoutFiles>>& helper_files, ThreadBudget* budget,
                           size_t batch_bytes, SharedWork* work, OnRefused on_refused)
    : type_(std::move(type)), own_(own), new_files_(std::move(new_files)), helper_files_(helper_files),
      budget_(budget), batch_bytes_(batch_bytes), work_(work), on_refused_(std::move(on_refused)) {
  if (work_) {
    work_->Join();
    // A helper waiting for a batch takes posted row-group work too (e.g. while the reading
    // thread encodes a row group of its own and reads nothing).
    work_->SetOnPost([this] {
      std::lock_guard lock(mu_);
      ready_.notify_all();
    });
  }
}

ParallelRows::~ParallelRows() {
  LeaveWork();  // after an error: the helpers must not wait for this thread
  StopHelpers();
  if (work_) work_->SetOnPost(nullptr);
}

void ParallelRows::LeaveWork() {
  if (work_ && !left_work_) work_->Leave();
  left_work_ = true;
}

Status ParallelRows::Failure() {
  std::lock_guard lock(mu_);
  return failed_;
}

void ParallelRows::Refuse(size_t file, uint64_t number, const std::string& why) {
  if (helpers_.empty()) {
    // Alone, the lines before this one are written (and their refusals reported) first, so
    // the error log stays in line order.
    Status s = WriteOwnBatch();
    std::lock_guard lock(mu_);
    if (!s.ok() && failed_.ok()) failed_ = std::move(s);
  }
  std::lock_guard lock(mu_);
  on_refused_(file, number, why);
}

Status ParallelRows::Add(std::string_view line, size_t file, uint64_t number) {
  return AddLine(line, file, number, std::nullopt);
}

Status ParallelRows::Add(std::string_view line, size_t file, uint64_t number, int64_t last_updated) {
  return AddLine(line, file, number, last_updated);
}

Status ParallelRows::AddLine(std::string_view line, size_t file, uint64_t number, std::optional<int64_t> last_updated) {
  // Straight from the reader's buffer while no helper runs or could start: a batch would only
  // copy the line for this thread to write it later.
  if (!budget_ || batch_bytes_ == 0 || (helpers_.empty() && batch_.lines.empty() && !budget_->HasFree())) {
    return WriteLine(own_, line, file, number, last_updated);
  }
  if (batch_.lines.empty() && batch_.bytes.capacity() < batch_bytes_) batch_ = NextBatch();
  batch_.lines.push_back({batch_.bytes.size(), line.size(), file, number, last_updated});
  batch_.bytes.append(line);
  batch_.bytes.push_back('\n');
  if (batch_.bytes.size() >= batch_bytes_) return Dispatch();
  return Status::Ok();
}

// A full batch goes to a helper (started now if the budget has a place) unless every helper
// already has two waiting; then the reading thread writes it.
Status ParallelRows::Dispatch() {
  FHIRLAKE_RETURN_IF_ERROR(Failure());
  if (budget_ && budget_->TryAcquire()) {
    helper_files_.push_back(new_files_());
    LayoutFiles* out = helper_files_.back().get();
    if (work_) work_->Join();
    helpers_.emplace_back([this, out] { Help(out); });
  }
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    if (!helpers_.empty() && queue_.size() < 2 * helpers_.size()) {
      batch_.bytes.append(fhir::NdjsonReader::kPadding, ' ');
      queue_.push_back(std::move(batch_));
      ready_.notify_one();
      queued = true;
    }
  }
  if (!queued) return WriteOwnBatch();
  batch_ = NextBatch();
  return Status::Ok();
}

// A batch to gather lines in: a written one when there is one, else a new one with room for
// a whole batch.
ParallelRows::Batch ParallelRows::NextBatch() {
  Batch batch;
  {
    std::lock_guard lock(mu_);
    if (!spare_.empty()) {
      batch = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  batch.bytes.clear();
  batch.lines.clear();
  batch.bytes.reserve(batch_bytes_ + batch_bytes_ / 4);
  return batch;
}

Status ParallelRows::WriteLine(LayoutFiles& out, std::string_view line, size_t file, uint64_t number,
                               std::optional<int64_t> last_updated) {
  JsonShredder::RowInfo info{type_, ""};
  Status refused;
  FHIRLAKE_RETURN_IF_ERROR(last_updated ? out.Add(line, *last_updated, &info, &refused) : out.Add(line, &info, &refused));
  if (!refused.ok()) {
    std::lock_guard lock(mu_);
    on_refused_(file, number, refused.message());
  } else {
    ++rows_;
  }
  return Status::Ok();
}

// batch.bytes ends with the reader's padding (see Dispatch and WriteOwnBatch).
Status ParallelRows::WriteBatch(LayoutFiles& out, const Batch& batch) {
  for (const Line& l : batch.lines) {
    FHIRLAKE_RETURN_IF_ERROR(
        WriteLine(out, std::string_view(batch.bytes.data() + l.offset, l.size), l.file, l.number, l.last_updated));
  }
  return Status::Ok();
}

// The reading thread writes the batch it is gathering itself, and starts a new one.
Status ParallelRows::WriteOwnBatch() {
  if (batch_.lines.empty()) return Status::Ok();
  batch_.bytes.append(fhir::NdjsonReader::kPadding, ' ');
  Status s = WriteBatch(own_, batch_);
  batch_.bytes.clear();
  batch_.lines.clear();
  return s;
}

void ParallelRows::Help(LayoutFiles* out) {
  Status s;
  while (s.ok()) {
    Batch batch;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [&] { return !queue_.empty() || done_ || !failed_.ok() || (work_ && work_->Waiting()); });
      if (!failed_.ok()) break;
      if (queue_.empty() && work_ && work_->Waiting()) {
        lock.unlock();
        work_->HelpWhileWaiting();
        continue;
      }
      if (queue_.empty()) break;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    s = WriteBatch(*out, batch);
    std::lock_guard lock(mu_);
    if (spare_.size() < 2) spare_.push_back(std::move(batch));
  }
  if (s.ok()) s = out->Close();  // the helper's last row group is encoded here, in parallel
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    if (failed_.ok()) failed_ = std::move(s);
    ready_.notify_all();
  }
  if (work_) {
    work_->Leave();
    work_->Help();
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

// The reading thread takes waiting batches too, then closes its own files while the helpers
// close theirs, and helps encode their last row groups (see SharedWork).
Status ParallelRows::Finish() {
  Status s = Failure();
  if (s.ok()) s = WriteOwnBatch();
  while (s.ok()) {
    Batch batch;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty() || !failed_.ok()) break;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    s = WriteBatch(own_, batch);
  }
  if (s.ok()) s = own_.Close();
  LeaveWork();
  if (work_ && s.ok()) {
    {
      std::lock_guard lock(mu_);
      done_ = true;  // the helpers end once the queue is empty, and leave work_
    }
    ready_.notify_all();
    work_->Help();
  }
  StopHelpers();
  if (!s.ok()) return s;
  return Failure();
}

}  // namespace fhirlake::load
