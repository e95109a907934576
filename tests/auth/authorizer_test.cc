#include "fhirlake/auth/authorizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "fhirlake/auth/jwt.h"
#include "fhirlake/http/url.h"

namespace fhirlake::auth {
namespace {

using nlohmann::json;
constexpr const char* kTokenUrl = "http://127.0.0.1:9/fhir/auth/token";
constexpr const char* kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class AuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = std::move(GenerateKey(Algorithm::kES384).value());
    AuthConfig config;
    RegisteredClient c;
    c.client_id = "etl";
    c.keys = std::move(ParseJwks(*ToJwk(key_, false), false).value());
    c.scopes = {"system/*.read"};
    config.clients.push_back(std::move(c));
    RegisteredClient s;
    s.client_id = "reporter";
    s.client_secret = "s3cret value";
    s.scopes = {"system/Patient.read"};
    config.clients.push_back(std::move(s));
    authorizer_ = std::make_unique<Authorizer>(std::move(config));
  }

  json Claims() {
    return {{"iss", "etl"}, {"sub", "etl"}, {"aud", kTokenUrl}, {"exp", Now() + 120}, {"jti", Base64UrlEncode(RandomBytes(9))}};
  }
  TokenReply Request(const std::string& assertion, const std::string& scope = "system/*.read") {
    std::string body = "grant_type=client_credentials&scope=" + http::EncodeQueryComponent(scope) +
                       "&client_assertion_type=" + http::EncodeQueryComponent(kAssertionType) +
                       "&client_assertion=" + assertion;
    return authorizer_->IssueToken(body, "", kTokenUrl);
  }
  TokenReply WithClaims(const json& claims) { return Request(*SignJwt(key_, claims.dump())); }
  static std::string Description(const TokenReply& r) { return json::parse(r.body).value("error_description", ""); }

  Key key_;
  std::unique_ptr<Authorizer> authorizer_;
};

TEST_F(AuthorizerTest, ValidAssertionGetsAWorkingToken) {
  auto reply = WithClaims(Claims());
  ASSERT_EQ(reply.http_status, 200) << reply.body;
  json body = json::parse(reply.body);
  EXPECT_EQ(body["token_type"], "bearer");
  EXPECT_EQ(body["scope"], "system/*.read");
  EXPECT_EQ(body["expires_in"], 300);
  std::string token = body["access_token"];
  EXPECT_TRUE(token.starts_with(Authorizer::TokenPrefix()));
  auto grant = authorizer_->Authenticate("Bearer " + token);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->client_id, "etl");
  EXPECT_TRUE(AllowsRead(*grant, "Observation"));
  EXPECT_FALSE(AllowsWrite(*grant, "Observation"));
}

TEST_F(AuthorizerTest, RejectsEachBadAssertion) {
  struct Case {
    std::string name;
    std::function<void(json&)> mutate;
    std::string expected;
  } cases[] = {
      {"wrong aud", [](json& c) { c["aud"] = "http://elsewhere/token"; }, "aud must be this token endpoint"},
      {"expired", [](json& c) { c["exp"] = Now() - 3600; }, "expired"},
      {"too far ahead", [](json& c) { c["exp"] = Now() + 3600; }, "more than 5 minutes ahead"},
      {"no jti", [](json& c) { c.erase("jti"); }, "no jti"},
      {"sub differs", [](json& c) { c["sub"] = "other"; }, "sub must equal its iss"},
      {"unknown client", [](json& c) { c["iss"] = c["sub"] = "stranger"; }, "not registered"},
  };
  for (auto& c : cases) {
    json claims = Claims();
    c.mutate(claims);
    auto reply = WithClaims(claims);
    EXPECT_EQ(reply.http_status, 401) << c.name;
    EXPECT_EQ(json::parse(reply.body)["error"], "invalid_client") << c.name;
    EXPECT_NE(Description(reply).find(c.expected), std::string::npos) << c.name << ": " << Description(reply);
  }
}

TEST_F(AuthorizerTest, RejectsReplayedJti) {
  json claims = Claims();
  EXPECT_EQ(WithClaims(claims).http_status, 200);
  auto again = WithClaims(claims);
  EXPECT_EQ(again.http_status, 401);
  EXPECT_NE(Description(again).find("replay"), std::string::npos);
}

TEST_F(AuthorizerTest, RejectsAWrongKeyWithTheRightKid) {
  Key impostor = std::move(GenerateKey(Algorithm::kES384).value());
  impostor.kid = key_.kid;
  auto reply = Request(*SignJwt(impostor, Claims().dump()));
  EXPECT_EQ(reply.http_status, 401);
  EXPECT_NE(Description(reply).find("signature"), std::string::npos) << Description(reply);
}

TEST_F(AuthorizerTest, RejectsAKeyOfTheWrongType) {
  Key rsa = std::move(GenerateKey(Algorithm::kRS384).value());
  rsa.kid = key_.kid;
  auto reply = Request(*SignJwt(rsa, Claims().dump()));
  EXPECT_EQ(reply.http_status, 401);
  EXPECT_NE(Description(reply).find("does not fit"), std::string::npos) << Description(reply);
}

TEST_F(AuthorizerTest, RejectsUnsignedAssertions) {
  std::string none = Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + Base64UrlEncode(Claims().dump()) + ".";
  auto reply = Request(none);
  EXPECT_EQ(reply.http_status, 401);
  EXPECT_NE(Description(reply).find("not allowed"), std::string::npos) << Description(reply);
}

TEST_F(AuthorizerTest, ClientSecretBasicAndPost) {
  // Basic: base64("reporter:s3cret+value") with the secret form-encoded first (RFC 6749 §2.3.1).
  std::string b64 = Base64UrlEncode("reporter:s3cret+value");
  while (b64.size() % 4) b64.push_back('=');
  auto basic = authorizer_->IssueToken("grant_type=client_credentials&scope=system/Patient.read", "Basic " + b64, kTokenUrl);
  EXPECT_EQ(basic.http_status, 200) << basic.body;
  auto post = authorizer_->IssueToken(
      "grant_type=client_credentials&scope=system/Patient.read&client_id=reporter&client_secret=s3cret%20value", "",
      kTokenUrl);
  EXPECT_EQ(post.http_status, 200) << post.body;
  auto wrong = authorizer_->IssueToken(
      "grant_type=client_credentials&scope=system/Patient.read&client_id=reporter&client_secret=guess", "", kTokenUrl);
  EXPECT_EQ(wrong.http_status, 401);
  EXPECT_EQ(wrong.body.find("s3cret"), std::string::npos);
}

TEST_F(AuthorizerTest, ScopesAreNarrowedToWhatTheClientMayHave) {
  auto too_much = authorizer_->IssueToken(
      "grant_type=client_credentials&scope=system/*.read&client_id=reporter&client_secret=s3cret%20value", "", kTokenUrl);
  EXPECT_EQ(too_much.http_status, 400);
  EXPECT_EQ(json::parse(too_much.body)["error"], "invalid_scope");
  auto narrowed = WithClaims(Claims());
  ASSERT_EQ(narrowed.http_status, 200);
  EXPECT_EQ(GrantableScopes({"system/Patient.read", "system/Patient.write", "user/*.read"}, {"system/*.read"}),
            (std::vector<std::string>{"system/Patient.read"}));
  EXPECT_EQ(GrantableScopes({"system/Observation.rs"}, {"system/*.read"}), (std::vector<std::string>{"system/Observation.rs"}));
  Grant g{"x", {"system/Patient.read"}};
  EXPECT_TRUE(AllowsRead(g, "Patient"));
  EXPECT_FALSE(AllowsRead(g, "Observation"));
  EXPECT_FALSE(AllowsRead(g, "*"));
}

TEST_F(AuthorizerTest, UserWriteScopesAllowWritingAsInPathlingButNotReading) {
  Grant user{"importer", {"user/*.write"}};
  EXPECT_TRUE(AllowsWrite(user, "*"));
  EXPECT_TRUE(AllowsWrite(user, "Patient"));
  EXPECT_FALSE(AllowsRead(user, "Patient")) << "reads stay system-level";
  Grant user_read{"x", {"user/*.read"}};
  EXPECT_FALSE(AllowsRead(user_read, "Patient"));
  EXPECT_EQ(GrantableScopes({"user/*.write"}, {"user/*.write"}), (std::vector<std::string>{"user/*.write"}));
  EXPECT_TRUE(GrantableScopes({"user/*.write"}, {"system/*.write"}).empty());
}

// "write" is not a SMART v2 permission string: its 'r' grants no reads.
TEST_F(AuthorizerTest, WriteOnlyScopesGrantNoReads) {
  Grant writer{"importer", {"system/*.write"}};
  EXPECT_FALSE(AllowsRead(writer, "Patient"));
  EXPECT_TRUE(AllowsWrite(writer, "Patient"));
  EXPECT_TRUE(GrantableScopes({"system/*.read"}, {"system/*.write"}).empty());
  EXPECT_TRUE(GrantableScopes({"system/Patient.rs"}, {"system/*.write"}).empty());
  Grant v2{"x", {"system/*.cud"}};
  EXPECT_FALSE(AllowsRead(v2, "Patient"));
  EXPECT_TRUE(AllowsWrite(v2, "Patient"));
  Grant reader{"x", {"system/*.rs"}};
  EXPECT_TRUE(AllowsRead(reader, "Patient"));
  EXPECT_FALSE(AllowsWrite(reader, "Patient"));
  Grant odd{"x", {"system/*.rear"}};  // neither v1 nor v2
  EXPECT_FALSE(AllowsRead(odd, "Patient"));
  EXPECT_FALSE(AllowsWrite(odd, "Patient"));
}

TEST_F(AuthorizerTest, BearerChecks) {
  EXPECT_EQ(authorizer_->Authenticate("").status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(authorizer_->Authenticate("Basic abc").ok());
  EXPECT_FALSE(authorizer_->Authenticate("Bearer flat_made_up").ok());
}

TEST(AuthorizerLifetime, ExpiredTokensAreRefused) {
  Key key = std::move(GenerateKey(Algorithm::kRS384).value());
  AuthConfig config;
  config.token_lifetime = std::chrono::seconds(0);
  RegisteredClient c;
  c.client_id = "etl";
  c.client_secret = "x";
  c.scopes = {"system/*.read"};
  config.clients.push_back(std::move(c));
  Authorizer a(std::move(config));
  auto reply = a.IssueToken("grant_type=client_credentials&scope=system/*.read&client_id=etl&client_secret=x", "", kTokenUrl);
  ASSERT_EQ(reply.http_status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto grant = a.Authenticate("Bearer " + json::parse(reply.body)["access_token"].get<std::string>());
  ASSERT_FALSE(grant.ok());
  EXPECT_NE(grant.status().message().find("expired"), std::string::npos);
}

}  // namespace
}  // namespace fhirlake::auth
