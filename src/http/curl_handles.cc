#include "src/http/curl_handles.h"

#include "fhirlake/http/url.h"

namespace fhirlake::http {

size_t CollectHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<Headers*>(user);
  size_t bytes = size * n;
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    headers->Clear();
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    headers->Add(std::string(line.substr(0, colon)), std::string(value));
  }
  return bytes;
}

void ApplyCommonOptions(CURL* curl, Millis connect_timeout, const std::string& user_agent,
                        bool verify_tls, const std::string& ca_file) {
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify_tls ? 2L : 0L);
  if (!ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
}

void InstallRedirectFence(CURL* curl, const std::string& url, RedirectFence& fence) {
  auto parsed = Url::Parse(url);
  fence.origin = parsed.ok() ? parsed->Origin() : "";
  fence.refused_url.clear();
  fence.curl = curl;
  curl_easy_setopt(curl, CURLOPT_PREREQDATA, &fence);
  curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, +[](void* data, char*, char*, int, int) -> int {
    auto* f = static_cast<RedirectFence*>(data);
    char* current = nullptr;
    curl_easy_getinfo(f->curl, CURLINFO_EFFECTIVE_URL, &current);
    auto u = Url::Parse(current ? current : "");
    if (u.ok() && !f->origin.empty() && u->Origin() == f->origin) return CURL_PREREQFUNC_OK;
    f->refused_url = current ? current : "?";
    return CURL_PREREQFUNC_ABORT;
  });
}

Status RedirectRefused(const std::string& url, const RedirectFence& fence) {
  return Status(StatusCode::kServer, RedactUrl(url) + " redirected to " + RedactUrl(fence.refused_url) +
                                                   ", another origin; redirects must stay on " + fence.origin);
}

}  // namespace fhirlake::http
