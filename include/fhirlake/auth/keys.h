// Signing keys for SMART Backend Services: RSA (RS384) and P-384 EC (ES384) keys read from a
// JWKS, a single JWK or PEM, written as JWK, and generated for `fhirlake keygen`. All through
// OpenSSL 3 EVP (no deprecated RSA_/EC_ calls).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace fhirlake::auth {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

enum class Algorithm { kRS384, kES384 };
const char* AlgorithmName(Algorithm alg);  // "RS384" | "ES384"
Result<Algorithm> ParseAlgorithm(std::string_view name);

struct Key {
  std::string kid;
  Algorithm alg = Algorithm::kRS384;
  PkeyPtr pkey;
  bool has_private = false;
};

// Reads keys from JWKS ({"keys":[...]}) or single-JWK JSON text. Keys of unsupported types
// (kty other than RSA/EC, EC curves other than P-384) are an error naming the kid.
// With `require_private`, every key must carry its private part.
Result<std::vector<Key>> ParseJwks(std::string_view json, bool require_private);

// Reads a private key file: JWKS, JWK or PEM (PKCS#8 or traditional). For PEM, `kid` comes
// from the caller. The message of an error never contains key material.
Result<Key> LoadPrivateKey(const std::string& path, std::string_view kid_override = {});
// The same for key text already in memory; `origin` names it in errors (a path, a config key).
Result<Key> ParsePrivateKey(std::string_view text, std::string_view kid_override, const std::string& origin);

// The key as a JWK object (JSON text), with or without its private members.
Result<std::string> ToJwk(const Key& key, bool include_private);

// A fresh key (RSA 2048 for RS384, P-384 for ES384) with a random kid.
Result<Key> GenerateKey(Algorithm alg);

// Base64url without padding (RFC 7515 §2).
std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);

// `n` random bytes from OpenSSL's CSPRNG.
std::string RandomBytes(size_t n);

}  // namespace fhirlake::auth
