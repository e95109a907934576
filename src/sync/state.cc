#include "fhirlake/sync/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "fhirlake/store/lease.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/json_field.h"

namespace fhirlake::sync {
namespace fs = std::filesystem;
using nlohmann::json;

std::string SyncKey(const std::string& source, const std::string& group, std::vector<std::string> types) {
  std::sort(types.begin(), types.end());
  std::string key = source + "|group=" + group + "|types=";
  for (size_t i = 0; i < types.size(); ++i) key += (i ? "," : "") + types[i];
  return key;
}

StateFile::StateFile(const fs::path& warehouse)
    : warehouse_(warehouse.string()),
      location_(store::WarehouseLayout(warehouse_).Locate(store::WarehouseLayout::kState)) {}

StateFile::StateFile(std::shared_ptr<store::ObjectStore> warehouse)
    : warehouse_(warehouse->Describe()),
      location_(store::WarehouseLayout(warehouse_).Locate(store::WarehouseLayout::kState)),
      store_(std::move(warehouse)) {}

Status StateFile::Open() const {
  if (store_) return Status::Ok();
  auto opened = store::OpenStore(warehouse_);
  if (!opened.ok()) return opened.status();
  store_ = std::move(opened.value());
  return Status::Ok();
}

Result<std::map<std::string, SyncEntry>> StateFile::Read() const {
  std::map<std::string, SyncEntry> out;
  FHIRLAKE_RETURN_IF_ERROR(Open());
  auto text = store_->Get(store::WarehouseLayout::kState);
  if (text.status().code() == StatusCode::kNotFound) return out;
  if (!text.ok()) return text.status().WithContext("cannot read the sync state " + location_);
  json doc = json::parse(*text, nullptr, false);
  if (!doc.is_object() || !doc.contains("syncs") || !doc["syncs"].is_object()) {
    return DataLoss(location_ + " is not a fhirlake state file; move it away to start over");
  }
  for (const auto& [key, j] : doc["syncs"].items()) {
    SyncEntry e;
    e.source = FieldOr(j, "source", "");
    e.group = FieldOr(j, "group", "");
    for (const auto& t : FieldOr(j, "types", json::array())) {
      if (t.is_string()) e.types.push_back(t.get<std::string>());
    }
    e.transaction_time = FieldOr(j, "transactionTime", "");
    e.last_success = FieldOr(j, "lastSuccess", "");
    e.last_error = FieldOr(j, "lastError", "");
    e.last_error_at = FieldOr(j, "lastErrorAt", "");
    if (j.contains("inFlight") && j["inFlight"].is_object()) {
      const json& f = j["inFlight"];
      e.in_flight = InFlight{FieldOr(f, "exportDir", ""), FieldOr(f, "since", ""), FieldOr(f, "fullRefresh", false),
                             FieldOr(f, "startedAt", ""), FieldOr(f, "statusUrl", "")};
    }
    out[key] = std::move(e);
  }
  return out;
}

namespace {

// An exclusive flock on `path` (created) while it lives: syncs of other keys into the same
// warehouse run at the same time, and each rewrites the whole state file.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The state lease on an object store, waited for while another writer holds it (a Put holds
// it for a read and a write, well under a second).
Result<std::unique_ptr<store::Lease>> AcquireStateLease(store::ObjectStore& store, const std::string& location) {
  using namespace std::chrono_literals;
  store::LeaseOptions options;
  options.ttl = 60s;  // a writer that dies holding it delays the others this long at most
  options.owner = "a writer of " + location;
  const auto deadline = std::chrono::steady_clock::now() + options.ttl + 30s;
  for (auto pause = 20ms;; pause = std::min<std::chrono::milliseconds>(pause * 2, 500ms)) {
    auto lease = store::Lease::Acquire(store, store::WarehouseLayout::StateLock(), options);
    if (lease.ok() || lease.status().code() != StatusCode::kConflict) return lease;
    if (std::chrono::steady_clock::now() > deadline) {
      return lease.status().WithContext("cannot write the sync state " + location);
    }
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace

Status StateFile::Put(const std::string& key, const SyncEntry& e) const {
  // One writer at a time: syncs of other keys rewrite the same document. In a directory an
  // advisory lock, on an object store a lease.
  FHIRLAKE_RETURN_IF_ERROR(Open());
  std::optional<FileLock> lock;
  std::unique_ptr<store::Lease> lease;
  if (!store::IsS3Location(warehouse_)) {
    lock.emplace(fs::path(location_ + ".lock"));
    if (!lock->ok()) return IoError("cannot lock " + location_ + ".lock");
  } else {
    auto acquired = AcquireStateLease(*store_, location_);
    if (!acquired.ok()) return acquired.status();
    lease = std::move(acquired.value());
  }
  auto current = Read();
  if (!current.ok()) return current.status();
  (*current)[key] = e;
  json syncs = json::object();
  for (const auto& [k, v] : *current) {
    json j = {{"source", v.source}, {"group", v.group}, {"types", v.types}, {"transactionTime", v.transaction_time},
              {"lastSuccess", v.last_success}};
    if (!v.last_error.empty()) {
      j["lastError"] = v.last_error;
      j["lastErrorAt"] = v.last_error_at;
    }
    if (v.in_flight) {
      j["inFlight"] = {{"exportDir", v.in_flight->export_dir}, {"since", v.in_flight->since},
                       {"fullRefresh", v.in_flight->full_refresh}, {"startedAt", v.in_flight->started_at},
                       {"statusUrl", v.in_flight->status_url}};
    }
    syncs[k] = j;
  }
  Status written = store_->Put(store::WarehouseLayout::kState, json{{"version", 1}, {"syncs", syncs}}.dump(2) + "\n");
  return written.ok() ? written : written.WithContext("cannot write the sync state " + location_);
}

}  // namespace fhirlake::sync
