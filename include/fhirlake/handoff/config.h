// The handoff's configuration under pathling-import's names, so that a deployment configured
// for pathling-import runs unchanged: SOURCE_ENDPOINT, TYPES, SINCE,
// SOURCE_AUTHENTICATION_ENABLED, SOURCE_CLIENT_ID, SOURCE_CLIENT_SECRET, SOURCE_SCOPES,
// STAGING_URL, TARGET_ENDPOINT, TARGET_CLIENT_ID, TARGET_CLIENT_SECRET, TARGET_SCOPES (default
// user/*.write), {EXPORT,TRANSFER,IMPORT}_RETRY_{TIMES,WAIT,BACK_OFF} (24, 900 s, 1.0).
// Where the values come from (flags, FHIRLAKE_* and the plain environment, a JSON file with
// the names in lower camel case) is the caller's business: it hands a lookup by name.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/handoff/handoff.h"
#include "fhirlake/status.h"

namespace fhirlake::handoff {

// The names, in pathling-import's constant case, that ConfigFromSettings reads.
const std::vector<std::string>& SettingNames();

// Whether the setting holds a secret (never printed).
bool IsSecretSetting(const std::string& name);

// "SOURCE_CLIENT_ID" → "sourceClientId" (pathling-import's JSON file keys).
std::string CamelCaseName(const std::string& constant_name);

// Returns the value of a setting, nullopt (or "") when unset.
using SettingLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Which settings a step needs, as in pathling-import's handlers: each step requires only its
// own (a transfer needs no target, an import status check no staging URL).
enum class Needs { kExport, kTransfer, kImport, kAll };

// Builds the configuration. `http` carries TLS and retry settings for both sides; the token
// sources (client credentials, token endpoint discovered from the server's
// .well-known/smart-configuration) are made here. kInvalidArgument names the missing or
// malformed setting (never its value when it is a secret).
Result<HandoffConfig> ConfigFromSettings(const SettingLookup& lookup, Needs needs, const http::ClientOptions& http);

}  // namespace fhirlake::handoff
