// auth::Authorizer: the authorization server and resource guard of `fhirlake serve --auth`.
// It holds the registered clients (from a clients file), answers client_credentials token
// requests (SMART Backend Services: a signed client assertion, or a client secret), and checks
// bearer tokens and their scopes on every protected request.
//
// Clients file (JSON):
//   {"tokenLifetimeSeconds": 300,
//    "clients": [{"clientId": "...", "jwks": {...} | "jwksFile": "path", "clientSecret": "...",
//                 "scopes": ["system/*.read"]}]}
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/auth/keys.h"
#include "fhirlake/status.h"

namespace fhirlake::auth {

struct RegisteredClient {
  std::string client_id;
  std::vector<Key> keys;       // public keys for client assertions
  std::string client_secret;   // "" = asymmetric only
  std::vector<std::string> scopes;
};

struct AuthConfig {
  std::vector<RegisteredClient> clients;
  std::chrono::seconds token_lifetime{300};
  std::chrono::seconds max_assertion_lifetime{300};  // exp may be at most this far ahead
  std::chrono::seconds clock_skew{60};
};

// Reads a clients file; relative jwksFile paths are relative to the file. Errors name the
// client and the problem.
Result<AuthConfig> LoadAuthConfig(const std::string& path);

struct Grant {
  std::string client_id;
  std::vector<std::string> scopes;
};

struct TokenReply {
  int http_status = 200;
  std::string body;  // JSON: the token response, or {"error","error_description"} (RFC 6749 §5.2)
};

class Authorizer {
 public:
  explicit Authorizer(AuthConfig config);

  // Handles a POST to the token endpoint. `token_url` is this endpoint's own URL, which a
  // client assertion's `aud` must equal.
  TokenReply IssueToken(std::string_view form_body, std::string_view authorization_header,
                        const std::string& token_url);

  // Checks an Authorization header. kUnauthenticated when missing, malformed, unknown or expired.
  Result<Grant> Authenticate(std::string_view authorization_header);

  static const char* TokenPrefix() { return "flat_"; }  // every access token starts with this

 private:
  struct Issued {
    Grant grant;
    std::chrono::steady_clock::time_point expires;
  };
  const RegisteredClient* Find(const std::string& client_id) const;
  Result<std::string> CheckAssertion(const std::string& assertion, const std::string& client_id_hint,
                                     const std::string& token_url);

  AuthConfig config_;
  std::mutex mu_;
  std::map<std::string, Issued> tokens_;
  std::map<std::string, int64_t> seen_jti_;  // jti → exp (seconds), pruned as they pass
};

// SMART scopes: does the grant allow reading (writing) resources of `type`?
// system/*.read, system/<type>.read and the v2 forms (system/*.rs, .cruds, ...) count; for
// writing, user/*.write (and user/<type>.write) count as well, as in Pathling.
bool AllowsRead(const Grant& grant, const std::string& type);
bool AllowsWrite(const Grant& grant, const std::string& type);
// The scopes of `requested` that `allowed` covers ("system/*.read" covers "system/Patient.read").
std::vector<std::string> GrantableScopes(const std::vector<std::string>& requested,
                                         const std::vector<std::string>& allowed);

}  // namespace fhirlake::auth
