#include "fhirlake/auth/keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "fhirlake/store/local_file.h"
#include "fhirlake/json_field.h"
#include "src/auth/openssl_handles.h"

namespace fhirlake::auth {
namespace {

using nlohmann::json;

constexpr size_t kP384Bytes = 48;

Result<BnPtr> MemberBn(const json& jwk, const char* name, const std::string& where) {
  if (!jwk.contains(name) || !jwk[name].is_string()) return InvalidArgument(where + ": member '" + name + "' is missing");
  auto bytes = Base64UrlDecode(jwk[name].get<std::string>());
  if (!bytes.ok() || bytes->empty()) return InvalidArgument(where + ": member '" + name + "' is not base64url");
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()), static_cast<int>(bytes->size()), nullptr));
  if (!bn) return InternalError("OpenSSL could not allocate a number");
  return bn;
}

Result<std::string> MemberBytes(const json& jwk, const char* name, const std::string& where) {
  if (!jwk.contains(name) || !jwk[name].is_string()) return InvalidArgument(where + ": member '" + name + "' is missing");
  auto bytes = Base64UrlDecode(jwk[name].get<std::string>());
  if (!bytes.ok()) return InvalidArgument(where + ": member '" + name + "' is not base64url");
  return bytes.value();
}

Result<PkeyPtr> FromParams(const char* type, OSSL_PARAM_BLD* bld, bool with_private, const std::string& where) {
  OpensslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  OpensslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, with_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return InvalidArgument(where + ": the key parameters do not form a valid " + type + " key");
  }
  return PkeyPtr(raw);
}

Result<Key> ParseJwk(const json& jwk, bool require_private, size_t index) {
  std::string where = "key " + std::to_string(index);
  if (!jwk.is_object()) return InvalidArgument(where + " is not a JSON object");
  Key key;
  key.kid = FieldOr(jwk, "kid", "");
  if (!key.kid.empty()) where = "key '" + key.kid + "'";
  std::string kty = FieldOr(jwk, "kty", "");
  OpensslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (kty == "RSA") {
    key.alg = Algorithm::kRS384;
    auto n = MemberBn(jwk, "n", where);
    auto e = MemberBn(jwk, "e", where);
    if (!n.ok()) return n.status();
    if (!e.ok()) return e.status();
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n->get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e->get());
    key.has_private = jwk.contains("d");
    std::vector<BnPtr> keep;
    if (key.has_private) {
      const std::pair<const char*, const char*> members[] = {
          {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
          {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
          {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
      for (const auto& [member, param] : members) {
        if (!jwk.contains(member) && std::string(member) != "d") continue;  // CRT members are optional
        auto bn = MemberBn(jwk, member, where);
        if (!bn.ok()) return bn.status();
        OSSL_PARAM_BLD_push_BN(bld.get(), param, bn->get());
        keep.push_back(std::move(bn.value()));
      }
    }
    auto pkey = FromParams("RSA", bld.get(), key.has_private, where);
    if (!pkey.ok()) return pkey.status();
    key.pkey = std::move(pkey.value());
  } else if (kty == "EC") {
    key.alg = Algorithm::kES384;
    if (FieldOr(jwk, "crv", "") != "P-384") {
      return InvalidArgument(where + ": EC keys must use curve P-384 (ES384), not '" + FieldOr(jwk, "crv", "") + "'");
    }
    auto x = MemberBytes(jwk, "x", where);
    auto y = MemberBytes(jwk, "y", where);
    if (!x.ok()) return x.status();
    if (!y.ok()) return y.status();
    if (x->size() != kP384Bytes || y->size() != kP384Bytes) return InvalidArgument(where + ": x and y must be 48 bytes");
    std::string point = "\x04" + *x + *y;
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    key.has_private = jwk.contains("d");
    BnPtr d;
    if (key.has_private) {
      auto bn = MemberBn(jwk, "d", where);
      if (!bn.ok()) return bn.status();
      d = std::move(bn.value());
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get());
    }
    auto pkey = FromParams("EC", bld.get(), key.has_private, where);
    if (!pkey.ok()) return pkey.status();
    key.pkey = std::move(pkey.value());
  } else {
    return InvalidArgument(where + ": key type '" + kty + "' is not supported (use RSA for RS384 or EC P-384 for ES384)");
  }
  if (jwk.contains("alg")) {
    auto alg = ParseAlgorithm(FieldOr(jwk, "alg", ""));
    if (!alg.ok()) return alg.status().WithContext(where);
    if (*alg != key.alg) return InvalidArgument(where + ": alg " + FieldOr(jwk, "alg", "") + " does not fit key type " + kty);
  }
  if (require_private && !key.has_private) return InvalidArgument(where + " has no private part ('d')");
  return key;
}

std::string BnBytes(const BIGNUM* bn, size_t pad_to = 0) {
  size_t n = static_cast<size_t>(BN_num_bytes(bn));
  std::string out(std::max(n, pad_to), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

}  // namespace

void PkeyDeleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

const char* AlgorithmName(Algorithm alg) { return alg == Algorithm::kRS384 ? "RS384" : "ES384"; }

Result<Algorithm> ParseAlgorithm(std::string_view name) {
  if (name == "RS384") return Algorithm::kRS384;
  if (name == "ES384") return Algorithm::kES384;
  return InvalidArgument("algorithm '" + std::string(name) + "' is not supported (RS384 or ES384)");
}

Result<std::vector<Key>> ParseJwks(std::string_view text, bool require_private) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("the key set is not valid JSON (truncated?)");
  std::vector<Key> keys;
  if (doc.is_object() && doc.contains("keys")) {
    if (!doc["keys"].is_array()) return InvalidArgument("'keys' must be an array");
    for (size_t i = 0; i < doc["keys"].size(); ++i) {
      auto key = ParseJwk(doc["keys"][i], require_private, i);
      if (!key.ok()) return key.status();
      keys.push_back(std::move(key.value()));
    }
  } else {
    auto key = ParseJwk(doc, require_private, 0);
    if (!key.ok()) return key.status();
    keys.push_back(std::move(key.value()));
  }
  if (keys.empty()) return InvalidArgument("the key set holds no keys");
  return keys;
}

Result<Key> LoadPrivateKey(const std::string& path, std::string_view kid_override) {
  auto text = store::ReadSmallFile(path, 1u << 20);
  if (!text.ok()) return text.status();
  return ParsePrivateKey(*text, kid_override, path);
}

Result<Key> ParsePrivateKey(std::string_view text, std::string_view kid_override, const std::string& origin) {
  if (text.find("-----BEGIN") != std::string::npos) {
    OpensslPtr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!raw) return InvalidArgument(origin + " is not a readable PEM private key (encrypted keys are not supported)");
    Key key;
    key.pkey.reset(raw);
    key.has_private = true;
    key.kid = std::string(kid_override);
    if (EVP_PKEY_is_a(raw, "RSA")) {
      key.alg = Algorithm::kRS384;
    } else if (EVP_PKEY_is_a(raw, "EC")) {
      char group[64] = {0};
      size_t len = 0;
      EVP_PKEY_get_utf8_string_param(raw, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len);
      if (std::string(group) != "secp384r1") return InvalidArgument(origin + ": EC keys must use curve P-384 (ES384)");
      key.alg = Algorithm::kES384;
    } else {
      return InvalidArgument(origin + ": only RSA and EC P-384 keys are supported");
    }
    if (key.kid.empty()) return InvalidArgument(origin + " is PEM, which has no key id: give --kid");
    return key;
  }
  auto keys = ParseJwks(text, /*require_private=*/true);
  if (!keys.ok()) return keys.status().WithContext(origin);
  for (auto& k : keys.value()) {
    if (kid_override.empty() || k.kid == kid_override) {
      if (k.kid.empty()) k.kid = std::string(kid_override);
      if (k.kid.empty()) return InvalidArgument(origin + ": the key has no 'kid': add one or give --kid");
      return std::move(k);
    }
  }
  return InvalidArgument(origin + " has no key with kid '" + std::string(kid_override) + "'");
}

Result<std::string> ToJwk(const Key& key, bool include_private) {
  json jwk = {{"kid", key.kid}, {"alg", AlgorithmName(key.alg)}, {"use", "sig"}};
  EVP_PKEY* k = key.pkey.get();
  auto bn = [&](const char* param) -> BnPtr {
    BIGNUM* out = nullptr;
    EVP_PKEY_get_bn_param(k, param, &out);
    return BnPtr(out);
  };
  if (key.alg == Algorithm::kRS384) {
    jwk["kty"] = "RSA";
    auto n = bn(OSSL_PKEY_PARAM_RSA_N), e = bn(OSSL_PKEY_PARAM_RSA_E);
    if (!n || !e) return InternalError("cannot read the RSA public key");
    jwk["n"] = Base64UrlEncode(BnBytes(n.get()));
    jwk["e"] = Base64UrlEncode(BnBytes(e.get()));
    if (include_private) {
      const std::pair<const char*, const char*> members[] = {
          {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
          {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
          {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
      for (const auto& [member, param] : members) {
        auto v = bn(param);
        if (!v) return InternalError("cannot read the RSA private key");
        jwk[member] = Base64UrlEncode(BnBytes(v.get()));
      }
    }
  } else {
    jwk["kty"] = "EC";
    jwk["crv"] = "P-384";
    unsigned char point[1 + 2 * kP384Bytes];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) <= 0 ||
        len != sizeof point) {
      // Keys generated by OpenSSL may keep the point compressed; ask for it uncompressed.
      EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
      if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) <= 0 ||
          len != sizeof point) {
        return InternalError("cannot read the EC public key");
      }
    }
    jwk["x"] = Base64UrlEncode(std::string_view(reinterpret_cast<char*>(point) + 1, kP384Bytes));
    jwk["y"] = Base64UrlEncode(std::string_view(reinterpret_cast<char*>(point) + 1 + kP384Bytes, kP384Bytes));
    if (include_private) {
      auto d = bn(OSSL_PKEY_PARAM_PRIV_KEY);
      if (!d) return InternalError("cannot read the EC private key");
      jwk["d"] = Base64UrlEncode(BnBytes(d.get(), kP384Bytes));
    }
  }
  return jwk.dump();
}

Result<Key> GenerateKey(Algorithm alg) {
  EVP_PKEY* raw = alg == Algorithm::kRS384 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  if (!raw) return InternalError("OpenSSL could not generate a key");
  Key key;
  key.pkey.reset(raw);
  key.alg = alg;
  key.has_private = true;
  std::string id = RandomBytes(12);
  key.kid = Base64UrlEncode(id);
  return key;
}

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = byte(i) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return InvalidArgument("invalid base64url length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return InvalidArgument("invalid base64url character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("OpenSSL's random generator failed");  // cannot continue safely
  }
  return out;
}

}  // namespace fhirlake::auth
