#include "fhirlake/http/url.h"

#include <curl/curl.h>

#include <cctype>
#include <memory>

namespace fhirlake::http {
namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlDeleter>;

std::string Part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* raw = nullptr;
  if (curl_url_get(u, part, &raw, flags) != CURLUE_OK || raw == nullptr) return {};
  std::unique_ptr<char, CurlStringDeleter> owned(raw);
  return std::string(raw);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<Url> Url::Parse(std::string_view text) {
  CurlUrlPtr u(curl_url());
  std::string owned(text);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, owned.c_str(), 0) != CURLUE_OK) {
    return InvalidArgument("not an absolute URL: '" + RedactUrl(text) + "'");
  }
  Url url;
  url.scheme = Lower(Part(u.get(), CURLUPART_SCHEME));
  if (url.scheme != "http" && url.scheme != "https") {
    return InvalidArgument("URL scheme must be http or https: '" + RedactUrl(text) + "'");
  }
  url.host = Lower(Part(u.get(), CURLUPART_HOST));
  std::string port = Part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  url.port = port.empty() ? (url.scheme == "https" ? 443 : 80) : std::stoi(port);
  url.path = Part(u.get(), CURLUPART_PATH);
  if (url.path.empty()) url.path = "/";
  url.query = Part(u.get(), CURLUPART_QUERY);
  return url;
}

std::string Url::Origin() const { return scheme + "://" + host + ":" + std::to_string(port); }

bool SameOrigin(std::string_view a, std::string_view b) {
  auto ua = Url::Parse(a);
  auto ub = Url::Parse(b);
  return ua.ok() && ub.ok() && ua->Origin() == ub->Origin();
}

Result<std::string> ResolveUrl(std::string_view base, std::string_view reference) {
  CurlUrlPtr u(curl_url());
  std::string b(base), r(reference);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, b.c_str(), 0) != CURLUE_OK) {
    return InvalidArgument("not an absolute URL: '" + RedactUrl(base) + "'");
  }
  if (curl_url_set(u.get(), CURLUPART_URL, r.c_str(), 0) != CURLUE_OK) {
    return InvalidArgument("cannot resolve '" + RedactUrl(reference) + "' against '" +
                           RedactUrl(base) + "'");
  }
  return Part(u.get(), CURLUPART_URL);
}

std::string EncodeQueryComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string DecodeQueryComponent(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 &&
               hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    out.emplace_back(DecodeQueryComponent(pair.substr(0, eq)),
                     eq == std::string_view::npos ? "" : DecodeQueryComponent(pair.substr(eq + 1)));
  }
  return out;
}

bool IsSecretParameterName(std::string_view name) {
  std::string key = Lower(std::string(name));
  for (const char* word : {"token", "sig", "secret", "key", "credential", "password", "assertion", "code"}) {
    if (key.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string RedactUrl(std::string_view url) {
  std::string s(url);
  // userinfo ("user:password@host")
  if (auto scheme = s.find("://"); scheme != std::string::npos) {
    auto at = s.find('@', scheme + 3);
    auto end = s.find_first_of("/?#", scheme + 3);
    if (at != std::string::npos && (end == std::string::npos || at < end)) {
      s = s.substr(0, scheme + 3) + s.substr(at + 1);
    }
  }
  // query values that carry credentials (signed URLs, tokens)
  auto q = s.find('?');
  if (q == std::string::npos) return s;
  std::string out = s.substr(0, q + 1);
  std::string_view rest(s);
  rest.remove_prefix(q + 1);
  bool first = true;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (!first) out.push_back('&');
    first = false;
    auto eq = pair.find('=');
    if (IsSecretParameterName(pair.substr(0, eq)) && eq != std::string_view::npos) {
      out.append(pair.substr(0, eq)).append("=REDACTED");
    } else {
      out.append(pair);
    }
  }
  return out;
}

}  // namespace fhirlake::http
