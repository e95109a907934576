// S3 REST calls behind store::ObjectStore. Every request goes through an http::Client (its
// RetryPolicy retries 500, 503 SlowDown and transport errors with backoff), signed with SigV4.
// Error answers are turned into messages that name the bucket and key and say what to do; the
// XML of the answer is read for its Code and Message only.
#include "fhirlake/store/s3_store.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "fhirlake/http/client.h"
#include "fhirlake/http/url.h"
#include "src/store/s3_signer.h"
#include "src/store/s3_xml.h"

namespace fhirlake::store {
namespace {

bool ValidBucket(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  return std::all_of(bucket.begin(), bucket.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           (c >= 'A' && c <= 'Z');
  });
}

std::string JoinKey(const std::string& prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  if (prefix.back() == '/') return prefix + std::string(key);
  return prefix + "/" + std::string(key);
}

// One S3 request before signing.
struct S3Call {
  std::string method = "GET";
  std::string key;  // full key in the bucket; empty for bucket-level calls
  QueryParams query;
  std::string body;
  // Headers that are sent and signed (e.g. If-None-Match, Range).
  std::vector<std::pair<std::string, std::string>> headers;
};

class S3Store;

class S3Writer : public ObjectWriter {
 public:
  S3Writer(S3Store& store, std::string key, size_t part_bytes)
      : store_(store), key_(std::move(key)), part_bytes_(part_bytes) {}
  ~S3Writer() override;
  Status Append(std::string_view bytes) override;
  Status Close() override;
  uint64_t size() const override { return size_; }

 private:
  Status FlushPart();
  void Abort();

  S3Store& store_;
  std::string key_;
  size_t part_bytes_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  uint64_t size_ = 0;
  bool closed_ = false;
  bool failed_ = false;
};

class S3Store : public ObjectStore {
 public:
  S3Store(S3Config config, S3Location root) : config_(std::move(config)), root_(std::move(root)) {
    std::string endpoint = config_.endpoint;
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    size_t scheme_end = endpoint.find("://");
    scheme_ = scheme_end == std::string::npos ? "https" : endpoint.substr(0, scheme_end);
    host_ = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
    if (size_t slash = host_.find('/'); slash != std::string::npos) host_.resize(slash);
    host_ = HostHeaderFor(scheme_, host_);  // signed as sent
  }

  std::string Describe() const override { return root_.ToString(); }

  Result<std::string> Get(std::string_view key, size_t max_bytes) override {
    S3Call call;
    call.key = FullKey(key);
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("read", call.key, *response);
    if (response->body.size() > max_bytes) {
      return IoError(Url(call.key) + " is larger than " + std::to_string(max_bytes) + " bytes; read it in ranges");
    }
    return std::move(response->body);
  }

  Result<std::string> GetRange(std::string_view key, uint64_t offset, size_t length) override {
    if (length == 0) return std::string();
    S3Call call;
    call.key = FullKey(key);
    call.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status == 416) {
      // Past the end, or an empty object: an empty read, if the object exists.
      auto size = Size(key);
      if (!size.ok()) return size.status();
      return std::string();
    }
    if (response->status == 200) {  // the whole object (a server that ignores Range)
      std::string& body = response->body;
      if (offset >= body.size()) return std::string();
      return body.substr(static_cast<size_t>(offset), length);
    }
    if (response->status != 206) return ErrorFor("read", call.key, *response);
    if (response->body.size() > length) response->body.resize(length);
    return std::move(response->body);
  }

  Result<uint64_t> Size(std::string_view key) override {
    S3Call call;
    call.method = "HEAD";
    call.key = FullKey(key);
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("read", call.key, *response);
    auto length = response->headers.Get("Content-Length");
    if (!length) return ServerError("S3 gave no size for " + Url(call.key));
    return static_cast<uint64_t>(std::stoull(*length));
  }

  Status Put(std::string_view key, std::string_view content) override {
    S3Call call;
    call.method = "PUT";
    call.key = FullKey(key);
    call.body = std::string(content);
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("write", call.key, *response);
    return Status::Ok();
  }

  Status PutIfAbsent(std::string_view key, std::string_view content) override {
    S3Call call;
    call.method = "PUT";
    call.key = FullKey(key);
    call.headers.emplace_back("If-None-Match", "*");
    // 409 ConditionalRequestConflict: a concurrent conditional write was in flight; AWS asks
    // for a retry, which then gets 412 if the other writer won.
    for (int attempt = 0;; ++attempt) {
      call.body = std::string(content);
      auto response = Send(call);
      if (!response.ok()) return LandedOr(key, content, response.status());
      if (response->status == 200) return Status::Ok();
      if (response->status == 412) return LandedOr(key, content, {StatusCode::kConflict, Url(call.key) + " already exists"});
      if (response->status == 409 && attempt < 3) continue;
      Status failed = ErrorFor("write", call.key, *response);
      return response->status >= 500 ? LandedOr(key, content, failed) : failed;
    }
  }

  // A conditional write whose answer was lost (the connection broke after S3 had stored the
  // object) is sent again by the HTTP client and then refused with 412, or fails with a network
  // error or a 5xx after its retries: the object may be this write's own. Then the object is read
  // back, and the same bytes mean the write landed. The content of every conditional write is
  // unique (a commit names new files and its time, a lease has a nonce), so no other writer's
  // object can match.
  Status LandedOr(std::string_view key, std::string_view content, Status failure) {
    auto stored = Get(key, content.size() + 1);
    if (stored.ok() && *stored == content) return Status::Ok();
    return failure;
  }

  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys,
                        std::string_view start_after) override {
    return ListObjects(prefix, token, max_keys, /*shallow=*/false, start_after);
  }

  Result<ListPage> ListShallow(std::string_view prefix, std::string_view token, int max_keys) override {
    return ListObjects(prefix, token, max_keys, /*shallow=*/true, {});
  }

  Status Delete(std::string_view key) override {
    S3Call call;
    call.method = "DELETE";
    call.key = FullKey(key);
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 204 && response->status != 200 && response->status != 404) {
      return ErrorFor("delete", call.key, *response);
    }
    return Status::Ok();
  }

  Result<std::unique_ptr<ObjectWriter>> NewWriter(std::string_view key) override {
    return std::unique_ptr<ObjectWriter>(
        std::make_unique<S3Writer>(*this, FullKey(key), std::max<size_t>(config_.part_bytes, 5u << 20)));
  }

  // Multipart upload steps, for S3Writer (S3 API: CreateMultipartUpload, UploadPart,
  // CompleteMultipartUpload, AbortMultipartUpload).
  Result<std::string> StartUpload(const std::string& key) {
    S3Call call;
    call.method = "POST";
    call.key = key;
    call.query = {{"uploads", ""}};
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("start an upload of", key, *response);
    auto id = XmlText(response->body, "UploadId");
    if (!id || id->empty()) return ServerError("S3 started an upload of " + Url(key) + " without an UploadId");
    return *id;
  }

  Result<std::string> UploadPart(const std::string& key, const std::string& upload_id, int number, std::string body) {
    S3Call call;
    call.method = "PUT";
    call.key = key;
    call.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
    call.body = std::move(body);
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("upload part " + std::to_string(number) + " of", key, *response);
    auto etag = response->headers.Get("ETag");
    if (!etag) return ServerError("S3 gave no ETag for part " + std::to_string(number) + " of " + Url(key));
    return *etag;
  }

  Status CompleteUpload(const std::string& key, const std::string& upload_id, const std::vector<std::string>& etags) {
    std::string body = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < etags.size(); ++i) {
      body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] + "</ETag></Part>";
    }
    body += "</CompleteMultipartUpload>";
    for (int attempt = 1;; ++attempt) {
      S3Call call;
      call.method = "POST";
      call.key = key;
      call.query = {{"uploadId", upload_id}};
      call.body = body;
      auto response = Send(call);
      if (!response.ok()) return response.status();
      // S3 may answer 200 and still fail: the error is then in the body, and AWS asks for a
      // retry when it is an internal error or a slow-down.
      const auto code = XmlText(response->body, "Code");
      if (response->status == 200 && !code) return Status::Ok();
      if (response->status == 200 && (*code == "InternalError" || *code == "SlowDown") && attempt < config_.max_attempts) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
        continue;
      }
      return ErrorFor("complete the upload of", key, *response);
    }
  }

  void AbortUpload(const std::string& key, const std::string& upload_id) {
    S3Call call;
    call.method = "DELETE";
    call.key = key;
    call.query = {{"uploadId", upload_id}};
    (void)Send(call);  // best effort: a bucket lifecycle rule cleans up what this misses
  }

  Status PutFull(const std::string& key, std::string body) {
    S3Call call;
    call.method = "PUT";
    call.key = key;
    call.body = std::move(body);
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("write", key, *response);
    return Status::Ok();
  }

 private:
  // ListObjectsV2, one level deep with `shallow` (delimiter "/").
  Result<ListPage> ListObjects(std::string_view prefix, std::string_view token, int max_keys, bool shallow,
                               std::string_view start_after) {
    S3Call call;
    call.query = {{"list-type", "2"}, {"prefix", FullKey(prefix)}, {"max-keys", std::to_string(std::max(1, max_keys))}};
    if (shallow) call.query.emplace_back("delimiter", "/");
    if (!token.empty()) call.query.emplace_back("continuation-token", std::string(token));
    // The first page only: the continuation token already says where the next one starts.
    if (!start_after.empty() && token.empty()) call.query.emplace_back("start-after", FullKey(start_after));
    auto response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor("list", FullKey(prefix), *response);
    const std::string root_prefix = root_.key.empty() ? "" : JoinKey(root_.key, "");
    auto page = ParseListObjectsV2(response->body, root_prefix);
    if (!page.ok()) return page.status().WithContext("S3 listing of " + Url(FullKey(prefix)));
    return page;
  }

  std::string FullKey(std::string_view key) const { return JoinKey(root_.key, key); }
  std::string Url(const std::string& key) const { return "s3://" + root_.bucket + "/" + key; }

  // A client from the pool (one request at a time each), returned by the lease's destructor.
  class ClientLease {
   public:
    ClientLease(S3Store& store) : store_(store) {
      std::lock_guard lock(store_.pool_mutex_);
      if (!store_.pool_.empty()) {
        client_ = std::move(store_.pool_.back());
        store_.pool_.pop_back();
      }
      if (!client_) {
        http::ClientOptions options;
        options.retry.max_attempts = store_.config_.max_attempts;
        options.retry.base_delay = http::Millis(200);
        options.retry.max_delay = http::Millis(20'000);
        options.max_body_bytes = std::max<size_t>(256u << 20, store_.config_.part_bytes * 2);
        client_ = std::make_unique<http::Client>(std::move(options));
      }
    }
    ~ClientLease() {
      std::lock_guard lock(store_.pool_mutex_);
      store_.pool_.push_back(std::move(client_));
    }
    http::Client& operator*() { return *client_; }

   private:
    S3Store& store_;
    std::unique_ptr<http::Client> client_;
  };

  // Sends `call`, signed. Consumes call.body (moved into the request: parts are 8 MiB).
  Result<http::Response> Send(S3Call& call) {
    std::string host = config_.path_style ? host_ : root_.bucket + "." + host_;
    std::string path = config_.path_style ? "/" + root_.bucket : "";
    if (!call.key.empty() || !config_.path_style) path += "/" + UriEncode(call.key, true);

    SigV4Request sign;
    sign.method = call.method;
    sign.host = host;
    sign.canonical_uri = path;
    sign.query = call.query;
    sign.headers = call.headers;
    sign.payload_sha256 = Sha256Hex(call.body);
    SigV4Credentials credentials{config_.access_key_id, config_.secret_access_key, config_.session_token,
                                 config_.region};

    http::Request request;
    request.method = call.method;
    request.url = scheme_ + "://" + host + path;
    if (!call.query.empty()) request.url += "?" + CanonicalQuery(call.query);
    request.body = std::move(call.body);
    request.send_token = false;
    for (const auto& [name, value] : call.headers) request.headers.Add(name, value);
    for (auto& [name, value] : SignV4(sign, credentials, std::chrono::system_clock::now())) {
      request.headers.Add(std::move(name), std::move(value));
    }
    if (call.method == "PUT" || call.method == "POST") request.headers.Add("Content-Type", "application/octet-stream");
    ClientLease client(*this);
    auto response = (*client).Send(request);
    if (!response.ok()) {
      return NetworkError("S3 request for " + Url(call.key) + " at " + scheme_ + "://" + host_ + " failed: " +
                          response.status().message() + " (check AWS_ENDPOINT_URL and the network)");
    }
    return response;
  }

  Status ErrorFor(const std::string& action, const std::string& key, const http::Response& response) const {
    auto [code, message] = ParseErrorBody(response.body);
    const std::string what = Url(key);
    const std::string detail = code.empty() ? "HTTP " + std::to_string(response.status)
                                            : code + (message.empty() ? "" : ": " + message);
    if (code == "InvalidAccessKeyId") {
      return {StatusCode::kUnauthenticated,
              "S3 refused the credentials for bucket " + root_.bucket + " (InvalidAccessKeyId): check "
              "AWS_ACCESS_KEY_ID, or the profile AWS_PROFILE names in ~/.aws/credentials"};
    }
    if (code == "SignatureDoesNotMatch") {
      return {StatusCode::kUnauthenticated,
              "S3 refused the signature for bucket " + root_.bucket + " (SignatureDoesNotMatch): check "
              "AWS_SECRET_ACCESS_KEY (it must belong to the access key id) and AWS_REGION"};
    }
    if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") {
      return {StatusCode::kUnauthenticated, "S3 refused the session token for bucket " + root_.bucket + " (" + code +
                                                "): renew AWS_SESSION_TOKEN (or unset it for long-term keys)"};
    }
    if (code == "AccessDenied" || (code.empty() && response.status == 403)) {
      return {StatusCode::kUnauthenticated, "S3 denied access to " + what + " (" + detail +
                                                "): check that the credentials may " + action +
                                                " objects in bucket " + root_.bucket};
    }
    if (code == "NoSuchBucket") {
      return NotFound("bucket " + root_.bucket + " does not exist at " + scheme_ + "://" + host_ +
                      ": create it, or check the URL, AWS_ENDPOINT_URL and AWS_REGION");
    }
    if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || response.status == 301) {
      return InvalidArgument("bucket " + root_.bucket + " is in another region (" + detail +
                             "): set AWS_REGION to the bucket's region");
    }
    if (code == "NoSuchKey" || response.status == 404) return NotFound(what + " does not exist");
    if (response.status == 412) return {StatusCode::kConflict, what + " already exists"};
    return ServerError("S3 could not " + action + " " + what + " (" + detail + ")");
  }

  friend class S3Writer;

  S3Config config_;
  S3Location root_;
  std::string scheme_;
  std::string host_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<http::Client>> pool_;
};

S3Writer::~S3Writer() {
  if (!closed_ || failed_) Abort();
}

void S3Writer::Abort() {
  if (!upload_id_.empty()) store_.AbortUpload(key_, upload_id_);
  upload_id_.clear();
}

Status S3Writer::FlushPart() {
  if (upload_id_.empty()) {
    auto id = store_.StartUpload(key_);
    if (!id.ok()) return id.status();
    upload_id_ = std::move(id.value());
  }
  auto etag = store_.UploadPart(key_, upload_id_, static_cast<int>(etags_.size()) + 1, std::move(buffer_));
  buffer_.clear();
  if (!etag.ok()) return etag.status();
  etags_.push_back(std::move(etag.value()));
  return Status::Ok();
}

Status S3Writer::Append(std::string_view bytes) {
  if (closed_ || failed_) return InternalError("append to a closed or failed writer for " + key_);
  size_ += bytes.size();
  while (!bytes.empty()) {
    size_t take = std::min(bytes.size(), part_bytes_ - buffer_.size());
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() == part_bytes_) {
      Status status = FlushPart();
      if (!status.ok()) {
        failed_ = true;
        Abort();
        return status;
      }
    }
  }
  return Status::Ok();
}

Status S3Writer::Close() {
  if (closed_) return InternalError("writer for " + key_ + " closed twice");
  closed_ = true;
  if (failed_) return InternalError("writer for " + key_ + " failed before Close");
  Status status;
  if (upload_id_.empty()) {
    status = store_.PutFull(key_, std::move(buffer_));  // small object: one PUT
  } else {
    if (!buffer_.empty()) status = FlushPart();
    if (status.ok()) status = store_.CompleteUpload(key_, upload_id_, etags_);
    if (status.ok()) upload_id_.clear();
  }
  if (!status.ok()) failed_ = true;
  return status;
}

}  // namespace

Result<S3Location> S3Location::Parse(std::string_view url) {
  constexpr std::string_view kScheme = "s3://";
  if (url.substr(0, kScheme.size()) != kScheme) return InvalidArgument("not an s3:// URL: " + std::string(url));
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  S3Location location;
  location.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) location.key = std::string(rest.substr(slash + 1));
  while (!location.key.empty() && location.key.front() == '/') location.key.erase(0, 1);
  if (!ValidBucket(location.bucket)) {
    return InvalidArgument("'" + std::string(url) + "' does not name a valid bucket (write s3://BUCKET/PREFIX)");
  }
  return location;
}

std::string S3Location::ToString() const { return "s3://" + bucket + (key.empty() ? "" : "/" + key); }

bool S3PrefixAllows(const S3Location& allowed, const S3Location& url) {
  if (allowed.bucket != url.bucket) return false;
  std::string_view prefix = allowed.key;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty()) return true;
  std::string_view key = url.key;
  if (key.size() < prefix.size() || key.compare(0, prefix.size(), prefix) != 0) return false;
  return key.size() == prefix.size() || key[prefix.size()] == '/';
}

std::unique_ptr<ObjectStore> NewS3Store(S3Config config, S3Location root) {
  return std::make_unique<S3Store>(std::move(config), std::move(root));
}

}  // namespace fhirlake::store
