// load::ParallelRows: the write of one type's incoming lines into its data files, spread over
// threads. The caller's thread reads the lines and gathers them into batches; while a
// ThreadBudget has a place free, a helper thread is started with files of its own (a
// LayoutFiles) and batches go to the helpers (the caller writes a batch itself when they are all busy). So one
// large type is shredded, encoded and compressed on every core the budget allows, and its
// files are still committed together by the caller. Without a budget (or with none free) every
// line is written by the caller, in order, as before.
//
// Rows land in files by batch, so their order across files is not the input order; refused
// lines are reported in line order by the caller's thread alone, and as they are found once
// helpers run.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fhirlake/load/recency_layout.h"
#include "fhirlake/load/shared_work.h"
#include "fhirlake/load/thread_budget.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

class ParallelRows {
 public:
  // Called (one call at a time) for a line the shredder refused: its file's index, its line
  // number and why.
  using OnRefused = std::function<void(size_t file, uint64_t line, const std::string& why)>;
  // Makes a helper's data files; they are added to `helper_files`, which the caller owns (to
  // keep or discard them with the attempt).
  using NewFiles = std::function<std::unique_ptr<LayoutFiles>()>;

  // Rows are of `type` (checked per line as JsonShredder::RowInfo does). `budget` may be null:
  // then there are no helpers. `work` (may be null) is the one the files' writers encode their
  // row groups with: threads done with their own part help there before they end.
  ParallelRows(std::string type, LayoutFiles& own, NewFiles new_files,
               std::vector<std::unique_ptr<LayoutFiles>>& helper_files, ThreadBudget* budget, size_t batch_bytes,
               SharedWork* work, OnRefused on_refused);
  ~ParallelRows();  // stops and joins the helpers (after an error; Finish() joins them normally)
  ParallelRows(const ParallelRows&) = delete;
  ParallelRows& operator=(const ParallelRows&) = delete;

  // Writes `line` (line `number` of file `file`), now or with its batch. The error is a write
  // error of this or an earlier line (an I/O error, not a refused line).
  Status Add(std::string_view line, size_t file, uint64_t number);
  // As above, with the line's meta.lastUpdated as the caller read it (see LayoutFiles::Add).
  Status Add(std::string_view line, size_t file, uint64_t number, int64_t last_updated);
  // Passes a line the caller refused itself (e.g. too long) to OnRefused, one call at a time
  // with the helpers' reports (without helpers, after the lines before it). A write error
  // on the way is returned by the next Add() or Finish().
  void Refuse(size_t file, uint64_t number, const std::string& why);
  // Writes what is left and closes `own` and the helpers' files (waiting for the helpers).
  // REQUIRES: called once, after the last Add().
  Status Finish();
  // Lines written (not refused), after Finish().
  uint64_t rows() const { return rows_; }

 private:
  struct Line {
    size_t offset, size, file;
    uint64_t number;
    std::optional<int64_t> last_updated;  // nullopt: not known (LayoutFiles reads it)
  };
  struct Batch {
    std::string bytes;  // the lines, each followed by '\n', then padding for the parser
    std::vector<Line> lines;
  };

  Status Dispatch();
  Status AddLine(std::string_view line, size_t file, uint64_t number, std::optional<int64_t> last_updated);
  Status WriteLine(LayoutFiles& out, std::string_view line, size_t file, uint64_t number,
                   std::optional<int64_t> last_updated);
  Status WriteBatch(LayoutFiles& out, const Batch& batch);
  Status WriteOwnBatch();
  void Help(LayoutFiles* out);
  void StopHelpers();
  Status Failure();
  Batch NextBatch();
  void LeaveWork();

  const std::string type_;
  LayoutFiles& own_;
  NewFiles new_files_;
  std::vector<std::unique_ptr<LayoutFiles>>& helper_files_;
  ThreadBudget* budget_;
  size_t batch_bytes_;
  SharedWork* work_;
  bool left_work_ = false;  // this (the reading) thread has left work_
  OnRefused on_refused_;
  Batch batch_;
  std::atomic<uint64_t> rows_{0};

  std::mutex mu_;  // guards the queue, done_, failed_ and on_refused_ calls
  std::condition_variable ready_;
  std::deque<Batch> queue_;
  // Written batches, kept to be filled again: a fresh 4 MB string would be grown by doubling
  // and its pages faulted in anew for every batch.
  std::vector<Batch> spare_;
  bool done_ = false;
  Status failed_;
  std::vector<std::thread> helpers_;
};

}  // namespace fhirlake::load
