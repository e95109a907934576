#include "src/cli/client_auth.h"

#include <algorithm>
#include <cstdio>

#include "fhirlake/auth/smart_client.h"
#include "fhirlake/store/local_file.h"

namespace fhirlake::cli {
namespace {

Result<std::string> ReadSecretFile(const std::string& path) {
  auto text = store::ReadSmallFile(path, 1u << 20);
  if (!text.ok()) return text.status();
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void AddClientAuthOptions(CLI::App& cmd, ClientAuthArgs& a) {
  cmd.add_option("--client-id", a.client_id, "SMART Backend Services client id")->envname("FHIRLAKE_CLIENT_ID");
  cmd.add_option("--private-key", a.private_key, "Private key file: JWKS, JWK or PEM (RS384/ES384)")
      ->envname("FHIRLAKE_PRIVATE_KEY");
  cmd.add_option("--kid", a.kid, "Key id to use from the key file (required for PEM)")->envname("FHIRLAKE_KID");
  cmd.add_option("--client-secret", a.client_secret, "Client secret (prefer --client-secret-file or the environment)")
      ->envname("FHIRLAKE_CLIENT_SECRET");
  cmd.add_option("--client-secret-file", a.client_secret_file, "File holding the client secret")
      ->envname("FHIRLAKE_CLIENT_SECRET_FILE");
  cmd.add_option("--client-auth-method", a.auth_method, "How a secret is sent: basic (default) or post")
      ->check(CLI::IsMember({"basic", "post"}))
      ->envname("FHIRLAKE_CLIENT_AUTH_METHOD");
  cmd.add_option("--scope", a.scope, "Requested scopes (default system/*.read)")->envname("FHIRLAKE_SCOPE");
  cmd.add_option("--token-url", a.token_url, "Token endpoint (default: discovered from the server)")
      ->envname("FHIRLAKE_TOKEN_URL");
  cmd.add_option("--access-token-file", a.access_token_file, "File holding a ready bearer token")
      ->envname("FHIRLAKE_ACCESS_TOKEN_FILE");
}

http::ClientOptions MakeClientOptions(bool insecure, const std::string& ca_file, int retries, bool report_retries) {
  http::ClientOptions client;
  client.verify_tls = !insecure;
  client.ca_file = ca_file;
  client.retry.max_attempts = std::max(1, retries);
  if (report_retries) {
    client.on_retry = [](const std::string& url, const std::string& reason, http::Millis delay) {  // url is redacted
      std::fprintf(stderr, "retrying %s in %.1f s: %s\n", url.c_str(), static_cast<double>(delay.count()) / 1000.0,
                   reason.c_str());
    };
  }
  return client;
}

Result<std::shared_ptr<http::TokenSource>> MakeTokenSource(const ClientAuthArgs& a, const std::string& fhir_base,
                                                           const http::ClientOptions& http) {
  std::string secret = a.client_secret;
  if (!a.client_secret_file.empty()) {
    auto s = ReadSecretFile(a.client_secret_file);
    if (!s.ok()) return s.status();
    secret = s.value();
  }
  if (!a.client_id.empty()) {
    const bool has_key = !a.private_key.empty() || !a.private_key_text.empty();
    if (has_key == !secret.empty() || (!a.private_key.empty() && !a.private_key_text.empty())) {
      return InvalidArgument("--client-id needs exactly one of --private-key or a client secret");
    }
    auth::ClientCredentials creds;
    creds.client_id = a.client_id;
    creds.token_url = a.token_url;
    if (!a.scope.empty()) creds.scope = a.scope;
    creds.secret_method = a.auth_method == "post" ? auth::SecretMethod::kPost : auth::SecretMethod::kBasic;
    if (has_key) {
      auto key = a.private_key.empty() ? auth::ParsePrivateKey(a.private_key_text, a.kid, "the inline private key")
                                       : auth::LoadPrivateKey(a.private_key, a.kid);
      if (!key.ok()) return key.status();
      creds.key = std::move(key.value());
    } else {
      creds.client_secret = secret;
    }
    return std::shared_ptr<http::TokenSource>(
        std::make_shared<auth::SmartTokenSource>(std::move(creds), fhir_base, http));
  }
  if (!a.private_key.empty() || !a.private_key_text.empty() || !secret.empty()) {
    return InvalidArgument("a key or client secret needs --client-id");
  }
  if (!a.access_token_file.empty()) {
    auto t = ReadSecretFile(a.access_token_file);
    if (!t.ok()) return t.status();
    return std::shared_ptr<http::TokenSource>(std::make_shared<http::StaticTokenSource>(t.value()));
  }
  if (const char* env = std::getenv("FHIRLAKE_ACCESS_TOKEN"); env && *env) {
    return std::shared_ptr<http::TokenSource>(std::make_shared<http::StaticTokenSource>(env));
  }
  return std::shared_ptr<http::TokenSource>();
}

}  // namespace fhirlake::cli
