// `fhirlake export BASE s3://bucket/prefix`: the files land in S3 (read back with the AWS SDK),
// large files as multipart uploads, and an interrupted export resumes without sending again
// what had arrived.
#include <signal.h>

#include <set>

#include "tests/e2e/export_fixture.h"
#include "tests/support/s3_server.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;

// Keys of the objects PUT whole or completed from parts, in request order.
std::vector<std::string> UploadedKeys(const S3Server& s3, size_t from = 0) {
  std::vector<std::string> keys;
  auto requests = s3.Requests();
  for (size_t i = from; i < requests.size(); ++i) {
    const auto& [method, url] = requests[i];
    bool whole_put = method == "PUT" && url.find('?') == std::string::npos;
    bool completed = method == "POST" && url.find("uploadId=") != std::string::npos;
    if (whole_put || completed) keys.push_back(url.substr(0, url.find('?')));
  }
  return keys;
}

TEST_F(ExportTest, ExportsIntoAnS3PrefixThatTheAwsSdkReadsBack) {
  Generate(600);  // Observation.000.ndjson is over 8 MiB: a multipart upload
  ServerProcess server(source());
  S3Server s3;
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(s3.ok());
  auto r = RunFhirlake({"export", server.base_url(), std::string("s3://") + S3Server::kBucket + "/exports/run1",
                        "--staging", (dir_ / "staging").string(), "--poll-interval", "100ms"},
                       s3.env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("uploaded 12 files"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "staging")) << "a complete export's staging directory is removed";

  ASSERT_EQ(s3.Sdk({"sync", S3Server::kBucket, "exports/run1/", out().string()}), 0);
  ExpectOutputEqualsSource();
  EXPECT_TRUE(fs::exists(out() / "manifest.json"));
  EXPECT_TRUE(fs::exists(out() / "log.ndjson"));
  size_t parts = 0;
  for (const auto& [method, url] : s3.Requests()) parts += method == "PUT" && url.find("partNumber=") != std::string::npos;
  EXPECT_GE(parts, 2u) << "the large file must go up in parts";
}

TEST_F(ExportTest, BadS3CredentialsFailBeforeDownloading) {
  ServerProcess server(source());
  S3Server s3;
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(s3.ok());
  auto env = s3.env();
  for (auto& e : env) {
    if (e.starts_with("AWS_ACCESS_KEY_ID=")) e = "AWS_ACCESS_KEY_ID=AKIDNOTVALID";
  }
  auto r = RunFhirlake({"export", server.base_url(), std::string("s3://") + S3Server::kBucket + "/x"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("S3 refused the credentials for bucket fhirlake-test (InvalidAccessKeyId)"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("<Error>"), std::string::npos);
  EXPECT_TRUE(RequestsTo(server, "/$export").empty()) << "nothing is exported without a usable target";
}

TEST_F(ExportTest, KilledExportToS3ResumesWithoutResendingUploadedFiles) {
  Generate(150);
  ServerProcess server(source(), {"--faults", "file:slow=300000"});
  S3Server s3;
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(s3.ok());
  const std::vector<std::string> argv{FhirlakeBinary(), "export", server.base_url(),
                                      std::string("s3://") + S3Server::kBucket + "/staged",
                                      "--staging", (dir_ / "staging").string(), "--poll-interval", "100ms",
                                      "--parallel", "2"};
  {
    Child first(argv, s3.env(), dir_ / "first.out", dir_ / "first.err");
    // Kill once some files are in S3 and the large Observation file is still downloading.
    ASSERT_TRUE(WaitFor([&] {
      std::error_code ec;
      auto size = fs::file_size(dir_ / "staging" / "Observation.000.ndjson.part", ec);
      return !ec && size > 200'000 && !UploadedKeys(s3).empty();
    })) << ReadFile(dir_ / "first.err");
    first.Signal(SIGKILL);
    EXPECT_EQ(first.Wait(), 128 + SIGKILL);
  }
  const auto before = UploadedKeys(s3);
  const size_t requests_before = s3.Requests().size();
  ASSERT_FALSE(before.empty());

  auto r = RunFhirlake({argv.begin() + 1, argv.end()}, s3.env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> resent;
  for (const auto& key : UploadedKeys(s3, requests_before)) {
    if (key.ends_with(".ndjson") && !key.ends_with("log.ndjson") &&
        std::find(before.begin(), before.end(), key) != before.end()) {
      resent.insert(key);
    }
  }
  EXPECT_TRUE(resent.empty()) << "sent again: " << *resent.begin();
  EXPECT_EQ(RequestsTo(server, "/$export").size(), 1u) << "the second run must resume the export";
  ASSERT_EQ(s3.Sdk({"sync", S3Server::kBucket, "staged/", out().string()}), 0);
  ExpectOutputEqualsSource();
}

}  // namespace
}  // namespace fhirlake::testing
