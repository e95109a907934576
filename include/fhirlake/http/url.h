// URLs as the bulk protocol needs them: parsed with libcurl's URL parser, compared by origin
// (scheme, host, port: RFC 6454), and resolved against a base (Content-Location may be relative).
//
// Every decision that depends on where a URL points (the import allowlist, which credentials a
// source gets, whether a token may go to a file URL) compares parsed, normalised URLs with
// SameOrigin() and IsUnder(), never strings: "http://localhost.evil.example" does not start
// with the host "localhost", "http://localhost@127.0.0.1" names the host 127.0.0.1, port 1808
// is not port 18081, "/fhirx" is not under "/fhir", and "/fhir/%2e%2e/admin" is "/admin".
#pragma once

#include <optional>
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
  std::string path;    // "/" when empty; normalised as NormalizePath() does, except that
                       // %2F and %5C stay escaped (they are data in a request path)
  std::string query;   // without '?', may be empty

  // Parses an absolute http(s) URL, strictly. Normalises: scheme and host to lower case, the
  // scheme's default port, percent-encoded host bytes decoded (curl also folds numeric IPv4
  // forms such as 2130706433 or 0x7f.1 to 127.0.0.1), a trailing dot of the host dropped,
  // the path as NormalizePath(). Returns kInvalidArgument naming the (redacted) text for
  // anything else and for text it refuses to guess about: userinfo ("user@host", even empty),
  // non-ASCII host names (give the xn-- form), host characters outside letters, digits, '-',
  // '.' and '_' (IPv6 literals aside, zone ids refused), whitespace, control characters and
  // backslashes, a missing "//", and dot segments hidden behind ';' ("/..;/").
  static Result<Url> Parse(std::string_view text);

  // "scheme://host:port", the unit that decides where credentials may go.
  std::string Origin() const;

  // The normalised URL: Origin() (default port left out), path and query.
  std::string ToString() const;
};

// True when both parse and have the same origin. Unparseable URLs are never the same origin.
bool SameOrigin(std::string_view a, std::string_view b);

// True when `url` is at or below `prefix`: the same origin, and the prefix's path equal to
// the URL's path or a prefix of it that ends at a '/' boundary ("/fhir" covers "/fhir",
// "/fhir/" and "/fhir/Patient", not "/fhirx"). Encoded slashes (%2F) and backslashes (%5C)
// count as '/' for this comparison, so "/fhir%2F..%2Fadmin" is not under "/fhir".
// The prefix's query is ignored. Unparseable URLs or prefixes are never under anything.
bool IsUnder(const Url& url, const Url& prefix);
bool IsUnder(std::string_view url, std::string_view prefix);

// The path part of IsUnder, for any '/'-separated name space (URL paths, object-store keys:
// s3://bucket/prefix): true when NormalizePath(path) equals NormalizePath(prefix) or starts
// with it at a '/' boundary. Either failing to normalise is "not under".
bool PathIsUnder(std::string_view path, std::string_view prefix);

// RFC 3986 §6.2.2 normalisation of a path (or object key), with the dot segments attackers
// hide: percent-encoded unreserved characters decoded ("%2e" is '.', "%41" is 'A'), other
// escapes in upper case, encoded '/' and '\' (%2F, %5C) and '\' treated as '/', then "." and
// ".." segments removed (§5.2.4; ".." never climbs above the root). Returns kInvalidArgument
// for control characters, bad escapes ("%zz") and segments such as "..;x" that some servers
// read as "..". An empty result is "/".
Result<std::string> NormalizePath(std::string_view path);

// Whether the host is a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
// fd00:ec2::254, IPv4-mapped forms of those, metadata.google.internal), as a literal or, when
// `resolve` is set, through any address the name resolves to now. Imports refuse such sources
// unless an allowed source names that host itself.
bool IsLinkLocalOrMetadata(const Url& url, bool resolve);

// The import allowlist rule: true when `url` IsUnder() one of `prefixes` and, should its host
// be (or now resolve to) a link-local or metadata address, that prefix names such an address
// literally (an operator who allows "http://169.254.169.254" means it; one who allows
// "https://ehr.example" does not mean the metadata service its name may be pointed at).
bool IsAllowedSource(std::string_view url, const std::vector<std::string>& prefixes);

// When `url` IsUnder() `prefix`: the length of the prefix's normalised path (the longer, the
// more specific the match: pull credentials go to the longest). std::nullopt otherwise.
std::optional<size_t> UnderPrefixLength(std::string_view url, std::string_view prefix);

// Resolves `reference` (absolute, or relative like "/status/1") against `base`.
Result<std::string> ResolveUrl(std::string_view base, std::string_view reference);

// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
std::string EncodeQueryComponent(std::string_view text);

// Decodes %XX escapes and '+' (as space) of a query component.
std::string DecodeQueryComponent(std::string_view text);

// Splits and decodes "a=1&b=2" (a URL query or an x-www-form-urlencoded body) into pairs, in
// order; a name without '=' gets an empty value.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// Whether a parameter with this name carries a credential, case-insensitively: the name's last
// word (words split at '-', '_', '.') ends in token, sig, signature, assertion, code, key or
// keyid, or any word holds password, secret or credential. Parameters that merely mention keys,
// such as S3's "max-keys" or "key-marker", are not secret.
bool IsSecretParameterName(std::string_view name);

// Removes userinfo and masks credential-like query values (token, signature, key, secret),
// for messages and logs that must not leak secrets.
std::string RedactUrl(std::string_view url);

}  // namespace fhirlake::http
