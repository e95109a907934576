// `$import` of s3:// inputs: `fhirlake serve --warehouse --allow-s3 s3://bucket/prefix` reads
// files staged in S3 (uploaded here with the AWS SDK, as pathling-import stages them) and
// refuses s3:// URLs outside the allowed prefixes.
#include <gtest/gtest.h>

#include "tests/e2e/sync_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/scoped_env.h"

namespace fhirlake::testing {
namespace {

class ImportS3Test : public SyncTest {
 protected:
  static http::Response Post(const std::string& url, const json& body) {
    return Http("POST", url, body.dump(), {{"Content-Type", "application/fhir+json"}, {"Prefer", "respond-async"}});
  }
  static json Manifest(const std::string& type, const std::string& url) {
    return {{"inputFormat", "application/fhir+ndjson"}, {"mode", "overwrite"},
            {"input", {{{"type", type}, {"url", url}}}}};
  }
};

TEST_F(ImportS3Test, ImportReadsS3InputsUnderAnAllowedPrefix) {
  S3Server s3;
  ASSERT_TRUE(s3.ok());
  ScopedEnv env(s3.env());
  const std::string bucket = S3Server::kBucket;
  for (const char* type : {"Patient", "Observation"}) {
    ASSERT_EQ(s3.Sdk({"put", bucket, std::string("staging/run1/") + type + ".000.ndjson",
                      (src() / (std::string(type) + ".000.ndjson")).string()}), 0);
  }
  ServerProcess importer(fs::path(), {"--warehouse", wh().string(), "--allow-s3", "s3://" + bucket + "/staging",
                                      "--retry-after", "1"});
  ASSERT_TRUE(importer.ok()) << importer.stderr_text();

  json params = {{"resourceType", "Parameters"}, {"parameter", {{{"name", "saveMode"}, {"valueCode", "overwrite"}}}}};
  for (const char* type : {"Patient", "Observation"}) {
    params["parameter"].push_back(
        {{"name", "input"},
         {"part", {{{"name", "resourceType"}, {"valueCode", type}},
                   {{"name", "url"}, {"valueUrl", "s3://" + bucket + "/staging/run1/" + type + ".000.ndjson"}}}}});
  }
  auto kick = Post(importer.base_url() + "/$import", params);
  ASSERT_EQ(kick.status, 202) << kick.body;
  http::Response poll;
  ASSERT_TRUE(WaitFor([&] {
    poll = Http("GET", kick.headers.Get("Content-Location").value_or(""));
    return poll.status != 202;
  }, std::chrono::seconds(60)));
  ASSERT_EQ(poll.status, 200) << poll.body;
  EXPECT_TRUE(Table("Patient") == Source("Patient"));
  EXPECT_TRUE(Table("Observation") == Source("Observation"));

  for (const std::string& url : {"s3://" + bucket + "/staging-other/Patient.000.ndjson",
                                 "s3://" + bucket + "/Patient.000.ndjson", std::string("s3://other-bucket/staging/x")}) {
    auto refused = Post(importer.base_url() + "/$import", Manifest("Patient", url));
    EXPECT_EQ(refused.status, 403) << url << ": " << refused.body;
    EXPECT_NE(refused.body.find("not under an allowed S3 prefix"), std::string::npos) << refused.body;
  }
}

TEST_F(ImportS3Test, AMissingS3ObjectFailsTheJobNamingIt) {
  S3Server s3;
  ASSERT_TRUE(s3.ok());
  ScopedEnv env(s3.env());
  ServerProcess importer(fs::path(), {"--warehouse", wh().string(), "--allow-s3",
                                      std::string("s3://") + S3Server::kBucket, "--retry-after", "1"});
  ASSERT_TRUE(importer.ok());
  auto kick = Post(importer.base_url() + "/$import",
                   Manifest("Patient", std::string("s3://") + S3Server::kBucket + "/nope/Patient.ndjson"));
  ASSERT_EQ(kick.status, 202) << kick.body;
  http::Response poll;
  ASSERT_TRUE(WaitFor([&] {
    poll = Http("GET", kick.headers.Get("Content-Location").value_or(""));
    return poll.status != 202;
  }, std::chrono::seconds(60)));
  EXPECT_GE(poll.status, 400);
  EXPECT_NE(poll.body.find("s3://fhirlake-test/nope/Patient.ndjson"), std::string::npos) << poll.body;
  EXPECT_EQ(poll.body.find("<Error>"), std::string::npos) << poll.body;
}

}  // namespace
}  // namespace fhirlake::testing
