#include "fhirlake/auth/authorizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <openssl/crypto.h>

#include "fhirlake/auth/jwt.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/json_field.h"

namespace fhirlake::auth {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr const char* kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

TokenReply Error(int status, const std::string& error, const std::string& description) {
  return {status, json{{"error", error}, {"error_description", description}}.dump()};
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t sp = s.find(' ', start);
    if (sp == std::string::npos) sp = s.size();
    if (sp > start) out.push_back(s.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "system/Patient.read" → {"system", "Patient", "read"}
struct Scope {
  std::string context, type, access;
  static std::optional<Scope> Parse(const std::string& s) {
    auto slash = s.find('/');
    auto dot = s.rfind('.');
    if (slash == std::string::npos || dot == std::string::npos || dot < slash) return std::nullopt;
    return Scope{s.substr(0, slash), s.substr(slash + 1, dot - slash - 1), s.substr(dot + 1)};
  }
  // SMART v1 access ("read", "write", "*") or v2 permissions (letters of "cruds": "rs", "cud").
  bool Reads() const { return access == "read" || access == "*" || Permits('r'); }
  bool Writes() const { return access == "write" || access == "*" || Permits('c') || Permits('u'); }

 private:
  bool Permits(char letter) const {
    return access.find_first_not_of("cruds") == std::string::npos && access.find(letter) != std::string::npos;
  }
};

bool Allows(const Grant& grant, const std::string& type, bool write) {
  for (const auto& s : grant.scopes) {
    auto scope = Scope::Parse(s);
    // Pathling grants imports to user/*.write; reads stay system-level (Backend Services).
    if (!scope || !(scope->context == "system" || (write && scope->context == "user"))) continue;
    if (scope->type != "*" && scope->type != type) continue;
    if (write ? scope->Writes() : scope->Reads()) return true;
  }
  return false;
}

}  // namespace

Result<AuthConfig> LoadAuthConfig(const std::string& path) {
  auto text = store::ReadSmallFile(path, 16u << 20);
  if (!text.ok()) return text.status();
  json doc = ParseJsonFromOutside(*text);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("clients") || !doc["clients"].is_array()) {
    return InvalidArgument(path + " must be a JSON object with a 'clients' array");
  }
  AuthConfig config;
  if (doc.contains("tokenLifetimeSeconds")) {
    if (!doc["tokenLifetimeSeconds"].is_number_unsigned()) return InvalidArgument(path + ": tokenLifetimeSeconds must be a positive number");
    config.token_lifetime = std::chrono::seconds(doc["tokenLifetimeSeconds"].get<int64_t>());
  }
  const auto dir = std::filesystem::path(path).parent_path();
  for (const auto& c : doc["clients"]) {
    RegisteredClient client;
    client.client_id = FieldOr(c, "clientId", "");
    if (client.client_id.empty()) return InvalidArgument(path + ": a client has no clientId");
    const std::string where = path + ": client '" + client.client_id + "'";
    client.client_secret = FieldOr(c, "clientSecret", "");
    std::string jwks;
    if (c.contains("jwks")) {
      jwks = c["jwks"].dump();
    } else if (c.contains("jwksFile")) {
      auto file = std::filesystem::path(FieldOr(c, "jwksFile", ""));
      if (file.is_relative()) file = dir / file;
      auto read = store::ReadSmallFile(file, 1u << 20);
      if (!read.ok()) return read.status().WithContext(where);
      jwks = std::move(read.value());
    }
    if (!jwks.empty()) {
      auto keys = ParseJwks(jwks, /*require_private=*/false);
      if (!keys.ok()) return keys.status().WithContext(where);
      client.keys = std::move(keys.value());
    }
    if (client.keys.empty() && client.client_secret.empty()) return InvalidArgument(where + " has neither keys nor a secret");
    for (const auto& s : FieldOr(c, "scopes", json::array({"system/*.read"}))) {
      if (!s.is_string()) return InvalidArgument(where + ": scopes must be strings");
      client.scopes.push_back(s.get<std::string>());
    }
    config.clients.push_back(std::move(client));
  }
  return config;
}

Authorizer::Authorizer(AuthConfig config) : config_(std::move(config)) {}

const RegisteredClient* Authorizer::Find(const std::string& client_id) const {
  for (const auto& c : config_.clients) {
    if (c.client_id == client_id) return &c;
  }
  return nullptr;
}

// Returns the client id the assertion authenticates, or why it does not.
Result<std::string> Authorizer::CheckAssertion(const std::string& assertion, const std::string& client_id_hint,
                                               const std::string& token_url) {
  // The issuer picks the key set: read iss without trusting it, then verify with its keys.
  auto dot1 = assertion.find('.');
  auto dot2 = dot1 == std::string::npos ? dot1 : assertion.find('.', dot1 + 1);
  if (dot2 == std::string::npos) return InvalidArgument("the client assertion is not a JWT");
  auto raw_claims = Base64UrlDecode(std::string_view(assertion).substr(dot1 + 1, dot2 - dot1 - 1));
  json unverified = raw_claims.ok() ? ParseJsonFromOutside(*raw_claims) : json();
  if (!unverified.is_object()) return InvalidArgument("the client assertion's claims are not a JSON object");
  std::string iss = FieldOr(unverified, "iss", "");
  if (!client_id_hint.empty() && client_id_hint != iss) return InvalidArgument("client_id does not match the assertion's iss");
  const RegisteredClient* client = Find(iss);
  if (!client || client->keys.empty()) return InvalidArgument("client '" + iss + "' is not registered for key authentication");
  auto verified = VerifyJwt(assertion, [&](const std::string& kid) -> const Key* {
    for (const auto& k : client->keys) {
      if (k.kid == kid) return &k;
    }
    return nullptr;
  });
  if (!verified.ok()) return verified.status();
  json claims = ParseJsonFromOutside(verified->claims_json);
  if (FieldOr(claims, "sub", "") != iss) return InvalidArgument("the assertion's sub must equal its iss (the client id)");
  if (FieldOr(claims, "aud", "") != token_url) {
    return InvalidArgument("the assertion's aud must be this token endpoint (" + token_url + ")");
  }
  if (!claims.contains("exp") || !claims["exp"].is_number()) return InvalidArgument("the assertion has no exp");
  int64_t exp = claims["exp"].get<int64_t>();
  int64_t now = NowSeconds();
  if (exp + config_.clock_skew.count() < now) return InvalidArgument("the assertion has expired");
  if (exp > now + config_.max_assertion_lifetime.count() + config_.clock_skew.count()) {
    return InvalidArgument("the assertion's exp is more than 5 minutes ahead");
  }
  std::string jti = FieldOr(claims, "jti", "");
  if (jti.empty()) return InvalidArgument("the assertion has no jti");
  std::lock_guard lock(mu_);
  for (auto it = seen_jti_.begin(); it != seen_jti_.end();) {
    it = it->second + config_.clock_skew.count() < now ? seen_jti_.erase(it) : std::next(it);
  }
  if (!seen_jti_.emplace(iss + "\n" + jti, exp).second) return InvalidArgument("the assertion's jti was used before (replay)");
  return iss;
}

TokenReply Authorizer::IssueToken(std::string_view form_body, std::string_view authorization_header,
                                  const std::string& token_url) {
  std::map<std::string, std::string> form;
  for (auto& [name, value] : http::ParseQuery(form_body)) form[name] = std::move(value);
  if (form["grant_type"] != "client_credentials") {
    return Error(400, "unsupported_grant_type", "grant_type must be client_credentials");
  }
  std::string client_id;
  if (!form["client_assertion"].empty() || !form["client_assertion_type"].empty()) {
    if (form["client_assertion_type"] != kAssertionType) {
      return Error(400, "invalid_client", std::string("client_assertion_type must be ") + kAssertionType);
    }
    auto who = CheckAssertion(form["client_assertion"], form["client_id"], token_url);
    if (!who.ok()) return Error(401, "invalid_client", who.status().message());
    client_id = who.value();
  } else {
    std::string id = form["client_id"], secret = form["client_secret"];
    if (authorization_header.starts_with("Basic ")) {
      std::string b64(authorization_header.substr(6));
      std::replace(b64.begin(), b64.end(), '+', '-');
      std::replace(b64.begin(), b64.end(), '/', '_');
      auto decoded = Base64UrlDecode(b64);
      auto colon = decoded.ok() ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos) return Error(401, "invalid_client", "malformed Basic credentials");
      id = http::DecodeQueryComponent(decoded->substr(0, colon));
      secret = http::DecodeQueryComponent(decoded->substr(colon + 1));
    }
    const RegisteredClient* client = Find(id);
    if (id.empty() || !client || client->client_secret.empty() || !ConstantTimeEqual(secret, client->client_secret)) {
      return Error(401, "invalid_client", "unknown client or wrong client secret");
    }
    client_id = id;
  }
  const RegisteredClient* client = Find(client_id);
  std::vector<std::string> requested = Split(form["scope"]);
  if (requested.empty()) return Error(400, "invalid_scope", "scope is required");
  std::vector<std::string> granted = GrantableScopes(requested, client->scopes);
  if (granted.empty()) return Error(400, "invalid_scope", "none of the requested scopes is allowed for this client");
  std::string token = TokenPrefix() + Base64UrlEncode(RandomBytes(32));
  std::string scope_text;
  for (const auto& s : granted) scope_text += (scope_text.empty() ? "" : " ") + s;
  {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    for (auto it = tokens_.begin(); it != tokens_.end();) it = it->second.expires < now ? tokens_.erase(it) : std::next(it);
    tokens_[token] = Issued{Grant{client_id, granted}, now + config_.token_lifetime};
  }
  return {200, json{{"access_token", token}, {"token_type", "bearer"},
                    {"expires_in", config_.token_lifetime.count()}, {"scope", scope_text}}.dump()};
}

Result<Grant> Authorizer::Authenticate(std::string_view header) {
  if (header.empty()) return Status(StatusCode::kUnauthenticated, "this server requires a bearer token");
  if (!header.starts_with("Bearer ") && !header.starts_with("bearer ")) {
    return Status(StatusCode::kUnauthenticated, "the Authorization header must be 'Bearer <token>'");
  }
  std::string token(header.substr(7));
  std::lock_guard lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return Status(StatusCode::kUnauthenticated, "the access token is not valid");
  if (it->second.expires < Clock::now()) {
    tokens_.erase(it);
    return Status(StatusCode::kUnauthenticated, "the access token has expired");
  }
  return it->second.grant;
}

bool AllowsRead(const Grant& grant, const std::string& type) { return Allows(grant, type, false); }
bool AllowsWrite(const Grant& grant, const std::string& type) { return Allows(grant, type, true); }

std::vector<std::string> GrantableScopes(const std::vector<std::string>& requested, const std::vector<std::string>& allowed) {
  std::vector<std::string> out;
  for (const auto& r : requested) {
    auto want = Scope::Parse(r);
    if (!want) continue;
    for (const auto& a : allowed) {
      auto have = Scope::Parse(a);
      if (!have || have->context != want->context) continue;
      bool type_ok = have->type == "*" || have->type == want->type;
      bool access_ok = have->access == want->access || have->access == "*" ||
                       (want->Reads() && !want->Writes() && have->Reads()) ||
                       (want->Writes() && !want->Reads() && have->Writes());
      if (type_ok && access_ok) {
        out.push_back(r);
        break;
      }
    }
  }
  return out;
}

}  // namespace fhirlake::auth
