// NdjsonReader: walks an NDJSON file line by line through one reusable buffer, without reading
// the file into memory. Each line it hands out is followed by at least kPadding readable bytes,
// so simdjson can parse it in place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::fhir {

class NdjsonReader {
 public:
  static constexpr size_t kPadding = 64;  // >= SIMDJSON_PADDING

  // REQUIRES: max_line_bytes >= 1 MiB. Lines longer than that are an error, not a crash.
  static Result<NdjsonReader> Open(const std::filesystem::path& path, size_t max_line_bytes = 256u << 20);

  NdjsonReader(NdjsonReader&& other) noexcept;
  NdjsonReader& operator=(NdjsonReader&&) = delete;
  ~NdjsonReader();

  // Sets `line` to the next line without its line ending and returns true; returns false at
  // the end of the file or on error (then status() says which). Empty lines are returned too.
  // The view is valid until the next call.
  bool Next(std::string_view& line);

  const Status& status() const { return status_; }

  // After Next() failed on a line longer than the limit: drops that line and clears the error,
  // so reading goes on with the next line. Returns the I/O error if reading fails meanwhile.
  // REQUIRES: line_too_long().
  Status SkipLongLine();
  bool line_too_long() const { return too_long_; }
  uint64_t line_number() const { return line_number_; }  // 1-based number of the last line

 private:
  NdjsonReader(int fd, std::filesystem::path path, size_t max_line);
  bool Fill();
  bool TooLong();  // sets status_ for the next line; returns false

  int fd_ = -1;
  std::filesystem::path path_;
  size_t max_line_;
  std::unique_ptr<char[]> buf_;  // not zero-filled: bytes are read in before they are looked at
  size_t buf_size_ = 0;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  bool too_long_ = false;
  uint64_t line_number_ = 0;
  Status status_;
};

// Whether `line` holds nothing but spaces, tabs and '\r': NDJSON readers skip such lines, and
// they are no resources.
inline bool IsBlankLine(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace fhirlake::fhir
