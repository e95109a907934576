#include "fhirlake/store/lease.h"
#include "fhirlake/json_field.h"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace fhirlake::store {
namespace {

using Clock = std::chrono::system_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

std::string GenerationKey(const std::string& name, uint64_t generation) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%020llu", static_cast<unsigned long long>(generation));
  return name + "/" + digits;
}

std::string LeaseDocument(const std::string& owner, int64_t expires_ms, bool released) {
  return nlohmann::json{{"owner", owner}, {"expiresMs", expires_ms}, {"released", released}}.dump();
}

std::string FormatTime(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Result<std::unique_ptr<Lease>> Lease::Acquire(ObjectStore& store, std::string name, LeaseOptions options) {
  auto listed = ListAll(store, name + "/");
  if (!listed.ok()) return listed.status().WithContext("cannot read lease " + name);
  uint64_t newest = 0;
  int64_t newest_modified_ms = 0;
  for (const auto& object : *listed) {
    std::string_view tail = std::string_view(object.key).substr(name.size() + 1);
    if (tail.size() != 20 || tail.find_first_not_of("0123456789") != std::string_view::npos) continue;
    const uint64_t generation = std::stoull(std::string(tail));
    if (generation > newest) {
      newest = generation;
      newest_modified_ms = object.modified_ms;
    }
  }
  if (newest > 0) {
    auto current = store.Get(GenerationKey(name, newest));
    if (current.ok()) {
      auto doc = nlohmann::json::parse(*current, nullptr, false);
      bool released = doc.is_object() && FieldOr(doc, "released", false);
      // A document that does not parse was read while its holder was writing it (a store whose
      // writes are not atomic): held, unless it has been that way for a whole lease time.
      int64_t expires = doc.is_object() ? FieldOr(doc, "expiresMs", int64_t{0})
                                        : newest_modified_ms + options.ttl.count();
      if (!released && expires > NowMs()) {
        std::string owner = doc.is_object() ? FieldOr(doc, "owner", std::string("another process")) : "another process";
        return Status(StatusCode::kConflict, store.Describe() + ": " + name + " is held by " + owner + " until " +
                                                 FormatTime(expires) + " (it expires then if its holder died)");
      }
    } else if (current.status().code() != StatusCode::kNotFound) {
      return current.status().WithContext("cannot read lease " + name);
    }
  }
  std::string key = GenerationKey(name, newest + 1);
  Status put = store.PutIfAbsent(key, LeaseDocument(options.owner, NowMs() + options.ttl.count(), false));
  if (put.code() == StatusCode::kConflict) {
    return Status(StatusCode::kConflict, store.Describe() + ": " + name + " was just taken by another process");
  }
  if (!put.ok()) return put.WithContext("cannot take lease " + name);
  // Older generations are history now; removing them keeps listings short.
  for (const auto& object : *listed) {
    if (object.key < key) (void)store.Delete(object.key);
  }
  return std::unique_ptr<Lease>(new Lease(store, std::move(name), std::move(key), std::move(options)));
}

Lease::~Lease() {
  // Best effort: a lease not released here expires after its TTL.
  if (held_) (void)Release();
}

Status Lease::Write(bool released) {
  return store_.Put(key_, LeaseDocument(options_.owner, released ? 0 : NowMs() + options_.ttl.count(), released));
}

Status Lease::Renew() {
  if (!held_) return Status(StatusCode::kConflict, "lease " + name_ + " was released");
  // A newer generation means our lease expired and was taken over.
  auto listed = ListAll(store_, name_ + "/");
  if (!listed.ok()) return listed.status().WithContext("cannot renew lease " + name_);
  for (const auto& object : *listed) {
    if (object.key > key_) {
      held_ = false;
      return Status(StatusCode::kConflict,
                    store_.Describe() + ": lease " + name_ + " expired and was taken over by another process");
    }
  }
  return Write(false).WithContext("cannot renew lease " + name_);
}

Status Lease::Release() {
  if (!held_) return Status::Ok();
  held_ = false;
  return Write(true).WithContext("cannot release lease " + name_);
}

}  // namespace fhirlake::store
