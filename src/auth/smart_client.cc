#include "fhirlake/auth/smart_client.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "fhirlake/auth/jwt.h"
#include "fhirlake/http/url.h"
#include "fhirlake/json_field.h"

namespace fhirlake::auth {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr const char* kOauthUris = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

std::string Base(const std::string& fhir_base) {
  std::string b = fhir_base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b;
}

std::string FormField(const std::string& name, const std::string& value) {
  return http::EncodeQueryComponent(name) + "=" + http::EncodeQueryComponent(value);
}

}  // namespace

Result<SmartConfiguration> ParseSmartConfiguration(std::string_view text) {
  json doc = ParseJsonFromOutside(text);
  if (doc.is_discarded() || !doc.is_object()) return InvalidArgument("the SMART configuration is not a JSON object");
  auto endpoint = doc.find("token_endpoint");
  if (endpoint == doc.end() || !endpoint->is_string()) {
    return InvalidArgument("the SMART configuration has no token_endpoint string");
  }
  SmartConfiguration c;
  c.token_endpoint = endpoint->get<std::string>();
  auto algs = doc.find("token_endpoint_auth_signing_alg_values_supported");
  if (algs != doc.end() && algs->is_array()) {
    for (const auto& a : *algs) {
      if (a.is_string()) c.signing_algs.push_back(a.get<std::string>());
    }
  }
  return c;
}

Result<std::string> TokenEndpointFromCapabilityStatement(std::string_view text) {
  // Every level is checked for its type: a CapabilityStatement is outside input, and
  // json::value() throws on a non-object.
  auto string_member = [](const json& j, const char* name) -> std::string {
    if (!j.is_object()) return "";
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  };
  auto array_member = [](const json& j, const char* name) -> const json* {
    if (!j.is_object()) return nullptr;
    auto it = j.find(name);
    return it != j.end() && it->is_array() ? &*it : nullptr;
  };
  json cs = ParseJsonFromOutside(text);
  if (const json* rests = array_member(cs, "rest")) {
    for (const auto& rest : *rests) {
      const json* security = rest.is_object() && rest.contains("security") ? &rest["security"] : nullptr;
      const json* extensions = security ? array_member(*security, "extension") : nullptr;
      if (!extensions) continue;
      for (const auto& ext : *extensions) {
        if (string_member(ext, "url") != kOauthUris) continue;
        const json* inner = array_member(ext, "extension");
        if (!inner) continue;
        for (const auto& uri : *inner) {
          if (string_member(uri, "url") != "token") continue;
          if (std::string endpoint = string_member(uri, "valueUri"); !endpoint.empty()) return endpoint;
        }
      }
    }
  }
  return NotFound("the CapabilityStatement names no token endpoint");
}

Result<SmartConfiguration> DiscoverSmartConfiguration(const std::string& fhir_base, http::Client& client) {
  http::Request req;
  req.url = Base(fhir_base) + "/.well-known/smart-configuration";
  req.headers.Add("Accept", "application/json");
  req.send_token = false;
  auto resp = client.Send(req);
  if (resp.ok() && resp->status == 200) {
    if (auto config = ParseSmartConfiguration(resp->body); config.ok()) return config;
  }
  req.url = Base(fhir_base) + "/metadata";
  req.headers = http::Headers();
  req.headers.Add("Accept", "application/fhir+json");
  auto meta = client.Send(req);
  if (!meta.ok()) return meta.status().WithContext("SMART discovery");
  if (meta->status == 200) {
    if (auto endpoint = TokenEndpointFromCapabilityStatement(meta->body); endpoint.ok()) {
      return SmartConfiguration{std::move(endpoint).value(), {}};
    }
  }
  return NotFound("cannot find the token endpoint of " + http::RedactUrl(fhir_base) +
                  ": neither .well-known/smart-configuration nor the CapabilityStatement names one; give --token-url");
}

SmartTokenSource::SmartTokenSource(ClientCredentials credentials, std::string fhir_base, http::ClientOptions http)
    : credentials_(std::move(credentials)), fhir_base_(std::move(fhir_base)), http_options_(std::move(http)) {
  http_options_.tokens.reset();
  http_options_.token_origin.clear();
}

int SmartTokenSource::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

Result<std::string> SmartTokenSource::Token(bool force_refresh) {
  std::lock_guard lock(mu_);
  if (!force_refresh && !token_.empty() && Clock::now() < renew_at_) return token_;
  return Fetch();
}

Result<std::string> SmartTokenSource::Fetch() {
  http::Client client(http_options_);
  if (credentials_.token_url.empty()) {
    FHIRLAKE_ASSIGN_OR_RETURN(const SmartConfiguration config, DiscoverSmartConfiguration(fhir_base_, client));
    if (credentials_.key && !config.signing_algs.empty() &&
        std::find(config.signing_algs.begin(), config.signing_algs.end(), AlgorithmName(credentials_.key->alg)) ==
            config.signing_algs.end()) {
      return Status(StatusCode::kUnauthenticated,
                    std::string("the authorization server does not accept ") + AlgorithmName(credentials_.key->alg) +
                        " client assertions; use a key of a supported type");
    }
    auto resolved = http::ResolveUrl(fhir_base_, config.token_endpoint);
    if (!resolved.ok()) return resolved.status().WithContext("token_endpoint");
    credentials_.token_url = resolved.value();
  }
  http::Request req;
  req.method = "POST";
  req.url = credentials_.token_url;
  req.send_token = false;
  req.headers.Add("Content-Type", "application/x-www-form-urlencoded");
  req.headers.Add("Accept", "application/json");
  const std::string form = FormField("grant_type", "client_credentials") + "&" + FormField("scope", credentials_.scope);
  std::string body = form;
  if (credentials_.key) {
    // A new assertion (new jti, iat, exp) for every attempt: the server refuses a jti it has seen.
    auto assertion_body = [this, form](std::string& out) -> Status {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      json claims = {{"iss", credentials_.client_id}, {"sub", credentials_.client_id}, {"aud", credentials_.token_url},
                     {"exp", now + 240}, {"iat", now}, {"jti", Base64UrlEncode(RandomBytes(18))}};
      FHIRLAKE_ASSIGN_OR_RETURN(const std::string assertion, SignJwt(*credentials_.key, claims.dump()));
      out = form + "&" + FormField("client_assertion_type", kAssertionType) + "&" + FormField("client_assertion", assertion);
      return Status::Ok();
    };
    FHIRLAKE_RETURN_IF_ERROR(assertion_body(body));
    req.renew_body = assertion_body;
  } else if (credentials_.secret_method == SecretMethod::kPost) {
    body += "&" + FormField("client_id", credentials_.client_id) + "&" + FormField("client_secret", credentials_.client_secret);
  } else {
    // RFC 6749 §2.3.1: form-urlencode id and secret, then Basic.
    std::string pair = http::EncodeQueryComponent(credentials_.client_id) + ":" +
                       http::EncodeQueryComponent(credentials_.client_secret);
    std::string b64 = Base64UrlEncode(pair);
    std::replace(b64.begin(), b64.end(), '-', '+');
    std::replace(b64.begin(), b64.end(), '_', '/');
    while (b64.size() % 4) b64.push_back('=');
    req.headers.Add("Authorization", "Basic " + b64);
  }
  req.body = std::move(body);
  ++requests_;
  auto resp = client.Send(req);
  if (!resp.ok()) return resp.status().WithContext("token request");
  json doc = ParseJsonFromOutside(resp->body);
  if (resp->status != 200) {
    std::string why = "HTTP " + std::to_string(resp->status);
    if (!doc.is_discarded() && doc.is_object()) {
      if (doc.contains("error") && doc["error"].is_string()) why += " " + doc["error"].get<std::string>();
      if (doc.contains("error_description") && doc["error_description"].is_string()) {
        why += ": " + doc["error_description"].get<std::string>();
      }
    }
    return Status(StatusCode::kUnauthenticated, "the authorization server " + http::RedactUrl(credentials_.token_url) +
                                                    " refused client '" + credentials_.client_id + "': " + why);
  }
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string()) {
    return Status(StatusCode::kUnauthenticated, "the token response of " + http::RedactUrl(credentials_.token_url) +
                                                    " has no access_token");
  }
  long long lifetime = 300;
  if (doc.contains("expires_in") && doc["expires_in"].is_number()) lifetime = doc["expires_in"].get<long long>();
  // Renew ahead of expiry: a fifth of the lifetime, at most 30 s.
  auto margin = std::chrono::seconds(std::min<long long>(30, lifetime / 5));
  renew_at_ = Clock::now() + std::chrono::seconds(lifetime) - margin;
  token_ = doc["access_token"].get<std::string>();
  return token_;
}

}  // namespace fhirlake::auth
