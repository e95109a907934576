// Compact JWS (RFC 7515) as SMART Backend Services uses it: client assertions signed RS384
// (RSASSA-PKCS1-v1_5 with SHA-384) or ES384 (ECDSA P-384 with SHA-384, the signature as raw
// R||S per RFC 7518 §3.4, not DER).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "fhirlake/auth/keys.h"
#include "fhirlake/status.h"

namespace fhirlake::auth {

// Signs `claims_json` with `key`; the header is {"alg","kid","typ":"JWT"}.
// REQUIRES: key.has_private.
Result<std::string> SignJwt(const Key& key, std::string_view claims_json);

struct VerifiedJwt {
  std::string header_json;
  std::string claims_json;
  std::string kid;
  Algorithm alg = Algorithm::kRS384;
};

// Finds the verification key for a kid, or nullptr.
using KeyLookup = std::function<const Key*(const std::string& kid)>;

// Checks structure, that `alg` is RS384 or ES384 (never "none") and fits the key found by
// `kid`, and the signature. Claims are not checked here. Errors say what is wrong without
// echoing the token.
Result<VerifiedJwt> VerifyJwt(std::string_view token, const KeyLookup& lookup);

}  // namespace fhirlake::auth
