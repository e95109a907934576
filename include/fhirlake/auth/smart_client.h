// auth::SmartTokenSource: access tokens from a SMART Backend Services authorization server
// (client_credentials grant), for the http layer's TokenSource seam. Asymmetric clients sign a
// client assertion (private_key_jwt, RS384 or ES384); symmetric ones send a client secret
// (client_secret_basic by default, or client_secret_post). Tokens are cached and renewed
// shortly before they expire; a forced refresh (after a 401) always asks for a new one.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/auth/keys.h"
#include "fhirlake/http/client.h"
#include "fhirlake/http/token_source.h"

namespace fhirlake::auth {

enum class SecretMethod { kBasic, kPost };

struct ClientCredentials {
  std::string client_id;
  std::string scope = "system/*.read";
  std::string token_url;              // "" = discover from the FHIR base
  std::optional<Key> key;             // asymmetric (private_key_jwt)
  std::string client_secret;          // symmetric
  SecretMethod secret_method = SecretMethod::kBasic;
};

struct SmartConfiguration {
  std::string token_endpoint;
  std::vector<std::string> signing_algs;  // token_endpoint_auth_signing_alg_values_supported
};

// A .well-known/smart-configuration document (SMART App Launch §2.1). kInvalidArgument when it
// is not a JSON object with a string token_endpoint; non-string signing algorithms are skipped.
Result<SmartConfiguration> ParseSmartConfiguration(std::string_view json);

// The token endpoint a CapabilityStatement names in rest[].security.extension (the oauth-uris
// extension's "token" valueUri). kNotFound when it names none; parts of the wrong JSON type are
// skipped, not errors.
Result<std::string> TokenEndpointFromCapabilityStatement(std::string_view json);

// Reads [base]/.well-known/smart-configuration, falling back to the CapabilityStatement's
// oauth-uris extension ([base]/metadata).
Result<SmartConfiguration> DiscoverSmartConfiguration(const std::string& fhir_base, http::Client& client);

class SmartTokenSource : public http::TokenSource {
 public:
  // `http` carries TLS settings and retry policy for the token endpoint (its token fields are
  // ignored). `fhir_base` is used for discovery when credentials have no token_url.
  SmartTokenSource(ClientCredentials credentials, std::string fhir_base, http::ClientOptions http);

  Result<std::string> Token(bool force_refresh) override;

  // Token requests made so far (for progress and tests).
  int requests() const;

 private:
  Result<std::string> Fetch();

  ClientCredentials credentials_;
  std::string fhir_base_;
  http::ClientOptions http_options_;
  mutable std::mutex mu_;
  std::string token_;
  std::chrono::steady_clock::time_point renew_at_{};
  int requests_ = 0;
};

}  // namespace fhirlake::auth
