#include "src/store/s3_signer.h"

#include <gtest/gtest.h>

#include "fhirlake/store/s3_store.h"
#include "src/store/s3_xml.h"

namespace fhirlake::store {
namespace {

// 2013-05-24T00:00:00Z, the time of the examples in the S3 API Reference ("Signature
// Calculations for the Authorization Header: Transferring Payload in a Single Chunk").
std::chrono::system_clock::time_point ExampleTime() {
  return std::chrono::system_clock::from_time_t(1369353600);
}

const SigV4Credentials kExampleCredentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "",
                                           "us-east-1"};

std::string Authorization(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) if (name == "Authorization") return value;
  return "";
}

TEST(SigV4, MatchesTheGetObjectExampleOfTheS3Reference) {
  SigV4Request request;
  request.method = "GET";
  request.host = "examplebucket.s3.amazonaws.com";
  request.canonical_uri = "/test.txt";
  request.headers = {{"Range", "bytes=0-9"}};
  request.payload_sha256 = Sha256Hex("");
  EXPECT_EQ(Authorization(SignV4(request, kExampleCredentials, ExampleTime())),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, MatchesTheListObjectsExampleOfTheS3Reference) {
  SigV4Request request;
  request.method = "GET";
  request.host = "examplebucket.s3.amazonaws.com";
  request.canonical_uri = "/";
  request.query = {{"prefix", "J"}, {"max-keys", "2"}};
  request.payload_sha256 = Sha256Hex("");
  EXPECT_EQ(Authorization(SignV4(request, kExampleCredentials, ExampleTime())),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, EncodesQueryValuesAndSortsThem) {
  EXPECT_EQ(CanonicalQuery({{"prefix", "a b/c"}, {"continuation-token", "1+x=="}, {"uploads", ""}}),
            "continuation-token=1%2Bx%3D%3D&prefix=a%20b%2Fc&uploads=");
  EXPECT_EQ(UriEncode("Patient/a b~.ndjson", true), "Patient/a%20b~.ndjson");
}

TEST(S3Xml, ReadsElementsAndDecodesEntities) {
  std::string doc = R"(<?xml version="1.0"?><ListBucketResult xmlns="x"><IsTruncated>true</IsTruncated>)"
                    R"(<Contents><Key>a&amp;b&#x2F;c</Key><Size>3</Size></Contents><Contents><Key>d</Key>)"
                    R"(<Size>4</Size></Contents><NextContinuationToken>t&lt;1</NextContinuationToken></ListBucketResult>)";
  auto contents = XmlElements(doc, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(XmlText(contents[0], "Key"), "a&b/c");
  EXPECT_EQ(XmlText(contents[1], "Size"), "4");
  EXPECT_EQ(XmlText(doc, "NextContinuationToken"), "t<1");
  EXPECT_EQ(XmlText(doc, "Missing"), std::nullopt);
}

TEST(S3Xml, ListingKeepsKeysUnderTheRootRelativeToIt) {
  std::string doc = R"(<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>n&amp;1</NextContinuationToken>)"
                    R"(<Contents><Key>root/a.json</Key><Size>12</Size></Contents>)"
                    R"(<Contents><Key>other/b.json</Key><Size>3</Size></Contents>)"
                    R"(<Contents><Key>root/c&amp;d</Key></Contents></ListBucketResult>)";
  auto page = ParseListObjectsV2(doc, "root/");
  ASSERT_TRUE(page.ok()) << page.status().message();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a.json");
  EXPECT_EQ(page->objects[0].size, 12u);
  EXPECT_EQ(page->objects[1].key, "c&d");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->next_token, "n&1");
}

// A Size that is not a number used to reach std::stoull, which threw out of S3Store::List.
TEST(S3Xml, ListingWithANonNumericSizeIsAServerError) {
  for (const char* size : {"", "x", "12x", "-1", "99999999999999999999999"}) {
    std::string doc = std::string("<ListBucketResult><Contents><Key>k</Key><Size>") + size +
                      "</Size></Contents></ListBucketResult>";
    auto page = ParseListObjectsV2(doc, "");
    ASSERT_FALSE(page.ok()) << size;
    EXPECT_EQ(page.status().code(), StatusCode::kServer);
    EXPECT_NE(page.status().message().find("Size of k"), std::string::npos) << page.status().message();
  }
}

TEST(S3Xml, TruncatedListingWithoutATokenIsAServerError) {
  auto page = ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "");
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), StatusCode::kServer);
  auto last = ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", "");
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last->objects.empty());
  EXPECT_EQ(last->next_token, "");
}

TEST(S3Xml, ErrorBodyGivesCodeAndDecodedMessage) {
  auto error = ParseErrorBody("<Error><Code>AccessDenied</Code><Message>no &quot;x&quot;</Message></Error>");
  EXPECT_EQ(error.code, "AccessDenied");
  EXPECT_EQ(error.message, "no \"x\"");
  auto none = ParseErrorBody("<CompleteMultipartUploadResult><ETag>e</ETag></CompleteMultipartUploadResult>");
  EXPECT_EQ(none.code, "");
  EXPECT_EQ(none.message, "");
}

TEST(S3Location, ParsesBucketAndKey) {
  auto location = S3Location::Parse("s3://my-bucket/staging/run1/");
  ASSERT_TRUE(location.ok());
  EXPECT_EQ(location->bucket, "my-bucket");
  EXPECT_EQ(location->key, "staging/run1/");
  EXPECT_FALSE(S3Location::Parse("s3://").ok());
  EXPECT_FALSE(S3Location::Parse("https://x/y").ok());
}

TEST(S3Location, PrefixAllowsOnlyUnderAFolderBoundaryOfTheSameBucket) {
  auto allowed = *S3Location::Parse("s3://bucket/staging");
  EXPECT_TRUE(S3PrefixAllows(allowed, *S3Location::Parse("s3://bucket/staging/Patient.ndjson")));
  EXPECT_TRUE(S3PrefixAllows(*S3Location::Parse("s3://bucket/staging/"), *S3Location::Parse("s3://bucket/staging/x")));
  EXPECT_FALSE(S3PrefixAllows(allowed, *S3Location::Parse("s3://bucket/staging-other/x")));
  EXPECT_FALSE(S3PrefixAllows(allowed, *S3Location::Parse("s3://other/staging/x")));
  EXPECT_TRUE(S3PrefixAllows(*S3Location::Parse("s3://bucket"), *S3Location::Parse("s3://bucket/any/x")));
}

// The host is signed as curl sends it: without the scheme's default port. (An endpoint written
// http://host:80 was signed with the port and refused as a wrong secret.)
TEST(S3Signer, SignsTheHostWithoutItsSchemesDefaultPort) {
  EXPECT_EQ(HostHeaderFor("http", "127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(HostHeaderFor("https", "s3.example.com:443"), "s3.example.com");
  EXPECT_EQ(HostHeaderFor("http", "minio:9000"), "minio:9000");
  EXPECT_EQ(HostHeaderFor("https", "minio:80"), "minio:80");
  EXPECT_EQ(HostHeaderFor("http", "minio:8080"), "minio:8080");
  EXPECT_EQ(HostHeaderFor("http", "[::1]:80"), "[::1]");
  EXPECT_EQ(HostHeaderFor("http", "s3.example.com"), "s3.example.com");
}

}  // namespace
}  // namespace fhirlake::store
