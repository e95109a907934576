// Every injected fault has a defined outcome: recovered with byte-identical files, or a clear
// failure.
#include <fstream>

#include "tests/e2e/export_fixture.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<long> Statuses(const std::vector<json>& requests) {
  std::vector<long> s;
  for (const auto& r : requests) s.push_back(r["status"].get<long>());
  return s;
}

TEST_F(ExportTest, RecoversFromRateLimitsAndUnavailability) {
  ServerProcess server(source(), {"--faults", "kickoff:429,status:503,file:429*2,file:503"});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto r = Export(server);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(Statuses(RequestsTo(server, "/$export")), (std::vector<long>{429, 202}));
  auto status = Statuses(RequestsTo(server, "/bulkstatus/"));
  EXPECT_EQ(status.front(), 503);
  EXPECT_EQ(status.back(), 200);
  size_t file_errors = 0;
  for (long s : Statuses(RequestsTo(server, "/bulkfiles/"))) file_errors += s == 429 || s == 503;
  EXPECT_EQ(file_errors, 3u);
}

// A status error that outlasts the client's retries but says `transient` is a failed poll:
// polling goes on (until --timeout), and the log says why.
TEST_F(ExportTest, ATransientStatusErrorKeepsPolling) {
  ServerProcess server(source(), {"--faults", "status:503=0*5"});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto r = Export(server, {"--retries", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(Statuses(RequestsTo(server, "/bulkstatus/")), (std::vector<long>{503, 503, 503, 503, 503, 200}));
  size_t transient_polls = 0;
  for (const auto& e : LogEvents()) {
    if (e["eventId"] != "status_progress" || !e["eventDetail"]["xProgress"].is_string()) continue;
    transient_polls += e["eventDetail"]["xProgress"].get<std::string>().starts_with("HTTP 503, transient: injected fault");
  }
  EXPECT_EQ(transient_polls, 2u) << "two polls of two attempts each met a 503";
}

TEST_F(ExportTest, AFailingMetadataEndpointIsAskedOnceAndDoesNotDelayTheExport) {
  ServerProcess server(source(), {"--faults", "metadata:503*5"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--type", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RequestsTo(server, "/metadata").size(), 1u) << "software info only decorates the log: no retries";
  EXPECT_EQ(LogEvents().front()["eventDetail"]["softwareName"], nullptr);
}

TEST_F(ExportTest, WaitsAsLongAsRetryAfterSays) {
  ServerProcess server(source(), {"--retry-after", "2", "--faults", "status:pending=1"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto polls = RequestsTo(server, "/bulkstatus/");
  ASSERT_GE(polls.size(), 2u);
  EXPECT_EQ(polls[0]["status"], 202);
  long gap = polls[1]["timeMs"].get<long>() - polls[0]["timeMs"].get<long>();
  EXPECT_GE(gap, 1900) << "the client polled again before Retry-After had passed";
  bool progress_logged = false;
  for (const auto& e : LogEvents()) {
    if (e["eventId"] == "status_progress") {
      progress_logged = true;
      EXPECT_EQ(e["eventDetail"]["retryAfter"], "2");
      EXPECT_NE(e["eventDetail"]["xProgress"].get<std::string>().find("%"), std::string::npos);
    }
  }
  EXPECT_TRUE(progress_logged);
}

TEST_F(ExportTest, ResetMidFileResumesWithRange) {
  ServerProcess server(source(), {"--faults", "file:reset=0.5*3"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--parallel", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  size_t ranged = 0;
  for (const auto& req : RequestsTo(server, "/bulkfiles/")) {
    if (!req["range"].get<std::string>().empty()) {
      ++ranged;
      EXPECT_EQ(req["status"], 206);
      EXPECT_EQ(req["acceptEncoding"], "identity") << "a resumed range must be asked for as identity bytes";
    }
  }
  EXPECT_EQ(ranged, 3u);
}

TEST_F(ExportTest, TruncatedBodyIsDetectedAndCompleted) {
  ServerProcess server(source(), {"--faults", "file:truncate=0.4*2"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--parallel", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST_F(ExportTest, GzipTransfersSurviveResets) {
  ServerProcess server(source(), {"--gzip", "--faults", "file:reset=0.3*2"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
}

// A server that keeps the files gzip-encoded (as a store serving objects with Content-Encoding:
// gzip does) answers a resume with compressed bytes whatever Accept-Encoding says: they do not
// continue the decoded bytes on disk, so the file is started over, not spliced.
TEST_F(ExportTest, AResumeAnsweredWithEncodedBytesStartsTheFileOver) {
  ServerProcess server(source(), {"--faults", "file:gzip-stored,file:reset=0.05"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--parallel", "1", "--type", "Observation"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ReadFile(out() / "Observation.000.ndjson") == ReadFile(source() / "Observation.000.ndjson"));
  bool resumed = false, identity = false;
  for (const auto& req : server.Requests()) {
    if (req.value("path", "").find("Observation") == std::string::npos) continue;
    resumed = resumed || !req.value("range", "").empty();
    identity = identity || req.value("acceptEncoding", "") == "identity";
  }
  EXPECT_TRUE(resumed) << "the reset made the client resume";
  EXPECT_TRUE(identity) << "a resume asks for identity";
}

// A 429 at the status URL times the next poll (IG: polled too often); it is not an error,
// however few retries the requests get.
TEST_F(ExportTest, A429AtTheStatusUrlTimesTheNextPoll) {
  ServerProcess server(source(), {"--faults", "status:429=1*2"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--retries", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  int throttled = 0;
  for (const auto& req : server.Requests()) throttled += req["status"] == 429;
  EXPECT_EQ(throttled, 2);
}

TEST_F(ExportTest, CountMismatchFailsLoudly) {
  ServerProcess server(source(), {"--faults", "status:miscount"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--type", "Patient"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("count mismatch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("manifest says 31 resources, the file has 30;"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out() / "Patient.000.ndjson")) << "an unverified file must not take the final name";
  bool logged = false;
  for (const auto& e : LogEvents()) logged = logged || e["eventId"] == "download_error";
  EXPECT_TRUE(logged);
}

// Blank lines are no resources: a manifest that does not count them matches the file, which
// arrives byte for byte.
TEST_F(ExportTest, BlankLinesAreNotCountedAsResources) {
  const std::string original = ReadFile(source() / "Patient.000.ndjson");
  std::string spaced = "\n";
  for (size_t start = 0, nl; (nl = original.find('\n', start)) != std::string::npos; start = nl + 1) {
    spaced += original.substr(start, nl + 1 - start) + (start == 0 ? "\r\n  \n" : "");
  }
  std::ofstream(source() / "Patient.000.ndjson", std::ios::binary | std::ios::trunc) << spaced << "\n";
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--type", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadManifest()["output"][0]["count"], 30);
  EXPECT_TRUE(ReadFile(out() / "Patient.000.ndjson") == spaced + "\n");
}

TEST_F(ExportTest, MalformedManifestGivesAClearError) {
  ServerProcess server(source(), {"--faults", "status:malformed"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("malformed manifest"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("output[0].url is missing"), std::string::npos) << r.err;
}

TEST_F(ExportTest, GivesUpAfterTheTimeoutAndSaysHowToContinue) {
  ServerProcess server(source(), {"--faults", "status:pending=1000"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--timeout", "1s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("did not finish within the timeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("run the same command again"), std::string::npos) << r.err;
}

TEST_F(ExportTest, ServerDownGivesANetworkErrorAfterRetries) {
  RunResult r = RunFhirlake({"export", "http://127.0.0.1:1/fhir", out().string(), "--retries", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kick-off failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fhirlake::testing
