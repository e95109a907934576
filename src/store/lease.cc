#include "fhirlake/store/lease.h"
#include "fhirlake/json_field.h"
#include "fhirlake/store/names.h"

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

// `nonce` makes each holder's document unique: a conditional write whose answer was lost is
// recognised by reading its bytes back (ObjectStore::PutIfAbsent), so no two holders may write
// the same bytes.
std::string LeaseDocument(const std::string& owner, const std::string& nonce, int64_t expires_ms, bool released) {
  return nlohmann::json{{"owner", owner}, {"nonce", nonce}, {"expiresMs", expires_ms}, {"released", released}}.dump();
}

uint64_t NewestGeneration(const std::vector<ObjectInfo>& listed, const std::string& name, int64_t* modified_ms) {
  uint64_t newest = 0;
  for (const auto& object : listed) {
    std::string_view tail = std::string_view(object.key).substr(name.size() + 1);
    if (tail.size() != 20 || tail.find_first_not_of("0123456789") != std::string_view::npos) continue;
    const uint64_t generation = std::stoull(std::string(tail));
    if (generation > newest) {
      newest = generation;
      if (modified_ms) *modified_ms = object.modified_ms;
    }
  }
  return newest;
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
  int64_t newest_modified_ms = 0;
  const uint64_t newest = NewestGeneration(*listed, name, &newest_modified_ms);
  const Status taken(StatusCode::kConflict, store.Describe() + ": " + name + " was just taken by another process");
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
    } else if (current.status().code() == StatusCode::kNotFound) {
      // Only a newer holder deletes older generations: the newest listed is gone, so another
      // process took the lease since the listing. (Writing newest + 1 could succeed, when that
      // holder has moved on and deleted it too.)
      return taken;
    } else {
      return current.status().WithContext("cannot read lease " + name);
    }
  }
  std::string key = GenerationKey(name, newest + 1);
  const std::string nonce = RandomHex(8);
  Status put = store.PutIfAbsent(key, LeaseDocument(options.owner, nonce, NowMs() + options.ttl.count(), false));
  if (put.code() == StatusCode::kConflict) return taken;
  if (!put.ok()) return put.WithContext("cannot take lease " + name);
  // A newer generation written while this one was being taken wins: step back.
  auto after = ListAll(store, name + "/");
  if (!after.ok()) {
    (void)store.Put(key, LeaseDocument(options.owner, nonce, 0, true));
    return after.status().WithContext("cannot read lease " + name);
  }
  if (NewestGeneration(*after, name, nullptr) > newest + 1) {
    (void)store.Put(key, LeaseDocument(options.owner, nonce, 0, true));
    return taken;
  }
  // Older generations are history now; removing them keeps listings short.
  for (const auto& object : *listed) {
    if (object.key < key) (void)store.Delete(object.key);
  }
  return std::unique_ptr<Lease>(new Lease(store, std::move(name), std::move(key), nonce, std::move(options)));
}

Lease::~Lease() {
  // Best effort: a lease not released here expires after its TTL.
  if (held_) (void)Release();
}

Status Lease::Write(bool released) {
  return store_.Put(key_, LeaseDocument(options_.owner, nonce_, released ? 0 : NowMs() + options_.ttl.count(), released));
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
