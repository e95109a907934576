// RAII for libcurl lists and the option settings every fhirlake transfer shares. Internal to
// the http module.
#pragma once

#include <curl/curl.h>

#include <string>

#include "fhirlake/http/client.h"

namespace fhirlake::http {

class CurlSlist {
 public:
  CurlSlist() = default;
  ~CurlSlist() { curl_slist_free_all(list_); }
  CurlSlist(const CurlSlist&) = delete;
  CurlSlist& operator=(const CurlSlist&) = delete;
  void Append(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// Header callback collecting into a Headers; a new status line (redirect, 100-continue)
// starts over so only the final response's headers remain.
size_t CollectHeader(char* data, size_t size, size_t n, void* user);

void ApplyCommonOptions(CURL* curl, Millis connect_timeout, const std::string& user_agent,
                        bool verify_tls, const std::string& ca_file);

// Keeps a transfer that follows redirects on the origin of its URL (ClientOptions::
// same_origin_redirects): before each request, on a connection already made, the URL it goes
// to is checked, and one on another origin aborts the transfer (CURLE_ABORTED_BY_CALLBACK with
// refused_url set). Lives as long as the transfer.
struct RedirectFence {
  std::string origin;       // of the transfer's own URL
  std::string refused_url;  // where a redirect tried to go, once refused
  CURL* curl = nullptr;
};
// Installs `fence` on `curl` for `url` (which sets its origin).
void InstallRedirectFence(CURL* curl, const std::string& url, RedirectFence& fence);
// The error for a transfer of `url` the fence stopped.
Status RedirectRefused(const std::string& url, const RedirectFence& fence);

}  // namespace fhirlake::http
