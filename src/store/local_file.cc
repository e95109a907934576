#include "fhirlake/store/local_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

namespace fhirlake::store {
namespace fs = std::filesystem;

Status WriteFileAtomically(const fs::path& path, std::string_view content) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  std::random_device rd;
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create " + tmp.string() + ": " + std::strerror(errno));
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fs::remove(tmp, ec);
      return IoError("cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    fs::remove(tmp, ec);
    return IoError("cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const fs::path& path, size_t max_bytes) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return NotFound("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes) return IoError(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::string out(static_cast<size_t>(size), '\0');
  if (!in.read(out.data(), static_cast<std::streamsize>(size))) return IoError("cannot read " + path.string());
  return out;
}

}  // namespace fhirlake::store
