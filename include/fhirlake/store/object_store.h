// store::ObjectStore: where bytes live. One interface, in the spirit of LevelDB's `Env` and
// DuckDB's `FileSystem&`, with a local-directory implementation (the embedded default) and an
// S3 one; code above it names objects by key and never sees a path or a bucket.
//
// Keys are '/'-separated names relative to the store's root (a directory, or
// `s3://bucket/prefix`), without a leading '/', e.g. "Patient/_delta_log/00000000000000000000.json".
// Every operation is safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::store {

struct ObjectInfo {
  std::string key;  // relative to the store's root
  uint64_t size = 0;
  // When the object was last written, in ms since the epoch (S3's LastModified, a file's
  // mtime); 0 when the store did not say. Vacuum ages files no commit references by it.
  int64_t modified_ms = 0;
};

// One page of a listing, in ascending key order.
struct ListPage {
  std::vector<ObjectInfo> objects;
  // ListShallow only: each "directory" below the prefix once, as its key up to and including
  // the first '/' after the prefix ("Patient/"), in ascending order.
  std::vector<std::string> prefixes;
  // Pass to the next List call to continue; empty when this was the last page.
  std::string next_token;
};

// A large object written as a stream (an NDJSON file, a Parquet file). Nothing is visible under
// the key until Close() succeeds; then the whole object appears at once. A writer destroyed
// without a successful Close() leaves nothing behind (temporary files are removed, S3 multipart
// uploads are aborted). Not thread-safe: one writer, one thread.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  // Appends bytes. Memory use is bounded (one part buffer for S3) whatever the object's size.
  [[nodiscard]] virtual Status Append(std::string_view bytes) = 0;
  // Publishes the object, replacing any object under the key. REQUIRES: called at most once.
  [[nodiscard]] virtual Status Close() = 0;
  // Bytes appended so far.
  virtual uint64_t size() const = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // The root as users write it ("/data/warehouse", "s3://bucket/prefix"), for messages.
  virtual std::string Describe() const = 0;

  // The whole object. kNotFound when absent; kIoError/kServer when larger than `max_bytes`
  // (use GetRange or OpenStore's streaming callers for bulk data).
  [[nodiscard]] virtual Result<std::string> Get(std::string_view key, size_t max_bytes = 64u << 20) = 0;

  // Up to `length` bytes starting at `offset`; fewer at the end of the object, empty at or
  // past it. kNotFound when the object is absent.
  [[nodiscard]] virtual Result<std::string> GetRange(std::string_view key, uint64_t offset, size_t length) = 0;

  // The object's size; kNotFound when absent.
  [[nodiscard]] virtual Result<uint64_t> Size(std::string_view key) = 0;

  // Writes the whole object atomically: readers see the old or the new content, never a mix.
  [[nodiscard]] virtual Status Put(std::string_view key, std::string_view content) = 0;

  // Writes the object only if no object exists under `key`. A lost race (the object exists,
  // or another writer created it first) returns StatusCode::kConflict and changes nothing.
  // A store that cannot tell whether its write landed (S3: an answer lost, a retry refused)
  // reads the object back and takes the same bytes for its own, so callers must write content
  // no other writer could (commits name new files; leases carry a nonce).
  // This is what Delta commits and leases rely on; see README "S3" for stores that cannot
  // refuse.
  [[nodiscard]] virtual Status PutIfAbsent(std::string_view key, std::string_view content) = 0;

  // Objects whose keys start with `prefix` (a plain string prefix, not only at '/'), at most
  // `max_keys` per page. Start with an empty `token`; continue with ListPage::next_token.
  // With `start_after`, only keys after it (S3's start-after): a listing of a table's log from
  // its last checkpoint on.
  [[nodiscard]] virtual Result<ListPage> List(std::string_view prefix, std::string_view token = {},
                                              int max_keys = 1000, std::string_view start_after = {}) = 0;

  // Like List, but one level deep (S3's delimiter "/"): the objects whose keys have no '/' after
  // `prefix`, and each deeper "directory" once in ListPage::prefixes; `max_keys` counts both.
  // Finding a warehouse's tables this way costs a request per thousand tables, not per thousand
  // files.
  [[nodiscard]] virtual Result<ListPage> ListShallow(std::string_view prefix, std::string_view token = {},
                                                     int max_keys = 1000) = 0;

  // Removes the object; removing an absent object is not an error.
  [[nodiscard]] virtual Status Delete(std::string_view key) = 0;

  // A streaming writer for `key`.
  [[nodiscard]] virtual Result<std::unique_ptr<ObjectWriter>> NewWriter(std::string_view key) = 0;
};

// Every object under `prefix` (after `start_after`, when given), following the pagination. For
// listings that fit in memory (table logs, job records), not for scans of a whole bucket.
[[nodiscard]] Result<std::vector<ObjectInfo>> ListAll(ObjectStore& store, std::string_view prefix,
                                                      std::string_view start_after = {});

// The names of the "directories" directly under `prefix` (without `prefix` and the '/'),
// following the pagination of ListShallow.
[[nodiscard]] Result<std::vector<std::string>> ListDirectories(ObjectStore& store, std::string_view prefix);

// Whether `location` names an S3 store ("s3://...").
bool IsS3Location(std::string_view location);

// The store for `location`: `s3://bucket[/prefix]` opens S3 with the configuration of the
// environment (S3Config::FromEnvironment); anything else is a local directory (created on first
// write). kInvalidArgument for a malformed s3:// URL or an unusable S3 configuration.
[[nodiscard]] Result<std::unique_ptr<ObjectStore>> OpenStore(std::string_view location);

// A local directory as a store. Put writes a temporary file and renames it over the key;
// PutIfAbsent links the temporary file to the key (link() fails if the name exists), which is
// atomic on every POSIX filesystem.
std::unique_ptr<ObjectStore> NewLocalStore(std::string root);

}  // namespace fhirlake::store
