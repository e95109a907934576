#include <gtest/gtest.h>

#include <string>

#include "fhirlake/auth/smart_client.h"

namespace fhirlake::auth {
namespace {

constexpr const char* kOauthUris = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

std::string CapabilityWithSecurity(const std::string& security) {
  return R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server","security":)" + security + "}]}";
}

TEST(SmartConfiguration, ReadsTheTokenEndpointAndStringAlgorithms) {
  auto c = ParseSmartConfiguration(
      R"({"token_endpoint":"https://a.example/token","token_endpoint_auth_signing_alg_values_supported":["RS384",5,"ES384"]})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->token_endpoint, "https://a.example/token");
  EXPECT_EQ(c->signing_algs, (std::vector<std::string>{"RS384", "ES384"}));
}

TEST(SmartConfiguration, RefusesDocumentsWithoutAStringTokenEndpoint) {
  for (const char* doc : {"", "[]", "\"x\"", "{}", R"({"token_endpoint":7})", "{\"token_endpoint\":"}) {
    auto c = ParseSmartConfiguration(doc);
    ASSERT_FALSE(c.ok()) << doc;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << doc;
  }
}

TEST(SmartConfiguration, FindsTheTokenUriInTheCapabilityStatement) {
  auto endpoint = TokenEndpointFromCapabilityStatement(CapabilityWithSecurity(
      std::string(R"({"extension":[{"url":"other"},{"url":")") + kOauthUris +
      R"(","extension":[{"url":"authorize","valueUri":"https://a.example/authorize"},{"url":"token","valueUri":"https://a.example/token"}]}]})"));
  ASSERT_TRUE(endpoint.ok()) << endpoint.status().message();
  EXPECT_EQ(*endpoint, "https://a.example/token");
}

// Members of the wrong JSON type used to reach json::value(), which throws on a non-object.
TEST(SmartConfiguration, CapabilityStatementPartsOfTheWrongTypeAreSkipped) {
  const std::string uris = kOauthUris;
  for (const std::string& doc :
       {std::string(R"({"rest":{"security":{}}})"), std::string(R"({"rest":[1,"x",null]})"),
        CapabilityWithSecurity("\"none\""), CapabilityWithSecurity("[1]"),
        CapabilityWithSecurity(R"({"extension":"x"})"), CapabilityWithSecurity(R"({"extension":[1,"x",[]]})"),
        CapabilityWithSecurity(R"({"extension":[{"url":5}]})"),
        CapabilityWithSecurity(R"({"extension":[{"url":")" + uris + R"(","extension":{"url":"token"}}]})"),
        CapabilityWithSecurity(R"({"extension":[{"url":")" + uris + R"(","extension":[7,{"url":"token","valueUri":3}]}]})"),
        std::string("[]"), std::string("not json")}) {
    auto endpoint = TokenEndpointFromCapabilityStatement(doc);
    ASSERT_FALSE(endpoint.ok()) << doc;
    EXPECT_EQ(endpoint.status().code(), StatusCode::kNotFound) << doc;
  }
}

}  // namespace
}  // namespace fhirlake::auth
