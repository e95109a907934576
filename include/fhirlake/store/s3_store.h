// The S3 implementation of store::ObjectStore: the S3 REST API over the http module's libcurl
// client (its retry policy: 500/503 SlowDown and connection resets are retried with backoff),
// requests signed with AWS Signature Version 4. Works with AWS S3 and S3-compatible stores
// (MinIO, R2, Ceph) through a custom endpoint.
//
// Conditional writes: PutIfAbsent sends `If-None-Match: *` and maps 412 to kConflict. A store
// that ignores the header cannot refuse a second writer (README "S3").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::store {

// `s3://bucket/key-or-prefix`, split.
struct S3Location {
  std::string bucket;
  std::string key;  // no leading '/'; may be empty

  // kInvalidArgument unless `url` is s3://BUCKET[/KEY] with a valid bucket name.
  static Result<S3Location> Parse(std::string_view url);
  std::string ToString() const;
};

// Whether `url` lies under `allowed`: the same bucket, and the allowed key prefix is empty, equal
// to the key, or a prefix of it ending at a '/' boundary ("s3://b/staging" allows
// "s3://b/staging/x.ndjson", not "s3://b/staging-other/x.ndjson").
bool S3PrefixAllows(const S3Location& allowed, const S3Location& url);

struct S3Config {
  // "https://s3.us-east-1.amazonaws.com" by default; a custom endpoint for S3-compatible stores.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;  // never logged, never in a message
  std::string session_token;      // optional
  // Path-style (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`) addressing.
  bool path_style = false;
  // Parts of a multipart upload (S3 requires at least 5 MiB for every part but the last).
  size_t part_bytes = 8u << 20;
  int max_attempts = 6;  // per request, first try included

  // The configuration the AWS CLI would use: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  // AWS_SESSION_TOKEN, else the profile AWS_PROFILE (or "default") of the shared credentials
  // file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials); region from AWS_REGION,
  // AWS_DEFAULT_REGION or the config file (AWS_CONFIG_FILE, ~/.aws/config); endpoint from
  // AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's endpoint_url. Addressing is
  // virtual-hosted on AWS, path-style for custom endpoints; FHIRLAKE_S3_ADDRESSING=path|virtual
  // overrides. kInvalidArgument when no credentials are found.
  static Result<S3Config> FromEnvironment();
};

// An S3 store rooted at `root` (its key is the prefix of every object key).
std::unique_ptr<ObjectStore> NewS3Store(S3Config config, S3Location root);

}  // namespace fhirlake::store
