// Counting the records of NDJSON as its bytes arrive: what a download checks against the
// manifest's `count`, and what a server puts there. A record is a line with content; blank
// lines (which NDJSON readers skip) are not resources and do not count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "fhirlake/status.h"

namespace fhirlake::http {

class NdjsonLineCounter {
 public:
  void Feed(const char* data, size_t n);

  uint64_t Records() const { return records_ + (EndsMidLine() && content_ ? 1 : 0); }
  uint64_t size() const { return size_; }  // bytes fed
  uint64_t last_line_start() const { return last_line_start_; }  // offset after the last '\n'
  bool EndsMidLine() const { return size_ > last_line_start_; }

 private:
  uint64_t records_ = 0;  // complete lines with content
  uint64_t size_ = 0;
  uint64_t last_line_start_ = 0;
  bool content_ = false;  // the line in progress has a byte other than space, tab or '\r'
};

// Feeds the whole file at `path` to `counter`.
Status CountNdjsonFile(const std::filesystem::path& path, NdjsonLineCounter& counter);

// The records of the file at `path` (a last line without '\n' counts).
Result<uint64_t> CountNdjsonRecords(const std::filesystem::path& path);

}  // namespace fhirlake::http
