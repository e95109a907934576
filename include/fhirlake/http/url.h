// URLs as the bulk protocol needs them: parsed with libcurl's URL parser, compared by origin
// (scheme, host, port: RFC 6454), and resolved against a base (Content-Location may be relative).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::http {

struct Url {
  std::string scheme;  // lower case: "http", "https"
  std::string host;    // lower case
  int port = 0;        // explicit or the scheme's default
  std::string path;    // "/" when empty
  std::string query;   // without '?', may be empty

  // Parses an absolute http(s) URL. Returns kInvalidArgument naming the text otherwise.
  static Result<Url> Parse(std::string_view text);

  // "scheme://host:port", the unit that decides where credentials may go.
  std::string Origin() const;
};

// True when both parse and have the same origin. Unparseable URLs are never the same origin.
bool SameOrigin(std::string_view a, std::string_view b);

// Resolves `reference` (absolute, or relative like "/status/1") against `base`.
Result<std::string> ResolveUrl(std::string_view base, std::string_view reference);

// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
std::string EncodeQueryComponent(std::string_view text);

// Decodes %XX escapes and '+' (as space) of a query component.
std::string DecodeQueryComponent(std::string_view text);

// Splits and decodes "a=1&b=2" (a URL query or an x-www-form-urlencoded body) into pairs, in
// order; a name without '=' gets an empty value.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// Whether a parameter with this name carries a credential (token, assertion, secret,
// signature, key, password, credential, code), case-insensitively.
bool IsSecretParameterName(std::string_view name);

// Removes userinfo and masks credential-like query values (token, signature, key, secret),
// for messages and logs that must not leak secrets.
std::string RedactUrl(std::string_view url);

}  // namespace fhirlake::http
