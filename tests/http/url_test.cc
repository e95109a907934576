#include "fhirlake/http/url.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>

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

TEST(Url, RedactKeepsS3ListParametersAndMasksSigV4Credentials) {
  const std::string r = RedactUrl(
      "https://s3.example.org/bucket?list-type=2&max-keys=1000&prefix=wh%2FPatient%2F&key-marker=a&"
      "X-Amz-Credential=AKIDEXAMPLE%2F20260101&X-Amz-Signature=f00d&X-Amz-Security-Token=s3ss10n&"
      "AWSAccessKeyId=AKIDOLD&clientSecret=hush&accessToken=t0k");
  for (const char* kept : {"list-type=2", "max-keys=1000", "prefix=wh%2FPatient%2F", "key-marker=a"}) {
    EXPECT_NE(r.find(kept), std::string::npos) << kept << " in " << r;
  }
  for (const char* secret : {"AKIDEXAMPLE", "f00d", "s3ss10n", "AKIDOLD", "hush", "t0k"}) {
    EXPECT_EQ(r.find(secret), std::string::npos) << secret << " in " << r;
  }
  for (const char* name : {"X-Amz-Credential", "X-Amz-Signature", "X-Amz-Security-Token", "sig", "AWSAccessKeyId",
                           "refresh_token", "password"}) {
    EXPECT_TRUE(IsSecretParameterName(name)) << name;
  }
  for (const char* name : {"max-keys", "key-marker", "encoding-type", "continuation", "uploadId", "partNumber"}) {
    EXPECT_FALSE(IsSecretParameterName(name)) << name;
  }
}

TEST(Url, TokenOnlyForTheTokenOrigin) {
  EXPECT_TRUE(MayReceiveToken("http://127.0.0.1:9/fhir/x", "http://127.0.0.1:9"));
  EXPECT_FALSE(MayReceiveToken("http://127.0.0.1:10/fhir/x", "http://127.0.0.1:9"));
  EXPECT_FALSE(MayReceiveToken("http://127.0.0.1:9/fhir/x", ""));
}

// Each row: a URL an attacker might send, the allowed prefix it tries to pass, and whether it
// truly is under that prefix once both are parsed and normalised.
struct UnderCase {
  const char* url;
  const char* prefix;
  bool under;
};

constexpr UnderCase kHostileUrls[] = {
    // host confusion
    {"http://localhost.evil.example/fhir", "http://localhost", false},
    {"http://localhost@127.0.0.1:18081/fhir", "http://localhost", false},
    {"http://localhost@127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},  // userinfo refused
    {"http://localhost:pw@127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://@127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://127.0.0.1:18081@evil.example/fhir", "http://127.0.0.1:18081", false},
    {"http://127.0.0.1:18081%40evil.example/fhir", "http://127.0.0.1:18081", false},
    {"http://evil.example#@127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://evil.example?@127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://evil.example\\@127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://127.0.0.1.evil.example:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://evil-localhost/fhir", "http://localhost", false},
    {"http://xn--localhost-.evil/fhir", "http://localhost", false},
    {"http://l\xc3\xb6" "calhost/fhir", "http://localhost", false},
    {"http://ex%C3%A4mple.org/fhir", "http://example.org", false},
    {"http://local%00host/fhir", "http://localhost", false},
    {"http://localhost%2f.evil.example/fhir", "http://localhost", false},
    {"http://[::1%25eth0]:18081/fhir", "http://[::1]:18081", false},
    {"http:/\\/evil.example/fhir", "http://localhost", false},
    {"http://127.0.0./1:18081/fhir", "http://127.0.0.0", false},  // fuzz: "127.0.0." read as 127.0.0.0
    {"http://127.0.0.:18081/fhir", "http://127.0.0.0:18081", false},
    {"http://0x7f.1.:18081/fhir", "http://127.0.0.1:18081", false},
    {"http:evil.example/fhir", "http://evil.example", false},
    {"//127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {" http://127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"http://127.0.0.1:18081/fhir\r\nHost: evil", "http://127.0.0.1:18081", false},
    // scheme and port
    {"https://127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"ftp://127.0.0.1:18081/fhir", "http://127.0.0.1:18081", false},
    {"file:///etc/passwd", "http://127.0.0.1:18081", false},
    {"http://127.0.0.1:18081/fhir", "http://127.0.0.1:1808", false},
    {"http://127.0.0.1:1808/fhir", "http://127.0.0.1:18081", false},
    {"http://127.0.0.1:80818/fhir", "http://127.0.0.1:8081", false},
    {"http://127.0.0.1/fhir", "http://127.0.0.1:8080", false},
    {"http://127.0.0.1:65617/fhir", "http://127.0.0.1:81", false},  // 65617 mod 65536 = 81
    {"http://127.0.0.1:-1/fhir", "http://127.0.0.1", false},
    // paths
    {"http://127.0.0.1:18081/fhirx/", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhirx", "http://127.0.0.1:18081/fhir/", false},
    {"http://127.0.0.1:18081/fhir/../admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/%2e%2e/admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/%2E%2E/admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/.%2e/admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir%2f..%2fadmin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir%2F..%2Fadmin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/..%2fadmin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/..%5cadmin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/..\\admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/..;/admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/%2e%2e;x/admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/a/../../admin", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/%252e%252e/admin", "http://127.0.0.1:18081/fhir", true},  // "%2e" is data
    {"http://127.0.0.1:18081/fhir/%zz/Patient", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/%/Patient", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/fhir/%00/Patient", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/FHIR", "http://127.0.0.1:18081/fhir", false},  // paths are case-sensitive
    {"http://127.0.0.1:18081/admin?x=/fhir", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/admin#/fhir", "http://127.0.0.1:18081/fhir", false},
    {"http://127.0.0.1:18081/", "http://127.0.0.1:18081/fhir", false},
    // what must still pass: the same place written differently
    {"HTTP://LOCALHOST/fhir/Patient", "http://localhost/fhir", true},
    {"http://localhost:80/fhir", "http://localhost", true},
    {"https://example.org:443/fhir", "https://example.org/fhir", true},
    {"http://localhost./fhir", "http://localhost/fhir", true},
    {"http://local%68ost/fhir", "http://localhost/fhir", true},
    {"http://2130706433:18081/fhir", "http://127.0.0.1:18081/fhir", true},
    {"http://0x7f.1:18081/fhir", "http://127.0.0.1:18081/fhir", true},
    {"http://127.0.0.1:018081/fhir", "http://127.0.0.1:18081/fhir", true},
    {"http://127.0.0.1:18081/fhir", "http://127.0.0.1:18081/fhir/", true},
    {"http://127.0.0.1:18081/fhir/", "http://127.0.0.1:18081/fhir", true},
    {"http://127.0.0.1:18081/fhir/$export?_type=Patient", "http://127.0.0.1:18081/fhir", true},
    {"http://127.0.0.1:18081/fhir/./Patient/$export", "http://127.0.0.1:18081/fhir", true},
    {"http://127.0.0.1:18081/a/../fhir/%50atient", "http://127.0.0.1:18081/fhir/Patient", true},
    {"http://127.0.0.1:18081/anything", "http://127.0.0.1:18081", true},
    {"http://[::1]:18081/fhir", "http://[::1]:18081/fhir", true},
    {"http://[0:0:0:0:0:0:0:1]:18081/fhir", "http://[::1]:18081/fhir", true},
};

TEST(Url, HostileUrlsAreUnderTheirPrefixOnlyWhenTheyTrulyAre) {
  int hostile = 0;
  for (const auto& c : kHostileUrls) {
    EXPECT_EQ(IsUnder(c.url, c.prefix), c.under) << c.url << " under " << c.prefix;
    hostile += c.under ? 0 : 1;
  }
  std::printf("hostile URLs refused: %d (of %zu rows)\n", hostile, std::size(kHostileUrls));
  EXPECT_GE(hostile, 40);
}

TEST(Url, ParseRefusesUserinfoNonAsciiHostsAndBackslashes) {
  for (const char* text : {"http://user@h/", "http://user:pw@h/", "http://@h/", "http://h\\@x/",
                           "http://h\xc3\xa4/", "http://ex%C3%A4mple/", "http://h%00/", "http://[::1%25lo]/",
                           "http://h/..;/x", "http://h/%zz", "http:/h/x", "http://127.0.0./1:18081/fhir/$expor't",
                           "http://1.2.3.4.5/", "http://example.0x1/", "http://p2fd..?%RG/"}) {
    EXPECT_FALSE(Url::Parse(text).ok()) << text;
  }
}

TEST(Url, NormalFormParsesToItself) {
  // Found by fuzz/url_fuzz: "127.0.0." printed without its dot re-parsed as 127.0.0.0.
  for (const char* text : {"http://127.0.0.1./fhir", "http://LOCALHOST.:80/a/./b", "http://[0::1]:8080/x%2fy?q"}) {
    auto u = Url::Parse(text);
    ASSERT_TRUE(u.ok()) << text << ": " << u.status().message();
    auto again = Url::Parse(u->ToString());
    ASSERT_TRUE(again.ok()) << u->ToString();
    EXPECT_EQ(again->ToString(), u->ToString());
  }
}

TEST(Url, ParseNormalisesPathsAndPrintsTheNormalForm) {
  auto u = Url::Parse("HTTP://Example.ORG:80/a/./b/../%7Euser/%2e%2e/c%2fd?q=1");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->path, "/a/c%2Fd");
  EXPECT_EQ(u->ToString(), "http://example.org/a/c%2Fd?q=1");
}

TEST(Url, PathIsUnderWorksOnObjectKeys) {
  EXPECT_TRUE(PathIsUnder("bucket/exports/a.ndjson", "bucket/exports"));
  EXPECT_FALSE(PathIsUnder("bucket/exports-other/a.ndjson", "bucket/exports"));
  EXPECT_FALSE(PathIsUnder("bucket/exports/../secret/a", "bucket/exports"));
  EXPECT_FALSE(PathIsUnder("bucket/exports/%2e%2e/secret/a", "bucket/exports"));
}

TEST(Url, LinkLocalAndMetadataAddresses) {
  auto check = [](const char* text) {
    auto u = Url::Parse(text);
    return u.ok() && IsLinkLocalOrMetadata(u.value(), false);
  };
  EXPECT_TRUE(check("http://169.254.169.254/latest/meta-data/"));
  EXPECT_TRUE(check("http://2852039166/latest"));  // 169.254.169.254 as one number
  EXPECT_TRUE(check("http://[fd00:ec2::254]/latest"));
  EXPECT_TRUE(check("http://[fe80::1]/"));
  EXPECT_TRUE(check("http://[::ffff:169.254.169.254]/"));
  EXPECT_TRUE(check("http://metadata.google.internal/computeMetadata/v1/"));
  EXPECT_FALSE(check("http://127.0.0.1:18081/fhir"));
  EXPECT_FALSE(check("http://[::1]:18081/fhir"));
  EXPECT_FALSE(check("https://ehr.example/fhir"));
}

}  // namespace
}  // namespace fhirlake::http
