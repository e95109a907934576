#include <gtest/gtest.h>

#include <openssl/pem.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/auth/jwt.h"
#include "fhirlake/auth/keys.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::auth {
namespace {

using nlohmann::json;

Key PublicOf(const Key& k) {
  auto jwk = ToJwk(k, false);
  EXPECT_TRUE(jwk.ok());
  auto keys = ParseJwks(*jwk, false);
  EXPECT_TRUE(keys.ok()) << keys.status().message();
  return std::move(keys.value()[0]);
}

KeyLookup Only(const Key& k) {
  return [&k](const std::string& kid) { return kid == k.kid ? &k : nullptr; };
}

std::string Part(const std::string& jwt, int n) {
  size_t a = jwt.find('.'), b = jwt.find('.', a + 1);
  return n == 0 ? jwt.substr(0, a) : n == 1 ? jwt.substr(a + 1, b - a - 1) : jwt.substr(b + 1);
}

TEST(Base64Url, RoundTripsAllLengths) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("a").ok());
  EXPECT_FALSE(Base64UrlDecode("ab$c").ok());
}

class KeyTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(KeyTest, PrivateJwkRoundTripsAndSignsWhatThePublicKeyVerifies) {
  auto key = GenerateKey(GetParam());
  ASSERT_TRUE(key.ok()) << key.status().message();
  auto jwk = ToJwk(*key, true);
  ASSERT_TRUE(jwk.ok());
  auto reread = ParseJwks("{\"keys\":[" + *jwk + "]}", true);
  ASSERT_TRUE(reread.ok()) << reread.status().message();
  const Key& priv = reread.value()[0];
  EXPECT_EQ(priv.kid, key->kid);
  Key pub = PublicOf(priv);
  EXPECT_FALSE(pub.has_private);
  EXPECT_EQ(json::parse(*ToJwk(pub, false)).count("d"), 0u);
  auto jwt = SignJwt(priv, R"({"iss":"me"})");
  ASSERT_TRUE(jwt.ok());
  json header = json::parse(*Base64UrlDecode(Part(*jwt, 0)));
  EXPECT_EQ(header["alg"], AlgorithmName(GetParam()));
  EXPECT_EQ(header["typ"], "JWT");
  EXPECT_EQ(header["kid"], key->kid);
  if (GetParam() == Algorithm::kES384) {
    EXPECT_EQ(Base64UrlDecode(Part(*jwt, 2))->size(), 96u) << "raw R||S";
  }
  auto verified = VerifyJwt(*jwt, Only(pub));
  ASSERT_TRUE(verified.ok()) << verified.status().message();
  EXPECT_EQ(verified->claims_json, R"({"iss":"me"})");
}

TEST_P(KeyTest, TamperedClaimsFailVerification) {
  auto key = GenerateKey(GetParam());
  ASSERT_TRUE(key.ok());
  Key pub = PublicOf(*key);
  auto jwt = *SignJwt(*key, R"({"iss":"me"})");
  std::string forged = Part(jwt, 0) + "." + Base64UrlEncode(R"({"iss":"you"})") + "." + Part(jwt, 2);
  auto v = VerifyJwt(forged, Only(pub));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("signature"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, KeyTest, ::testing::Values(Algorithm::kRS384, Algorithm::kES384),
                         [](const auto& info) { return std::string(AlgorithmName(info.param)); });

TEST(Jwt, RejectsAlgNoneWrongKidAndMismatchedAlg) {
  Key rsa = std::move(GenerateKey(Algorithm::kRS384).value());
  Key ec = std::move(GenerateKey(Algorithm::kES384).value());
  Key rsa_pub = PublicOf(rsa);
  std::string claims = Base64UrlEncode(R"({"iss":"me"})");
  std::string none = Base64UrlEncode(R"({"alg":"none","kid":")" + rsa.kid + R"("})") + "." + claims + ".";
  auto v = VerifyJwt(none, Only(rsa_pub));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("'none' is not allowed"), std::string::npos) << v.status().message();
  auto other = *SignJwt(ec, R"({"iss":"me"})");
  v = VerifyJwt(other, Only(rsa_pub));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("no registered key has kid"), std::string::npos);
  // An ES384 token whose kid names the RSA key: the alg does not fit the key type.
  std::string mismatched = Base64UrlEncode(R"({"alg":"ES384","kid":")" + rsa.kid + R"("})") + "." + claims + "." + Part(other, 2);
  v = VerifyJwt(mismatched, Only(rsa_pub));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("does not fit"), std::string::npos);
  EXPECT_FALSE(VerifyJwt("not-a-jwt", Only(rsa_pub)).ok());
  // A header whose alg or kid is not a string is refused with the same message, not thrown.
  for (const char* header : {R"({"alg":384,"kid":"k"})", R"({"alg":["RS384"]})", R"({"alg":"RS384","kid":{"a":1}})"}) {
    v = VerifyJwt(Base64UrlEncode(header) + "." + claims + "." + Part(other, 2), Only(rsa_pub));
    ASSERT_FALSE(v.ok()) << header;
  }
}

TEST(Keys, TruncatedAndUnsupportedKeySetsAreClearErrors) {
  Key key = std::move(GenerateKey(Algorithm::kRS384).value());
  std::string jwks = "{\"keys\":[" + *ToJwk(key, true) + "]}";
  auto truncated = ParseJwks(jwks.substr(0, jwks.size() / 2), true);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  auto p256 = ParseJwks(R"({"kty":"EC","crv":"P-256","kid":"k","x":"AA","y":"AA"})", false);
  ASSERT_FALSE(p256.ok());
  EXPECT_NE(p256.status().message().find("P-384"), std::string::npos);
  auto oct = ParseJwks(R"({"kty":"oct","kid":"k","k":"AAAA"})", false);
  ASSERT_FALSE(oct.ok());
  EXPECT_NE(oct.status().message().find("'oct' is not supported"), std::string::npos);
  auto pub_only = ParseJwks(*ToJwk(key, false), true);
  ASSERT_FALSE(pub_only.ok());
  EXPECT_NE(pub_only.status().message().find("no private part"), std::string::npos);
  auto wrong_alg = json::parse(*ToJwk(key, false));
  wrong_alg["alg"] = "ES384";
  EXPECT_FALSE(ParseJwks(wrong_alg.dump(), false).ok());
  // Error messages never carry key material.
  std::string d = json::parse(*ToJwk(key, true))["d"];
  EXPECT_EQ(truncated.status().message().find(d.substr(0, 16)), std::string::npos);
}

TEST(Keys, LoadsPemWithAKidAndJwksByKid) {
  fhirlake::testing::TempDir dir;
  // An EC P-384 PEM made with OpenSSL's tooling format (PKCS#8).
  Key key = std::move(GenerateKey(Algorithm::kES384).value());
  std::string jwks = "{\"keys\":[" + *ToJwk(*GenerateKey(Algorithm::kRS384), true) + "," + *ToJwk(key, true) + "]}";
  std::ofstream(dir / "k.json") << jwks;
  auto picked = LoadPrivateKey((dir / "k.json").string(), key.kid);
  ASSERT_TRUE(picked.ok()) << picked.status().message();
  EXPECT_EQ(picked->alg, Algorithm::kES384);
  EXPECT_FALSE(LoadPrivateKey((dir / "k.json").string(), "nope").ok());
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, key.pkey.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* pem = nullptr;
  long len = BIO_get_mem_data(bio, &pem);
  std::ofstream(dir / "k.pem") << std::string(pem, static_cast<size_t>(len));
  BIO_free(bio);
  auto from_pem = LoadPrivateKey((dir / "k.pem").string(), "pem-kid");
  ASSERT_TRUE(from_pem.ok()) << from_pem.status().message();
  EXPECT_EQ(from_pem->kid, "pem-kid");
  EXPECT_EQ(from_pem->alg, Algorithm::kES384);
  Key pub = PublicOf(key);
  pub.kid = "pem-kid";
  EXPECT_TRUE(VerifyJwt(*SignJwt(*from_pem, "{}"), Only(pub)).ok());
  auto no_kid = LoadPrivateKey((dir / "k.pem").string());
  ASSERT_FALSE(no_kid.ok());
  EXPECT_NE(no_kid.status().message().find("--kid"), std::string::npos);
  std::ofstream(dir / "bad.pem") << "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  auto bad = LoadPrivateKey((dir / "bad.pem").string(), "k");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("PEM"), std::string::npos);
}

}  // namespace
}  // namespace fhirlake::auth
