// How a running export shows itself: on a terminal, one status line redrawn in place (phase,
// files done/total, bytes, rate, ETA); elsewhere, plain timestamped lines for each event and a
// summary every 10 s; with --quiet, nothing but errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "fhirlake/bulk/export_client.h"

namespace fhirlake::cli {

enum class DisplayMode { kTerminal, kPlain, kQuiet };

// kTerminal when stderr is a terminal (and not quiet), else kPlain or kQuiet.
DisplayMode ChooseDisplayMode(bool quiet);

class ProgressDisplay : public bulk::ExportObserver {
 public:
  explicit ProgressDisplay(DisplayMode mode);

  void OnPhase(std::string_view phase) override;
  void OnServerProgress(std::string_view text) override;
  void OnDownloadsPlanned(const std::vector<http::DownloadTask>& tasks) override;
  void OnNotice(std::string_view text) override;
  void OnRequest(size_t index, const http::DownloadTask& task, uint64_t resume_from) override;
  void OnBytes(uint64_t n) override;
  void OnRetry(size_t index, const http::DownloadTask& task, const std::string& reason, http::Millis delay) override;
  void OnFinished(size_t index, const http::DownloadTask& task, const http::DownloadResult& result) override;
  void OnTick() override;

  // Clears the status line; call before printing the final summary.
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  void Line(const std::string& text);   // a permanent line (plain mode: timestamped)
  void Redraw(bool force);              // the status line (terminal mode)
  std::string StatusText();

  DisplayMode mode_;
  std::string phase_;
  std::string server_progress_;
  size_t files_total_ = 0, files_done_ = 0, files_failed_ = 0;
  uint64_t bytes_ = 0;          // this run
  uint64_t bytes_done_files_ = 0;
  Clock::time_point started_ = Clock::now();
  Clock::time_point download_started_{};
  Clock::time_point last_draw_{};
  Clock::time_point last_plain_{};
  size_t drawn_width_ = 0;
};

std::string FormatBytes(uint64_t bytes);
std::string FormatDuration(double seconds);

}  // namespace fhirlake::cli
