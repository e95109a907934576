// AWS Signature Version 4 for S3 requests (AWS General Reference, "Signature Version 4 signing
// process"; S3 API Reference, "Authenticating Requests: Using the Authorization Header").
// Internal to the store module. libcurl's CURLOPT_AWS_SIGV4 is not used: the Debian libcurl
// (7.88) neither sorts nor encodes the query string canonically, which continuation tokens and
// upload ids need.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fhirlake::store {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~) stay,
// everything else is %XX (upper case); '/' stays when `keep_slash`.
std::string UriEncode(std::string_view text, bool keep_slash);

// The canonical query string: encoded names and values, sorted by name then value.
std::string CanonicalQuery(const QueryParams& params);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// The Host header an HTTP client sends for `scheme`://`authority`: the authority without a
// port that is the scheme's default (curl leaves ":80" and ":443" out), which is what must be
// signed.
std::string HostHeaderFor(std::string_view scheme, std::string_view authority);

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string region;
};

struct SigV4Request {
  std::string method;
  std::string host;            // as sent in the Host header (with ":port" when not default)
  std::string canonical_uri;   // already encoded, starts with '/'
  QueryParams query;
  // Extra headers to sign besides host/x-amz-*: e.g. {"if-none-match", "*"}, {"range", ...}.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256;  // hex
};

// The headers to send ("Name: value" lines): x-amz-date, x-amz-content-sha256,
// x-amz-security-token when there is a session token, and Authorization.
std::vector<std::pair<std::string, std::string>> SignV4(const SigV4Request& request,
                                                        const SigV4Credentials& credentials,
                                                        std::chrono::system_clock::time_point now);

}  // namespace fhirlake::store
