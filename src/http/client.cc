#include "fhirlake/http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <thread>
#include <utility>

#include "fhirlake/http/url.h"
#include "src/http/curl_handles.h"

namespace fhirlake::http {

std::optional<std::string> Headers::Get(std::string_view name) const {
  for (const auto& [n, v] : items_) {
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool MayReceiveToken(const std::string& url, const std::string& token_origin) {
  if (token_origin.empty()) return false;
  auto u = Url::Parse(url);
  return u.ok() && u->Origin() == token_origin;
}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  InitCurlOnce();
  curl_ = curl_easy_init();
}

Client::~Client() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

namespace {

struct BodySink {
  std::string* body;
  size_t limit;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  size_t bytes = size * n;
  if (sink->body->size() + bytes > sink->limit) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, bytes);
  return bytes;
}

}  // namespace

Result<Response> Client::Perform(const Request& request, const std::string* token) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) return InternalError("libcurl could not create a handle");
  curl_easy_reset(curl);

  Response response;
  BodySink sink{&response.body, options_.max_body_bytes};
  CurlSlist header_list;
  for (const auto& [name, value] : request.headers.items()) header_list.Append(name + ": " + value);
  if (token) header_list.Append("Authorization: Bearer " + *token);

  ApplyCommonOptions(curl, options_.connect_timeout, options_.user_agent, options_.verify_tls,
                     options_.ca_file);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // any encoding curl can decode
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    // A PUT always sends its body, even an empty one, so that it carries Content-Length.
    if (!request.body.empty() || request.method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
  }

  RedirectFence fence;
  if (options_.same_origin_redirects) {
    InstallRedirectFence(curl, request.url, fence);
  } else {
    curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, nullptr);  // the handle is reused
  }
  if (options_.stop) {  // aborts the transfer within curl's progress interval (about 1 s, less when data flows)
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options_.stop));
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION,
                     +[](void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                       return static_cast<std::atomic<bool>*>(stop)->load() ? 1 : 0;
                     });
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_ABORTED_BY_CALLBACK && !fence.refused_url.empty()) return RedirectRefused(request.url, fence);
  if (rc == CURLE_ABORTED_BY_CALLBACK) return Cancelled(request.method + " " + RedactUrl(request.url) + " was stopped");
  if (sink.overflow) {
    return ServerError("response from " + RedactUrl(request.url) + " is larger than " +
                       std::to_string(options_.max_body_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    return NetworkError(request.method + " " + RedactUrl(request.url) + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  if (options_.on_response) options_.on_response(request.method, RedactUrl(request.url), response.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  response.url = effective ? effective : request.url;
  return response;
}

Result<Response> Client::Send(const Request& original) {
  bool refreshed = false;      // a 401 has forced a new token (once per request)
  bool refresh_now = false;    // the next attempt asks for that new token
  Request renewed;
  const Request* current = &original;
  for (int attempt = 1;; ++attempt) {
    if (attempt > 1 && original.renew_body) {
      if (current == &original) renewed = original;
      FHIRLAKE_RETURN_IF_ERROR(original.renew_body(renewed.body));
      current = &renewed;
    }
    const Request& request = *current;
    std::optional<std::string> token;
    if (request.send_token && options_.tokens && MayReceiveToken(request.url, options_.token_origin)) {
      auto t = options_.tokens->Token(std::exchange(refresh_now, false));
      if (!t.ok()) return t.status();
      token = std::move(t.value());
    }
    auto result = Perform(request, token ? &*token : nullptr);
    std::optional<Millis> retry_after;
    std::string reason;
    if (!result.ok()) {
      if (result.status().code() != StatusCode::kNetwork) return result;
      reason = result.status().message();
    } else if (result->status == 401 && token && !refreshed) {
      refreshed = refresh_now = true;  // one forced refresh, then the answer stands
      --attempt;
      continue;
    } else if (result->status == 429 && request.return_429) {
      return result;
    } else if (IsRetryableStatus(result->status)) {
      reason = "HTTP " + std::to_string(result->status);
      if (auto h = result->headers.Get("Retry-After")) retry_after = ParseRetryAfter(*h);
    } else {
      return result;
    }
    if (!options_.retry.CanRetry(attempt)) return result;
    Millis delay = options_.retry.DelayBefore(attempt + 1, retry_after);
    if (options_.on_retry) options_.on_retry(RedactUrl(request.url), reason, delay);
    // The backoff waits in slices so that a stop request ends it promptly.
    for (auto until = std::chrono::steady_clock::now() + delay; std::chrono::steady_clock::now() < until;) {
      if (options_.stop && options_.stop->load()) {
        return Cancelled(request.method + " " + RedactUrl(request.url) + " was stopped while waiting to retry");
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    }
  }
}

}  // namespace fhirlake::http
