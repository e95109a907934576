#include "fhirlake/fhir/ndjson_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fhirlake::fhir {

namespace {
constexpr size_t kChunk = 4u << 20;
}

Result<NdjsonReader> NdjsonReader::Open(const std::filesystem::path& path, size_t max_line_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return NdjsonReader(fd, path, max_line_bytes);
}

NdjsonReader::NdjsonReader(int fd, std::filesystem::path path, size_t max_line)
    : fd_(fd), path_(std::move(path)), max_line_(max_line),
      buf_(std::make_unique_for_overwrite<char[]>(kChunk + kPadding)), buf_size_(kChunk + kPadding) {}

NdjsonReader::NdjsonReader(NdjsonReader&& o) noexcept
    : fd_(o.fd_), path_(std::move(o.path_)), max_line_(o.max_line_), buf_(std::move(o.buf_)), buf_size_(o.buf_size_),
      begin_(o.begin_), end_(o.end_), eof_(o.eof_), too_long_(o.too_long_), line_number_(o.line_number_),
      status_(o.status_) {
  o.fd_ = -1;
}

NdjsonReader::~NdjsonReader() {
  if (fd_ >= 0) ::close(fd_);
}

// Moves the unread bytes to the front and reads more; grows the buffer for long lines.
bool NdjsonReader::Fill() {
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  size_t capacity = buf_size_ - kPadding;
  if (end_ == capacity) {
    if (capacity >= max_line_) return TooLong();
    const size_t size = std::min(capacity * 2, max_line_) + kPadding;
    auto grown = std::make_unique_for_overwrite<char[]>(size);
    std::memcpy(grown.get(), buf_.get(), end_);
    buf_ = std::move(grown);
    buf_size_ = size;
    capacity = size - kPadding;
  }
  ssize_t n;
  do {
    n = ::read(fd_, buf_.get() + end_, capacity - end_);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    status_ = IoError("cannot read " + path_.string() + ": " + std::strerror(errno));
    return false;
  }
  if (n == 0) eof_ = true;
  end_ += static_cast<size_t>(n);
  // The buffer is not zero-filled: the padding a line may be parsed into is set here.
  std::memset(buf_.get() + end_, ' ', kPadding);
  return true;
}

Status NdjsonReader::SkipLongLine() {
  too_long_ = false;
  status_ = Status::Ok();
  ++line_number_;
  while (true) {
    if (const void* nl = std::memchr(buf_.get() + begin_, '\n', end_ - begin_)) {
      begin_ = static_cast<size_t>(static_cast<const char*>(nl) - buf_.get()) + 1;
      return Status::Ok();
    }
    begin_ = end_ = 0;  // all of it belongs to the long line
    if (eof_) return Status::Ok();
    if (!Fill()) return status_;
  }
}

bool NdjsonReader::TooLong() {
  too_long_ = true;
  status_ = InvalidArgument(path_.string() + " line " + std::to_string(line_number_ + 1) + " is longer than " +
                            std::to_string(max_line_) + " bytes");
  return false;
}

bool NdjsonReader::Next(std::string_view& line) {
  if (!status_.ok()) return false;
  while (true) {
    const char* start = buf_.get() + begin_;
    const void* nl = std::memchr(start, '\n', end_ - begin_);
    if (nl) {
      size_t len = static_cast<const char*>(nl) - start;
      if (len > max_line_) return TooLong();
      begin_ += len + 1;
      if (len > 0 && start[len - 1] == '\r') --len;
      line = std::string_view(start, len);
      ++line_number_;
      return true;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      size_t len = end_ - begin_;
      if (len > max_line_) return TooLong();
      std::memset(buf_.get() + end_, ' ', kPadding);
      line = std::string_view(buf_.get() + begin_, len);
      if (len > 0 && line.back() == '\r') line.remove_suffix(1);
      begin_ = end_;
      ++line_number_;
      return true;
    }
    if (!Fill()) return false;
  }
}

}  // namespace fhirlake::fhir
