#include "fhirlake/parquet/byte_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace fhirlake::parquet {
namespace {

class FileSink : public OutputSink {
 public:
  FileSink(std::FILE* file, std::filesystem::path path) : file_(file), path_(std::move(path)) {
    std::setvbuf(file_, nullptr, _IOFBF, 1u << 20);
  }
  ~FileSink() override {
    if (file_) std::fclose(file_);
  }
  Status Append(std::string_view bytes) override {
    if (!file_) return InternalError("append to a closed file " + path_.string());
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      return IoError("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    return Status::Ok();
  }
  Status Close() override {
    if (!file_) return InternalError(path_.string() + " closed twice");
    bool ok = std::fflush(file_) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok) return IoError("cannot write " + path_.string() + ": " + std::strerror(errno));
    return Status::Ok();
  }
  std::string name() const override { return path_.string(); }

 private:
  std::FILE* file_;
  std::filesystem::path path_;
};

class FileSource : public InputSource {
 public:
  FileSource(std::FILE* file, std::filesystem::path path) : file_(file), path_(std::move(path)) {}
  ~FileSource() override { std::fclose(file_); }
  Result<uint64_t> Size() override {
    if (std::fseek(file_, 0, SEEK_END) != 0) return IoError("cannot read " + path_.string() + ": " + std::strerror(errno));
    long end = std::ftell(file_);
    if (end < 0) return IoError("cannot read " + path_.string() + ": " + std::strerror(errno));
    return static_cast<uint64_t>(end);
  }
  Result<std::string> ReadAt(uint64_t offset, size_t length) override {
    std::string out(length, '\0');
    if (std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0 ||
        std::fread(out.data(), 1, length, file_) != length) {
      return IoError("cannot read " + std::to_string(length) + " bytes at " + std::to_string(offset) + " of " +
                     path_.string() + ": the file ends early or is unreadable");
    }
    return out;
  }
  std::string name() const override { return path_.string(); }

 private:
  std::FILE* file_;
  std::filesystem::path path_;
};

}  // namespace

Result<std::unique_ptr<OutputSink>> OpenFileSink(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return IoError("cannot create " + path.string() + ": " + std::strerror(errno));
  return std::unique_ptr<OutputSink>(new FileSink(f, path));
}

Result<std::unique_ptr<InputSource>> OpenFileSource(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  return std::unique_ptr<InputSource>(new FileSource(f, path));
}

}  // namespace fhirlake::parquet
