#include "src/cli/progress_display.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace fhirlake::cli {

DisplayMode ChooseDisplayMode(bool quiet) {
  if (quiet) return DisplayMode::kQuiet;
  return ::isatty(STDERR_FILENO) ? DisplayMode::kTerminal : DisplayMode::kPlain;
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string FormatDuration(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

ProgressDisplay::ProgressDisplay(DisplayMode mode) : mode_(mode) {}

void ProgressDisplay::Line(const std::string& text) {
  if (mode_ == DisplayMode::kQuiet) return;
  if (mode_ == DisplayMode::kTerminal) {
    std::fprintf(stderr, "\r%*s\r%s\n", static_cast<int>(drawn_width_), "", text.c_str());
    drawn_width_ = 0;
    Redraw(true);
  } else {
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::fprintf(stderr, "%s %s\n", stamp, text.c_str());
  }
}

std::string ProgressDisplay::StatusText() {
  double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
  if (phase_ == "downloading") {
    double secs = std::chrono::duration<double>(Clock::now() - download_started_).count();
    double rate = secs > 0.2 ? static_cast<double>(bytes_) / secs : 0;
    std::string text = fmt::format("[downloading] {}/{} files · {} · {}/s", files_done_, files_total_,
                                   FormatBytes(bytes_), FormatBytes(static_cast<uint64_t>(rate)));
    if (files_done_ > 0 && rate > 0 && files_done_ < files_total_) {
      double per_file = static_cast<double>(bytes_done_files_) / static_cast<double>(files_done_);
      double remaining = per_file * static_cast<double>(files_total_ - files_done_) -
                         static_cast<double>(bytes_ - std::min(bytes_, bytes_done_files_));
      if (remaining > 0) text += " · ETA " + FormatDuration(remaining / rate);
    }
    if (files_failed_) text += fmt::format(" · {} failed", files_failed_);
    return text;
  }
  if (phase_ == "waiting") {
    return fmt::format("[waiting for the server] {} · {} elapsed",
                       server_progress_.empty() ? "in progress" : server_progress_, FormatDuration(elapsed));
  }
  return "[" + phase_ + "]";
}

void ProgressDisplay::Redraw(bool force) {
  if (mode_ != DisplayMode::kTerminal || phase_.empty()) return;
  auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  std::string text = StatusText();
  std::fprintf(stderr, "\r%s%*s", text.c_str(),
               static_cast<int>(drawn_width_ > text.size() ? drawn_width_ - text.size() : 0), "");
  std::fflush(stderr);
  drawn_width_ = text.size();
}

void ProgressDisplay::OnPhase(std::string_view phase) {
  phase_ = phase;
  if (phase_ == "downloading") download_started_ = Clock::now();
  if (mode_ == DisplayMode::kPlain) Line(std::string(phase));
  Redraw(true);
}

void ProgressDisplay::OnServerProgress(std::string_view text) {
  bool changed = server_progress_ != text;
  server_progress_ = text;
  if (mode_ == DisplayMode::kPlain && changed) Line("server: " + server_progress_);
  Redraw(false);
}

void ProgressDisplay::OnDownloadsPlanned(const std::vector<http::DownloadTask>& tasks) {
  files_total_ = tasks.size();
  if (mode_ == DisplayMode::kPlain) Line(fmt::format("{} files to fetch", tasks.size()));
}

void ProgressDisplay::OnNotice(std::string_view text) { Line(std::string(text)); }

void ProgressDisplay::OnRequest(size_t, const http::DownloadTask& task, uint64_t resume_from) {
  if (mode_ == DisplayMode::kPlain && resume_from > 0) {
    Line(fmt::format("resuming {} at byte {}", task.destination.filename().string(), resume_from));
  }
}

void ProgressDisplay::OnBytes(uint64_t n) {
  bytes_ += n;
  Redraw(false);
}

void ProgressDisplay::OnRetry(size_t, const http::DownloadTask& task, const std::string& reason, http::Millis delay) {
  Line(fmt::format("retrying {} in {:.1f} s: {}", task.destination.filename().string(),
                   static_cast<double>(delay.count()) / 1000.0, reason));
}

void ProgressDisplay::OnFinished(size_t, const http::DownloadTask& task, const http::DownloadResult& r) {
  ++files_done_;
  if (!r.skipped) bytes_done_files_ += r.bytes;
  if (!r.status.ok()) {
    ++files_failed_;
    if (mode_ == DisplayMode::kQuiet) {
      std::fprintf(stderr, "fhirlake: %s: %s\n", task.destination.filename().string().c_str(), r.status.message().c_str());
    } else {
      Line(fmt::format("failed {}: {}", task.destination.filename().string(), r.status.message()));
    }
  } else if (mode_ == DisplayMode::kPlain) {
    Line(fmt::format("{} {} ({}, {} resources)", r.skipped ? "already complete" : "downloaded",
                     task.destination.filename().string(), FormatBytes(r.bytes), r.lines));
  }
  Redraw(true);
}

void ProgressDisplay::OnTick() {
  if (mode_ == DisplayMode::kPlain && Clock::now() - last_plain_ > std::chrono::seconds(10)) {
    last_plain_ = Clock::now();
    if (phase_ == "downloading") Line(StatusText());
  }
  Redraw(false);
}

void ProgressDisplay::Finish() {
  if (mode_ == DisplayMode::kTerminal && drawn_width_ > 0) {
    std::fprintf(stderr, "\r%*s\r", static_cast<int>(drawn_width_), "");
    drawn_width_ = 0;
  }
  phase_.clear();
}

}  // namespace fhirlake::cli
