// Tokens go only to the origin that issued the manifest, and never into files or output.
#include <fstream>
#include <memory>

#include "fhirlake/bulk/export_client.h"
#include "fhirlake/http/token_source.h"
#include "tests/e2e/export_fixture.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kToken = "tok-3f9a1c77-secret-value";

void ExpectNoSecretIn(const fs::path& dir, const std::string& secret) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(ReadFile(e.path()).find(secret), std::string::npos) << "secret found in " << e.path();
  }
}

TEST_F(ExportTest, TokenGoesToTheSameOriginOnly) {
  TempDir work;
  // B serves files from A's work directory: a file host on another origin.
  ServerProcess files(source(), {"--work-dir", work.path().string()});
  ASSERT_TRUE(files.ok());
  ServerProcess api(source(), {"--work-dir", work.path().string(), "--requires-access-token",
                               "--file-base-url", files.base_url()});
  ASSERT_TRUE(api.ok());
  auto r = Export(api, {}, {std::string("FHIRLAKE_ACCESS_TOKEN=") + kToken});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  auto api_requests = api.Requests();
  ASSERT_FALSE(api_requests.empty());
  for (const auto& req : api_requests) EXPECT_TRUE(req["authorization"].get<bool>()) << req;
  auto file_requests = files.Requests();
  ASSERT_EQ(file_requests.size(), 9u);
  for (const auto& req : file_requests) EXPECT_FALSE(req["authorization"].get<bool>()) << req;
  EXPECT_NE(r.err.find("requested without the access token"), std::string::npos) << r.err;
  ExpectNoSecretIn(out(), kToken);
  EXPECT_EQ(r.err.find(kToken), std::string::npos);
  EXPECT_EQ(r.out.find(kToken), std::string::npos);
}

// Cancelling an export sends the token to the kick-off's origin only: a status URL on another
// host is the source's word, and gets the DELETE without the token. (An import cancelled by its
// client sent the pull token to whatever origin the source's Content-Location named.)
TEST_F(ExportTest, CancelSendsTheTokenToTheKickoffsOriginOnly) {
  ServerProcess other(source());
  ASSERT_TRUE(other.ok());
  ServerProcess api(source(), {"--requires-access-token"});
  ASSERT_TRUE(api.ok());
  http::ClientOptions client;
  client.tokens = std::make_shared<http::StaticTokenSource>(kToken);
  client.retry.max_attempts = 1;
  const std::string kickoff = api.base_url() + "/$export";
  (void)bulk::ExportClient::Cancel({kickoff, other.base_url() + "/bulkstatus/elsewhere"}, client);
  (void)bulk::ExportClient::Cancel({kickoff, api.base_url() + "/bulkstatus/here"}, client);
  auto foreign = other.Requests();
  ASSERT_EQ(foreign.size(), 1u);
  EXPECT_EQ(foreign[0]["method"], "DELETE");
  EXPECT_FALSE(foreign[0]["authorization"].get<bool>()) << "no token for another origin";
  auto own = api.Requests();
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0]["method"], "DELETE");
  EXPECT_TRUE(own[0]["authorization"].get<bool>()) << "the kick-off's origin gets the token";
}

// A status URL with credentials in it (here userinfo) is kept whole where a resume needs it
// (export-state.json) but redacted in log.ndjson, which gets shared.
TEST_F(ExportTest, TheLogRedactsTheStatusUrl) {
  int port = 0;
  {
    ServerProcess probe(source());  // a free port for a server that must know its own URL
    ASSERT_TRUE(probe.ok());
    port = probe.port();
  }
  const std::string secret = "pw-9c1e77d0";
  const std::string base = "127.0.0.1:" + std::to_string(port) + "/fhir";
  ServerProcess api(source(), {"--public-url", "http://etl:" + secret + "@" + base, "--file-base-url", "http://" + base},
                    port);
  ASSERT_TRUE(api.ok()) << api.stderr_text();
  auto r = Export(api, {"--type", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string log = ReadFile(out() / "log.ndjson");
  EXPECT_NE(log.find("/bulkstatus/"), std::string::npos) << log;
  EXPECT_EQ(log.find(secret), std::string::npos) << log;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
}

TEST_F(ExportTest, SameOriginFilesGetTheTokenWhenRequired) {
  ServerProcess api(source(), {"--requires-access-token"});
  ASSERT_TRUE(api.ok());
  auto r = Export(api, {}, {std::string("FHIRLAKE_ACCESS_TOKEN=") + kToken});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto file_requests = RequestsTo(api, "/bulkfiles/");
  ASSERT_EQ(file_requests.size(), 9u);
  for (const auto& req : file_requests) EXPECT_TRUE(req["authorization"].get<bool>()) << req;
}

TEST_F(ExportTest, NoTokenOnFilesWhenTheManifestDoesNotRequireOne) {
  ServerProcess api(source());
  ASSERT_TRUE(api.ok());
  auto r = Export(api, {}, {std::string("FHIRLAKE_ACCESS_TOKEN=") + kToken});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& req : RequestsTo(api, "/bulkfiles/")) EXPECT_FALSE(req["authorization"].get<bool>()) << req;
  for (const auto& req : RequestsTo(api, "/$export")) EXPECT_TRUE(req["authorization"].get<bool>()) << req;
}

TEST_F(ExportTest, TokenFromAFileWorksAndMissingFileIsAUsageError) {
  ServerProcess api(source());
  ASSERT_TRUE(api.ok());
  auto token_file = dir_ / "token";
  std::ofstream(token_file) << kToken << "\n";
  auto r = Export(api, {"--access-token-file", token_file.string(), "--type", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(RequestsTo(api, "/$export").at(0)["authorization"].get<bool>());
  auto missing = Export(api, {"--access-token-file", (dir_ / "nope").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace fhirlake::testing
