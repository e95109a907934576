// http::Client: one request at a time with a reused libcurl easy handle (connection reuse),
// for the small documents of the bulk protocol (kick-off, status, manifest, DELETE).
// Bulk file downloads go through http::Downloader instead, which streams to disk in parallel.
//
// Credentials: a bearer token from the TokenSource is attached only to requests whose origin is
// the client's `token_origin` and only when the request asks for it; a 401 triggers one forced
// token refresh and one more try.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fhirlake/http/retry_policy.h"
#include "fhirlake/http/token_source.h"
#include "fhirlake/status.h"

namespace fhirlake::http {

// Response or request headers, in order, looked up case-insensitively.
class Headers {
 public:
  void Add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // The first value of `name`, or nullopt.
  std::optional<std::string> Get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  void Clear() { items_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  bool send_token = true;  // attach a bearer token if the URL is on the token origin
  // A 429 is the caller's to honour (status polling waits its Retry-After however long, as a
  // 202's), not retried here with the backoff's cap and attempt limit.
  bool return_429 = false;
  // Called with the body before every attempt but the first, to make it anew (a signed client
  // assertion's jti must not be sent twice); null: each attempt sends the same body.
  std::function<Status(std::string& body)> renew_body;
};

struct Response {
  long status = 0;
  Headers headers;
  std::string body;
  std::string url;  // the URL that answered (after redirects)
};

// Called before a retry with the (redacted) URL, the reason and the wait.
using RetryListener = std::function<void(const std::string& url, const std::string& reason, Millis delay)>;

struct ClientOptions {
  RetryPolicy retry;
  Millis connect_timeout{30'000};
  Millis request_timeout{300'000};
  std::string user_agent = "fhirlake/0.1";
  bool verify_tls = true;
  std::string ca_file;                         // extra CA bundle (PEM), optional
  std::shared_ptr<TokenSource> tokens;         // optional
  std::string token_origin;                    // origin that may receive tokens ("" = none)
  // Redirects are followed only within the origin of the request that got them; one to another
  // origin fails the request (kServer, naming both). For a server that fetches from allowed
  // sources only: a redirect would otherwise reach any host, the cloud metadata address too.
  bool same_origin_redirects = false;
  RetryListener on_retry;                      // optional
  // Called after every HTTP response with the method, the redacted URL and the status; for
  // debug output. Never given headers or bodies.
  std::function<void(const std::string& method, const std::string& url, long status)> on_response;
  size_t max_body_bytes = 64u << 20;           // documents larger than this are an error
  // When set (from another thread, e.g. on SIGTERM), Send returns kCancelled within about
  // 100 ms: a retry backoff (which Retry-After can make minutes long) is cut short and a
  // transfer in progress is aborted.
  const std::atomic<bool>* stop = nullptr;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request`, retrying transport errors and retryable statuses per the RetryPolicy.
  // Returns the final response whatever its status (callers decide what a 4xx means), or a
  // kNetwork Status when no response could be had. Not thread-safe: one Client per thread.
  Result<Response> Send(const Request& request);

  const ClientOptions& options() const { return options_; }

 private:
  Result<Response> Perform(const Request& request, const std::string* token);

  ClientOptions options_;
  void* curl_ = nullptr;  // CURL*, kept for connection reuse
};

// Whether a request to `url` may carry the token: same origin as `token_origin`.
bool MayReceiveToken(const std::string& url, const std::string& token_origin);

// Ensures curl_global_init ran once, before any thread uses libcurl.
void InitCurlOnce();

}  // namespace fhirlake::http
