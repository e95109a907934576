// The local-directory ObjectStore. Objects are files under the root; a key's '/' are
// directories. Writes go to a temporary file beside the target (".<name>.fhirlake-tmp-<hex>",
// never listed) that is fsynced and then renamed (Put, writers) or linked (PutIfAbsent) into
// place, so a reader never sees a partial object.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fhirlake/store/names.h"
#include "fhirlake/store/object_store.h"

namespace fhirlake::store {
namespace {
namespace fs = std::filesystem;

constexpr std::string_view kTempMarker = ".fhirlake-tmp-";

std::string ErrnoText() { return std::strerror(errno); }

int64_t ModifiedMillis(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// A file descriptor closed on destruction.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { int fd = fd_; fd_ = -1; return fd; }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write " + path.string() + ": " + ErrnoText() + " (check free space)");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// A temporary file beside `target`, removed on destruction unless published.
class TempFile {
 public:
  explicit TempFile(const fs::path& target)
      : path_(target.parent_path() / ("." + target.filename().string() + std::string(kTempMarker) + RandomHex(6))) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  Status Open() {
    std::error_code ec;
    fs::create_directories(path_.parent_path(), ec);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) return IoError("cannot create " + path_.string() + ": " + ErrnoText());
    return Status::Ok();
  }
  Status Write(std::string_view bytes) { return WriteAll(fd_, bytes, path_); }
  // fsync and close; the file stays until Rename/Link or destruction.
  Status Finish() {
    int fd = fd_;
    fd_ = -1;
    if (::fsync(fd) != 0) {
      std::string err = ErrnoText();
      ::close(fd);
      return IoError("cannot write " + path_.string() + ": " + err);
    }
    if (::close(fd) != 0) return IoError("cannot write " + path_.string() + ": " + ErrnoText());
    return Status::Ok();
  }
  Status RenameTo(const fs::path& target) {
    if (::rename(path_.c_str(), target.c_str()) != 0) {
      return IoError("cannot rename " + path_.string() + " to " + target.string() + ": " + ErrnoText());
    }
    path_.clear();
    return Status::Ok();
  }
  // link() refuses an existing name: the atomic "create if absent" of POSIX filesystems.
  Status LinkTo(const fs::path& target) {
    if (::link(path_.c_str(), target.c_str()) != 0) {
      if (errno == EEXIST) return {StatusCode::kConflict, target.string() + " already exists"};
      return IoError("cannot create " + target.string() + ": " + ErrnoText());
    }
    return Status::Ok();  // the destructor removes the temporary name
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

class LocalWriter : public ObjectWriter {
 public:
  LocalWriter(fs::path target) : target_(std::move(target)), temp_(target_) {}
  Status Open() { return temp_.Open(); }
  Status Append(std::string_view bytes) override {
    if (closed_) return InternalError("append to a closed writer for " + target_.string());
    FHIRLAKE_RETURN_IF_ERROR(temp_.Write(bytes));
    size_ += bytes.size();
    return Status::Ok();
  }
  Status Close() override {
    if (closed_) return InternalError("writer for " + target_.string() + " closed twice");
    closed_ = true;
    FHIRLAKE_RETURN_IF_ERROR(temp_.Finish());
    return temp_.RenameTo(target_);
  }
  uint64_t size() const override { return size_; }

 private:
  fs::path target_;
  TempFile temp_;
  uint64_t size_ = 0;
  bool closed_ = false;
};

class LocalStore : public ObjectStore {
 public:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  std::string Describe() const override { return root_.string(); }

  Result<std::string> Get(std::string_view key, size_t max_bytes) override {
    auto size = Size(key);
    if (!size.ok()) return size.status();
    if (*size > max_bytes) {
      return IoError(PathOf(key).string() + " is larger than " + std::to_string(max_bytes) +
                     " bytes; read it in ranges");
    }
    return GetRange(key, 0, static_cast<size_t>(*size));
  }

  Result<std::string> GetRange(std::string_view key, uint64_t offset, size_t length) override {
    fs::path path = PathOf(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return NotFound(path.string() + " does not exist");
      return IoError("cannot open " + path.string() + ": " + ErrnoText());
    }
    std::string out(length, '\0');
    size_t got = 0;
    while (got < length) {
      ssize_t n = ::pread(fd.get(), out.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot read " + path.string() + ": " + ErrnoText());
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }

  Result<uint64_t> Size(std::string_view key) override {
    std::error_code ec;
    fs::path path = PathOf(key);
    auto status = fs::status(path, ec);
    if (ec || !fs::is_regular_file(status)) return NotFound(path.string() + " does not exist");
    auto size = fs::file_size(path, ec);
    if (ec) return IoError("cannot read " + path.string() + ": " + ec.message());
    return static_cast<uint64_t>(size);
  }

  Status Put(std::string_view key, std::string_view content) override {
    fs::path target = PathOf(key);
    TempFile temp(target);
    FHIRLAKE_RETURN_IF_ERROR(temp.Open());
    FHIRLAKE_RETURN_IF_ERROR(temp.Write(content));
    FHIRLAKE_RETURN_IF_ERROR(temp.Finish());
    return temp.RenameTo(target);
  }

  Status PutIfAbsent(std::string_view key, std::string_view content) override {
    fs::path target = PathOf(key);
    std::error_code ec;
    if (fs::exists(target, ec)) return {StatusCode::kConflict, target.string() + " already exists"};
    TempFile temp(target);
    FHIRLAKE_RETURN_IF_ERROR(temp.Open());
    FHIRLAKE_RETURN_IF_ERROR(temp.Write(content));
    FHIRLAKE_RETURN_IF_ERROR(temp.Finish());
    FHIRLAKE_RETURN_IF_ERROR(temp.LinkTo(target));
    // The new name is durable once its directory is: a commit must survive a power cut.
    Fd dir(::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());
    return Status::Ok();
  }

  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys,
                        std::string_view start_after) override {
    // Walk only the deepest directory the prefix names; the rest of the prefix filters names.
    std::string_view dir_part = prefix.substr(0, prefix.rfind('/') == std::string_view::npos ? 0 : prefix.rfind('/'));
    fs::path start = dir_part.empty() ? root_ : root_ / std::string(dir_part);
    std::vector<ObjectInfo> all;
    std::error_code ec;
    if (fs::is_directory(start, ec)) {
      fs::recursive_directory_iterator it(start, ec), end;
      if (ec) return IoError("cannot list " + start.string() + ": " + ec.message());
      for (; it != end; it.increment(ec)) {
        if (ec) return IoError("cannot list " + start.string() + ": " + ec.message());
        if (!it->is_regular_file(ec)) continue;
        std::string name = it->path().filename().string();
        if (name.find(kTempMarker) != std::string::npos) continue;
        std::string key = fs::relative(it->path(), root_, ec).generic_string();
        if (key.compare(0, prefix.size(), prefix) != 0) continue;
        if ((!token.empty() && key <= token) || (!start_after.empty() && key <= start_after)) continue;
        all.push_back({std::move(key), static_cast<uint64_t>(it->file_size(ec)), ModifiedMillis(it->path())});
      }
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    ListPage page;
    size_t limit = static_cast<size_t>(std::max(1, max_keys));
    if (all.size() > limit) {
      all.resize(limit);
      page.next_token = all.back().key;  // the next page starts after this key
    }
    page.objects = std::move(all);
    return page;
  }

  Result<ListPage> ListShallow(std::string_view prefix, std::string_view token, int max_keys) override {
    const size_t slash = prefix.rfind('/');
    const std::string dir_key(slash == std::string_view::npos ? std::string_view() : prefix.substr(0, slash + 1));
    const std::string_view name_prefix = prefix.substr(dir_key.size());
    const fs::path dir = dir_key.empty() ? root_ : root_ / dir_key;
    struct Entry {
      std::string key;  // a directory's ends in '/'
      ObjectInfo info;
    };
    std::vector<Entry> entries;
    std::error_code ec;
    if (fs::is_directory(dir, ec)) {
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.starts_with(name_prefix) || name.find(kTempMarker) != std::string::npos) continue;
        const bool directory = it->is_directory(ec);
        if (!directory && !it->is_regular_file(ec)) continue;
        std::string key = dir_key + name + (directory ? "/" : "");
        if (!token.empty() && key <= token) continue;
        ObjectInfo info;
        if (!directory) info = {key, static_cast<uint64_t>(it->file_size(ec)), ModifiedMillis(it->path())};
        entries.push_back({std::move(key), std::move(info)});
      }
      if (ec) return IoError("cannot list " + dir.string() + ": " + ec.message());
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
    ListPage page;
    const size_t limit = static_cast<size_t>(std::max(1, max_keys));
    if (entries.size() > limit) {
      entries.resize(limit);
      page.next_token = entries.back().key;
    }
    for (Entry& e : entries) {
      if (e.key.ends_with('/')) {
        page.prefixes.push_back(std::move(e.key));
      } else {
        page.objects.push_back(std::move(e.info));
      }
    }
    return page;
  }

  Status Delete(std::string_view key) override {
    fs::path path = PathOf(key);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return IoError("cannot delete " + path.string() + ": " + ErrnoText());
    }
    return Status::Ok();
  }

  Result<std::unique_ptr<ObjectWriter>> NewWriter(std::string_view key) override {
    auto writer = std::make_unique<LocalWriter>(PathOf(key));
    FHIRLAKE_RETURN_IF_ERROR(writer->Open());
    return std::unique_ptr<ObjectWriter>(std::move(writer));
  }

 private:
  fs::path PathOf(std::string_view key) const { return root_ / std::string(key); }

  fs::path root_;
};

}  // namespace

std::unique_ptr<ObjectStore> NewLocalStore(std::string root) {
  return std::make_unique<LocalStore>(std::move(root));
}

}  // namespace fhirlake::store
