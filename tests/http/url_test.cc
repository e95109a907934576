#include "fhirlake/http/url.h"

#include <gtest/gtest.h>

#include "fhirlake/http/client.h"

namespace fhirlake::http {
namespace {

TEST(Url, ParsesSchemeHostDefaultPortPathAndQuery) {
  auto u = Url::Parse("HTTPS://Example.ORG/fhir/$export?_type=Patient");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "example.org");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/fhir/$export");
  EXPECT_EQ(u->query, "_type=Patient");
  EXPECT_EQ(u->Origin(), "https://example.org:443");
}

TEST(Url, RejectsRelativeAndNonHttpUrls) {
  EXPECT_FALSE(Url::Parse("/fhir/$export").ok());
  EXPECT_FALSE(Url::Parse("ftp://example.org/file").ok());
  EXPECT_FALSE(Url::Parse("").ok());
}

TEST(Url, SameOriginComparesSchemeHostAndPort) {
  EXPECT_TRUE(SameOrigin("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/files/a.ndjson"));
  EXPECT_TRUE(SameOrigin("https://a.org/x", "https://A.org:443/y"));
  EXPECT_FALSE(SameOrigin("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8081/fhir"));
  EXPECT_FALSE(SameOrigin("http://a.org/x", "https://a.org/x"));
  EXPECT_FALSE(SameOrigin("http://a.org/x", "http://a.org.evil.com/x"));
  EXPECT_FALSE(SameOrigin("not a url", "not a url"));
}

TEST(Url, ResolvesRelativeContentLocation) {
  auto r = ResolveUrl("http://h:1/fhir/$export?_type=A", "/fhir/bulkstatus/42");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "http://h:1/fhir/bulkstatus/42");
  auto abs = ResolveUrl("http://h:1/fhir/$export", "https://other/status");
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(*abs, "https://other/status");
}

TEST(Url, QueryComponentsRoundTrip) {
  std::string text = "Observation?code=a,b&status=final value";
  std::string encoded = EncodeQueryComponent(text);
  EXPECT_EQ(encoded.find_first_of("?&=, "), std::string::npos);
  EXPECT_EQ(DecodeQueryComponent(encoded), text);
  EXPECT_EQ(DecodeQueryComponent("a+b%2"), "a b%2");
}

TEST(Url, RedactRemovesUserinfoAndCredentialQueryValues) {
  std::string r = RedactUrl("https://user:pw@s3.example.org/b/f.ndjson?X-Amz-Signature=abc&part=1&access_token=t0k");
  EXPECT_EQ(r.find("pw"), std::string::npos);
  EXPECT_EQ(r.find("abc"), std::string::npos);
  EXPECT_EQ(r.find("t0k"), std::string::npos);
  EXPECT_NE(r.find("part=1"), std::string::npos);
  EXPECT_NE(r.find("s3.example.org/b/f.ndjson"), std::string::npos);
}

TEST(Url, ParseQuerySplitsAndDecodesPairs) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(ParseQuery("a=1&b=x%2Cy&&flag&c=d+e"), (Pairs{{"a", "1"}, {"b", "x,y"}, {"flag", ""}, {"c", "d e"}}));
  EXPECT_TRUE(ParseQuery("").empty());
}

TEST(Url, SecretParameterNames) {
  for (const char* name : {"access_token", "client_assertion", "client_secret", "X-Amz-Signature", "api_key", "Code"}) {
    EXPECT_TRUE(IsSecretParameterName(name)) << name;
  }
  for (const char* name : {"_type", "_since", "scope", "grant_type", "page"}) EXPECT_FALSE(IsSecretParameterName(name)) << name;
}

TEST(Url, TokenOnlyForTheTokenOrigin) {
  EXPECT_TRUE(MayReceiveToken("http://127.0.0.1:9/fhir/x", "http://127.0.0.1:9"));
  EXPECT_FALSE(MayReceiveToken("http://127.0.0.1:10/fhir/x", "http://127.0.0.1:9"));
  EXPECT_FALSE(MayReceiveToken("http://127.0.0.1:9/fhir/x", ""));
}

}  // namespace
}  // namespace fhirlake::http
