// The client-authentication options every command that talks to a FHIR server shares
// (export now; sync and the server's pull jobs later): flags, their environment variables, and
// the TokenSource they make. Secrets can always come from a file or the environment.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "fhirlake/http/client.h"
#include "fhirlake/http/token_source.h"
#include "fhirlake/status.h"

namespace fhirlake::cli {

struct ClientAuthArgs {
  std::string client_id, private_key, client_secret, client_secret_file, scope, token_url, kid;
  std::string private_key_text;  // a key given inline (a config file's JWK), instead of a file
  std::string auth_method = "basic";
  std::string access_token_file;
};

// Adds --client-id, --private-key, --client-secret(-file), --scope, --token-url, --kid,
// --client-auth-method and --access-token-file, each with its FHIRLAKE_* variable.
void AddClientAuthOptions(CLI::App& cmd, ClientAuthArgs& args);

// HTTP options shared by the commands that talk to a FHIR server: TLS, attempts per request,
// and (with `report_retries`) a line on stderr before each retry.
http::ClientOptions MakeClientOptions(bool insecure, const std::string& ca_file, int retries, bool report_retries);

// The token source the options ask for: SMART Backend Services with a key or secret, a fixed
// token, or none (nullptr). kInvalidArgument for incomplete or conflicting options.
Result<std::shared_ptr<http::TokenSource>> MakeTokenSource(const ClientAuthArgs& args, const std::string& fhir_base,
                                                           const http::ClientOptions& http);

}  // namespace fhirlake::cli
