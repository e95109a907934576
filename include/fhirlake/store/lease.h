// store::Lease: "one at a time" on any ObjectStore, where flock() cannot reach (S3). A lease is
// a small object written with put-if-absent and carrying an expiry; a holder that crashes stops
// renewing, and once its expiry passes the next process takes the lease over.
//
// Objects: `<name>/<generation>` (20 digits). Taking the lease means creating generation g+1
// with PutIfAbsent, where g is the newest generation listed, and only when g is released or
// expired; so of several processes racing for the lease, or for the takeover of an expired
// one, exactly one creates g+1. Generations only grow: a release marks its object released
// instead of deleting it, and the new holder deletes older generations. So a generation g that
// was listed and is gone when read means a newer holder, and so does a generation above g+1
// listed right after g+1 was written: both end the attempt with kConflict.
//
// REQUIRES: the store's PutIfAbsent can refuse (local directories, AWS S3, MinIO, R2); the
// clocks of the processes agree to well within the lease time.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::store {

struct LeaseOptions {
  std::chrono::milliseconds ttl{std::chrono::minutes(5)};  // renew well before this passes
  std::string owner;  // who holds it, for the message others get (host, pid, command)
};

class Lease {
 public:
  // Takes the lease `name` (a key prefix in `store`, e.g. "_fhirlake/locks/sync-<id>").
  // kConflict when another holder's lease is live (the message names the owner and its
  // expiry) or another process took it in the same instant. `store` must outlive the Lease.
  static Result<std::unique_ptr<Lease>> Acquire(ObjectStore& store, std::string name, LeaseOptions options);

  // Releases the lease if still held (best effort).
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Pushes the expiry ttl into the future. kConflict when the lease expired and another process
  // took it over: the caller must stop the work the lease guards.
  [[nodiscard]] Status Renew();
  // Gives the lease up; the next Acquire succeeds at once.
  [[nodiscard]] Status Release();

  const std::string& key() const { return key_; }

 private:
  Lease(ObjectStore& store, std::string name, std::string key, std::string nonce, LeaseOptions options)
      : store_(store), name_(std::move(name)), key_(std::move(key)), nonce_(std::move(nonce)), options_(std::move(options)) {}
  Status Write(bool released);

  ObjectStore& store_;
  std::string name_;
  std::string key_;  // our generation's object
  std::string nonce_;  // makes our documents unlike any other holder's
  LeaseOptions options_;
  bool held_ = true;
};

}  // namespace fhirlake::store
