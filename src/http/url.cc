#include "fhirlake/http/url.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>
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

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// NormalizePath(), with `escaped_slashes_are_separators` deciding whether %2F and %5C split
// segments (for comparisons) or stay data inside one (for the path a request sends).
Result<std::string> Normalize(std::string_view path, bool escaped_slashes_are_separators) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // Pass 1: escapes decoded or upper-cased; separators made '/'.
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) return InvalidArgument("control character in URL path");
    if (c == '\\') {
      decoded.push_back('/');
    } else if (c == '%') {
      if (i + 2 >= path.size()) {
        return InvalidArgument("incomplete percent escape in URL path");
      }
      int hi = HexValue(path[i + 1]), lo = HexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("bad percent escape in URL path");
      unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
      if (v < 0x20 || v == 0x7f) return InvalidArgument("encoded control character in URL path");
      if (IsUnreserved(v)) {
        decoded.push_back(static_cast<char>(v));
      } else if ((v == '/' || v == '\\') && escaped_slashes_are_separators) {
        decoded.push_back('/');
      } else {
        decoded.push_back('%');
        decoded.push_back(kHex[v >> 4]);
        decoded.push_back(kHex[v & 15]);
      }
    } else {
      decoded.push_back(static_cast<char>(c));
    }
  }
  // Pass 2: RFC 3986 §5.2.4 remove_dot_segments, over whole segments.
  std::vector<std::string_view> out;
  std::string_view rest(decoded);
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  bool trailing_slash = decoded.empty() || decoded.back() == '/';
  while (true) {
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    // "..;x" and ".;x" are dot segments to servers that strip path parameters (Tomcat, Jetty).
    std::string_view bare = segment.substr(0, segment.find(';'));
    if (bare != segment && (bare == "." || bare == "..")) {
      return InvalidArgument("a dot segment with parameters ('" + std::string(segment) + "') in URL path");
    }
    if (segment == ".") {
      if (last) trailing_slash = true;
    } else if (segment == "..") {
      if (!out.empty()) out.pop_back();
      if (last) trailing_slash = true;
    } else if (!segment.empty() || !last) {
      if (!segment.empty()) out.push_back(segment);
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  std::string result;
  for (auto segment : out) result.append("/").append(segment);
  if (result.empty() || trailing_slash) result.push_back('/');
  return result;
}

// Host bytes allowed after curl's decoding: letters, digits, '-', '.', '_' (DNS names, IPv4),
// or an IPv6 literal in brackets without a zone id. No empty labels: after the one trailing
// dot Parse drops, "h.." would still end in one and print differently from how it parses.
bool ValidHost(const std::string& host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    for (size_t i = 1; i + 1 < host.size(); ++i) {
      char c = host[i];
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    return true;
  }
  for (unsigned char c : host) {
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
  }
  return host.find("..") == std::string::npos && host.front() != '.' && host.back() != '.';
}

// WHATWG URL's "ends in a number": the last label is decimal digits or 0x-hex.
bool EndsInANumber(const std::string& host) {
  if (host.empty() || host.front() == '[') return false;
  std::string_view last(host);
  last.remove_prefix(host.rfind('.') == std::string::npos ? 0 : host.rfind('.') + 1);
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    for (char c : last.substr(2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }
  return false;
}

}  // namespace

Result<std::string> NormalizePath(std::string_view path) { return Normalize(path, true); }

Result<Url> Url::Parse(std::string_view text) {
  auto refuse = [&](const std::string& why) {
    return InvalidArgument("not an acceptable URL (" + why + "): '" + RedactUrl(text) + "'");
  };
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f) return refuse("whitespace or control character");
    if (c == '\\') return refuse("backslash");
  }
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return refuse("it is not absolute");
  {
    std::string_view after = text.substr(scheme_end + 3);
    std::string_view authority = after.substr(0, after.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) return refuse("userinfo (user@host) is not accepted");
    if (authority.find('%') != std::string_view::npos &&
        authority.find('[') != std::string_view::npos) {
      return refuse("IPv6 zone ids are not accepted");
    }
  }
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
  if (!Part(u.get(), CURLUPART_USER).empty() || !Part(u.get(), CURLUPART_PASSWORD).empty() ||
      !Part(u.get(), CURLUPART_OPTIONS).empty()) {
    return refuse("userinfo (user@host) is not accepted");
  }
  url.host = Lower(Part(u.get(), CURLUPART_HOST, CURLU_URLDECODE));
  for (unsigned char c : url.host) {
    if (c >= 0x80) return refuse("non-ASCII host name; give its IDNA (xn--) form");
  }
  if (url.host.size() > 1 && url.host.back() == '.' && url.host.front() != '[') url.host.pop_back();
  if (!ValidHost(url.host)) return refuse("host name has characters a host name cannot have");
  if (EndsInANumber(url.host)) {
    // curl folds numeric IPv4 forms (2130706433, 0x7f.1) to a dotted quad; what is left and
    // still ends in a number ("127.0.0." without its dot, "0x7f.1.") is an address whose
    // meaning depends on the resolver: refused rather than guessed.
    unsigned char addr[4];
    char canonical[INET_ADDRSTRLEN];
    if (inet_pton(AF_INET, url.host.c_str(), addr) != 1 ||
        inet_ntop(AF_INET, addr, canonical, sizeof canonical) == nullptr || url.host != canonical) {
      return refuse("a host that ends in a number must be a dotted-quad IPv4 address");
    }
  }
  if (url.host.front() == '[') {  // one spelling per IPv6 address: [0:0::1] is [::1]
    unsigned char addr[16];
    char text_form[INET6_ADDRSTRLEN];
    std::string literal = url.host.substr(1, url.host.size() - 2);
    if (inet_pton(AF_INET6, literal.c_str(), addr) != 1 ||
        inet_ntop(AF_INET6, addr, text_form, sizeof text_form) == nullptr) {
      return refuse("not an IPv6 address");
    }
    url.host = "[" + std::string(text_form) + "]";
  }
  std::string port = Part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (port.empty()) {
    url.port = url.scheme == "https" ? 443 : 80;
  } else {
    url.port = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || url.port > 65535) return refuse("bad port");
      url.port = url.port * 10 + (c - '0');
    }
    if (url.port <= 0 || url.port > 65535) return refuse("bad port");
  }
  auto path = Normalize(Part(u.get(), CURLUPART_PATH), false);
  if (!path.ok()) return refuse(path.status().message());
  url.path = std::move(path.value());
  url.query = Part(u.get(), CURLUPART_QUERY);
  return url;
}

std::string Url::Origin() const { return scheme + "://" + host + ":" + std::to_string(port); }

std::string Url::ToString() const {
  std::string s = scheme + "://" + host;
  if (port != (scheme == "https" ? 443 : 80)) s += ":" + std::to_string(port);
  s += path;
  if (!query.empty()) s += "?" + query;
  return s;
}

bool SameOrigin(std::string_view a, std::string_view b) {
  auto ua = Url::Parse(a);
  auto ub = Url::Parse(b);
  return ua.ok() && ub.ok() && ua->Origin() == ub->Origin();
}

bool PathIsUnder(std::string_view path, std::string_view prefix) {
  auto p = Normalize(path, true);
  auto base = Normalize(prefix, true);
  if (!p.ok() || !base.ok()) return false;
  std::string b = std::move(base.value());
  if (b.back() != '/') b.push_back('/');
  std::string full = p.value();
  if (full.back() != '/') full.push_back('/');
  return full.compare(0, b.size(), b) == 0;
}

bool IsUnder(const Url& url, const Url& prefix) {
  return url.Origin() == prefix.Origin() && PathIsUnder(url.path, prefix.path);
}

bool IsUnder(std::string_view url, std::string_view prefix) {
  auto u = Url::Parse(url);
  auto p = Url::Parse(prefix);
  return u.ok() && p.ok() && IsUnder(u.value(), p.value());
}

namespace {

bool LinkLocalV4(const unsigned char* a) { return a[0] == 169 && a[1] == 254; }

bool LinkLocalV6(const unsigned char* a) {
  // fd00:ec2::254, the EC2 instance metadata service over IPv6
  static const unsigned char kEc2Metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return true;  // fe80::/10
  if (std::memcmp(a, kEc2Metadata, 16) == 0) return true;
  if (std::memcmp(a, kMapped, 12) == 0) return LinkLocalV4(a + 12);
  return false;
}

}  // namespace

bool IsLinkLocalOrMetadata(const Url& url, bool resolve) {
  std::string host = url.host;
  if (host == "metadata.google.internal" || host == "metadata") return true;
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  unsigned char addr[16];
  if (inet_pton(AF_INET, host.c_str(), addr) == 1) return LinkLocalV4(addr);
  if (inet_pton(AF_INET6, host.c_str(), addr) == 1) return LinkLocalV6(addr);
  if (!resolve) return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(found, freeaddrinfo);
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET &&
        LinkLocalV4(reinterpret_cast<const unsigned char*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr))) {
      return true;
    }
    if (a->ai_family == AF_INET6 &&
        LinkLocalV6(reinterpret_cast<const unsigned char*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr))) {
      return true;
    }
  }
  return false;
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
  // Word by word ('-', '_' and '.' separate words), so that "X-Amz-Credential", "access_token",
  // "clientSecret" or "AWSAccessKeyId" match while S3's list parameters ("max-keys",
  // "key-marker", "encoding-type") do not: the name's last word says what the value is.
  const std::string key = Lower(std::string(name));
  std::string_view rest(key), last;
  while (!rest.empty()) {
    const size_t end = rest.find_first_of("-_.");
    last = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    for (const char* secret : {"password", "secret", "credential"}) {
      if (last.find(secret) != std::string_view::npos) return true;
    }
  }
  for (std::string_view tail : {"token", "sig", "signature", "assertion", "code", "key", "keyid"}) {
    if (last.size() >= tail.size() && last.substr(last.size() - tail.size()) == tail) return true;
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

namespace fhirlake::http {

bool IsAllowedSource(std::string_view url, const std::vector<std::string>& prefixes) {
  auto u = Url::Parse(url);
  if (!u.ok()) return false;
  std::optional<bool> link_local;  // resolved once, and only for a URL some prefix covers
  for (const auto& text : prefixes) {
    auto prefix = Url::Parse(text);
    if (!prefix.ok() || !IsUnder(u.value(), prefix.value())) continue;
    if (!link_local) link_local = IsLinkLocalOrMetadata(u.value(), true);
    if (!*link_local || IsLinkLocalOrMetadata(prefix.value(), false)) return true;
  }
  return false;
}

std::optional<size_t> UnderPrefixLength(std::string_view url, std::string_view prefix) {
  auto u = Url::Parse(url);
  auto p = Url::Parse(prefix);
  if (!u.ok() || !p.ok() || !IsUnder(u.value(), p.value())) return std::nullopt;
  auto path = NormalizePath(p->path);
  return path.ok() ? std::optional<size_t>(path->size()) : std::nullopt;
}

}  // namespace fhirlake::http
