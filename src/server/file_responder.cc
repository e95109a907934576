#include "src/server/file_responder.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace fhirlake::server {
namespace fs = std::filesystem;

namespace {

constexpr size_t kChunk = 256u << 10;
constexpr size_t kObjectChunk = 4u << 20;  // one ranged GET of an object

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Paces a transfer to `rate` bytes per second.
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(std::chrono::steady_clock::now()) {}
  void Sent(size_t n) {
    if (rate_ <= 0) return;
    sent_ += n;
    auto due = start_ + std::chrono::duration<double>(static_cast<double>(sent_) / rate_);
    std::this_thread::sleep_until(due);
  }
  // How much to send at once: everything when unpaced, else about a tenth of a second's worth,
  // so a paced transfer notices a gone client (and a stopping server) soon.
  size_t Chunk(size_t max) const {
    return rate_ <= 0 ? max : std::clamp(static_cast<size_t>(rate_ / 10), size_t{1024}, max);
  }

 private:
  double rate_;
  std::chrono::steady_clock::time_point start_;
  uint64_t sent_ = 0;
};

// Serves the file's bytes from `offset` on, paced; at the offset `cut` (a reset fault) or
// on a read error the connection is dropped.
httplib::ContentProvider FileChunks(std::shared_ptr<Fd> fd, std::shared_ptr<Pacer> pacer, uint64_t cut) {
  return [fd, pacer, cut](size_t offset, size_t len, httplib::DataSink& sink) {
    std::vector<char> buf(pacer->Chunk(std::min(len, kChunk)));
    size_t want = buf.size();
    if (offset + want > cut) want = cut > offset ? static_cast<size_t>(cut - offset) : 0;
    ssize_t n = want ? ::pread(fd->fd, buf.data(), want, static_cast<off_t>(offset)) : 0;
    if (n <= 0) return false;
    if (!sink.write(buf.data(), static_cast<size_t>(n))) return false;
    pacer->Sent(static_cast<size_t>(n));
    return true;
  };
}

// A gzip stream (zlib level 6), fed a chunk at a time; `Feed` hands each compressed piece to
// `out` and returns false when `out` does or zlib fails.
class GzipStream {
 public:
  GzipStream() { ok_ = deflateInit2(&z_, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK; }
  ~GzipStream() { deflateEnd(&z_); }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  template <typename Out>
  bool Feed(const char* data, size_t n, bool finish, Out&& out) {
    if (!ok_) return false;
    char* const buf = buf_.data();
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z_.avail_in = static_cast<uInt>(n);
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = static_cast<uInt>(buf_.size());
      if (deflate(&z_, finish ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR) return false;
      const size_t have = buf_.size() - z_.avail_out;
      if (have && !out(buf, have)) return false;
    } while (z_.avail_out == 0);
    return true;
  }

 private:
  z_stream z_{};
  bool ok_ = false;
  std::vector<char> buf_ = std::vector<char>(kChunk + 1024);
};

void ServeGzip(httplib::Response& res, std::shared_ptr<Fd> fd, double rate) {
  struct GzipState {
    GzipStream gzip;
    off_t pos = 0;
    Pacer pacer;
    explicit GzipState(double r) : pacer(r) {}
  };
  auto st = std::make_shared<GzipState>(rate);
  res.set_header("Content-Encoding", "gzip");
  res.set_chunked_content_provider("application/fhir+ndjson", [fd, st](size_t, httplib::DataSink& sink) {
    std::vector<char> in(st->pacer.Chunk(kChunk));
    ssize_t n = ::pread(fd->fd, in.data(), in.size(), st->pos);
    if (n < 0) return false;
    st->pos += n;
    const bool finish = n == 0;
    const bool fed = st->gzip.Feed(in.data(), static_cast<size_t>(n), finish, [&](const char* out, size_t have) {
      if (!sink.write(out, have)) return false;
      st->pacer.Sent(have);
      return true;
    });
    if (!fed) return false;
    if (finish) sink.done();
    return true;
  });
}

}  // namespace

namespace {

// Answers 416 when `req` asks for a single range starting at or past `size`; returns whether it did.
bool RangePastTheEnd(const httplib::Request& req, httplib::Response& res, uint64_t size) {
  if (req.ranges.size() != 1) return false;
  const auto start = req.ranges[0].first;
  if (start < 0 || static_cast<uint64_t>(start) < size) return false;
  res.status = 416;
  res.set_header("Content-Range", "bytes */" + std::to_string(size));
  return true;
}

// The whole file `fd`, gzip-compressed.
Result<std::string> GzipWhole(int fd) {
  std::string out;
  GzipStream gzip;
  std::vector<char> in(kChunk);
  for (off_t pos = 0;;) {
    const ssize_t n = ::pread(fd, in.data(), in.size(), pos);
    if (n < 0) return IoError("cannot read the file to compress");
    pos += n;
    const bool fed = gzip.Feed(in.data(), static_cast<size_t>(n), n == 0, [&](const char* data, size_t have) {
      out.append(data, have);
      return true;
    });
    if (!fed) return InternalError("cannot gzip the file");
    if (n == 0) return out;
  }
}

}  // namespace

Status FileResponder::Send(const httplib::Request& req, httplib::Response& res, const fs::path& path,
                           const FileResponse& how) {
  auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (fd->fd < 0 || ec) return IoError("cannot open " + path.string());
  if (how.stored_gzip) {  // the compressed bytes are the representation: Range and reset count them
    auto gz = GzipWhole(fd->fd);
    if (!gz.ok()) return gz.status();
    auto body = std::make_shared<std::string>(std::move(gz).value());
    res.set_header("Content-Encoding", "gzip");
    if (RangePastTheEnd(req, res, body->size())) return Status::Ok();
    const uint64_t gz_cut =
        how.reset ? static_cast<uint64_t>(static_cast<double>(body->size()) * *how.reset) : UINT64_MAX;
    res.set_header("Accept-Ranges", "bytes");
    res.set_content_provider(body->size(), "application/fhir+ndjson",
                             [body, gz_cut](size_t offset, size_t len, httplib::DataSink& sink) {
                               size_t n = std::min({len, kChunk, body->size() - offset});
                               if (offset + n > gz_cut) n = gz_cut > offset ? static_cast<size_t>(gz_cut - offset) : 0;
                               return n > 0 && sink.write(body->data() + offset, n);
                             });
    return Status::Ok();
  }
  if (RangePastTheEnd(req, res, size)) return Status::Ok();
  uint64_t length = size;
  uint64_t cut = UINT64_MAX;  // absolute offset where a reset drops the connection
  if (how.truncate && req.ranges.empty()) {
    length = static_cast<uint64_t>(static_cast<double>(size) * *how.truncate);
  } else if (how.reset) {
    cut = static_cast<uint64_t>(static_cast<double>(size) * *how.reset);
  }
  if (how.gzip) {
    ServeGzip(res, fd, how.rate);
    return Status::Ok();
  }
  res.set_header("Accept-Ranges", "bytes");
  res.set_content_provider(static_cast<size_t>(length), "application/fhir+ndjson",
                           FileChunks(fd, std::make_shared<Pacer>(how.rate), cut));
  return Status::Ok();
}

Status FileResponder::SendObject(const httplib::Request& req, httplib::Response& res, store::ObjectStore& store,
                                 const std::string& key) {
  auto size = store.Size(key);
  if (!size.ok()) return size.status();
  if (RangePastTheEnd(req, res, *size)) return Status::Ok();
  res.set_header("Accept-Ranges", "bytes");
  res.set_content_provider(static_cast<size_t>(*size), "application/fhir+ndjson",
                           [&store, key](size_t offset, size_t len, httplib::DataSink& sink) {
                             auto bytes = store.GetRange(key, offset, std::min(len, kObjectChunk));
                             if (!bytes.ok() || bytes->empty()) return false;  // drops the connection
                             return sink.write(bytes->data(), bytes->size());
                           });
  return Status::Ok();
}

}  // namespace fhirlake::server
