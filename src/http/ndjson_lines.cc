#include "fhirlake/http/ndjson_lines.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace fhirlake::http {

void NdjsonLineCounter::Feed(const char* data, size_t n) {
  const char* p = data;
  const char* const end = data + n;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    // Usually decided by the line's first byte ('{'), so the scan stays one memchr per line.
    for (const char* c = p; !content_ && c < line_end; ++c) content_ = *c != ' ' && *c != '\t' && *c != '\r';
    if (!nl) break;
    records_ += content_ ? 1 : 0;
    content_ = false;
    last_line_start_ = size_ + static_cast<uint64_t>(nl - data) + 1;
    p = nl + 1;
  }
  size_ += n;
}

Status CountNdjsonFile(const std::filesystem::path& path, NdjsonLineCounter& counter) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(1u << 20);
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) counter.Feed(buf.data(), static_cast<size_t>(n));
  const int err = errno;
  ::close(fd);
  if (n < 0) return IoError("cannot read " + path.string() + ": " + std::strerror(err));
  return Status::Ok();
}

Result<uint64_t> CountNdjsonRecords(const std::filesystem::path& path) {
  NdjsonLineCounter counter;
  FHIRLAKE_RETURN_IF_ERROR(CountNdjsonFile(path, counter));
  return counter.Records();
}

}  // namespace fhirlake::http
