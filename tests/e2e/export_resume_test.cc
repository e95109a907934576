// Interrupted exports resume; completed files are not fetched again; cancel works.
#include <signal.h>

#include "tests/e2e/export_fixture.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> ExportArgv(const ServerProcess& server, const fs::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{FhirlakeBinary(), "export", server.base_url(), out.string(), "--poll-interval", "100ms"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST_F(ExportTest, KilledMidDownloadResumesToIdenticalFiles) {
  Generate(150);
  // ~300 KB/s per transfer: the Observation file takes seconds, so the kill lands mid-file.
  ServerProcess server(source(), {"--faults", "file:slow=300000"});
  ASSERT_TRUE(server.ok());
  {
    Child first(ExportArgv(server, out(), {"--parallel", "2"}), {}, dir_ / "first.out", dir_ / "first.err");
    // Observation.000 is the largest file (seconds at this rate): kill while it is half done.
    ASSERT_TRUE(WaitFor([&] {
      std::error_code ec;
      auto size = fs::file_size(out() / "Observation.000.ndjson.part", ec);
      return !ec && size > 200'000;
    })) << ReadFile(dir_ / "first.err");
    first.Signal(SIGKILL);
    EXPECT_EQ(first.Wait(), 128 + SIGKILL);
  }
  std::set<std::string> complete_before;
  for (const auto& e : fs::directory_iterator(out())) {
    if (e.path().extension() == ".ndjson" && e.path().filename() != "log.ndjson") {
      complete_before.insert(e.path().filename().string());
    }
  }
  const size_t events_before = LogEvents().size();
  auto r = Export(server, {"--parallel", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(RequestsTo(server, "/$export").size(), 1u) << "the second run must resume, not kick off again";
  // What the second run asked for, from its own log (the server logs a killed transfer late).
  auto events = LogEvents();
  size_t requested = 0, resumed = 0;
  for (size_t i = events_before; i < events.size(); ++i) {
    if (events[i]["eventId"] != "download_request") continue;
    ++requested;
    std::string url = events[i]["eventDetail"]["fileUrl"];
    std::string name = url.substr(url.rfind('/') + 1);
    EXPECT_FALSE(complete_before.count(name)) << name << " was complete and was fetched again";
    resumed += events[i]["eventDetail"]["resumeFrom"].get<uint64_t>() > 0;
  }
  EXPECT_EQ(requested, 9 - complete_before.size());
  EXPECT_GE(resumed, 1u) << "the partial file must be resumed with Range";
  // 206 with the rest, or 416 when the kill came after the last byte but before the rename.
  size_t ranged = 0;
  for (const auto& req : RequestsTo(server, "/bulkfiles/")) {
    if (req["range"].get<std::string>().empty()) continue;
    ++ranged;
    EXPECT_TRUE(req["status"] == 206 || req["status"] == 416) << req;
  }
  EXPECT_EQ(ranged, resumed);
  for (const auto& e : fs::directory_iterator(out())) EXPECT_NE(e.path().extension(), ".part");
}

TEST_F(ExportTest, RerunOfACompleteExportFetchesNothing) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Export(server).exit_code, 0);
  size_t before = server.Requests().size();
  auto r = Export(server);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("9 already present"), std::string::npos) << r.err;
  EXPECT_EQ(server.Requests().size(), before);
  ExpectOutputEqualsSource();
}

TEST_F(ExportTest, ADifferentRequestIntoTheSameDirectoryIsRefused) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Export(server, {"--type", "Patient"}).exit_code, 0);
  auto r = Export(server, {"--type", "Observation"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("holds an export of another request"), std::string::npos) << r.err;
}

TEST_F(ExportTest, ResumeByStatusUrlFinishesAnotherRunsExport) {
  ServerProcess server(source(), {"--retry-after", "0", "--faults", "status:pending=5"});
  ASSERT_TRUE(server.ok());
  auto first = Export(server, {"--timeout", "0s"});
  ASSERT_EQ(first.exit_code, 1) << first.err;
  EXPECT_NE(first.err.find("did not finish within the timeout"), std::string::npos) << first.err;
  json state = json::parse(ReadFile(out() / "export-state.json"));
  std::string status_url = state["statusUrl"];
  ASSERT_FALSE(status_url.empty());
  auto other = dir_ / "other";
  auto second = RunFhirlake({"export", "--resume", status_url, other.string(), "--poll-interval", "100ms"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("resuming export"), std::string::npos) << second.err;
  EXPECT_EQ(RequestsTo(server, "/$export").size(), 1u);
  EXPECT_TRUE(ReadFile(other / "Patient.000.ndjson") == ReadFile(source() / "Patient.000.ndjson"));
  // A directory that holds one export is not the place of another: its files would be taken
  // as the other's.
  RunFhirlake({"export", server.base_url(), (dir_ / "third").string(), "--timeout", "0s"});
  std::string third_url = json::parse(ReadFile(dir_ / "third" / "export-state.json"))["statusUrl"];
  auto mixed = RunFhirlake({"export", "--resume", third_url, other.string()});
  EXPECT_EQ(mixed.exit_code, 2) << mixed.err;
  EXPECT_NE(mixed.err.find(other.string() + " holds export"), std::string::npos) << mixed.err;
  EXPECT_TRUE(ReadFile(other / "Patient.000.ndjson") == ReadFile(source() / "Patient.000.ndjson")) << "left as it was";
}

TEST_F(ExportTest, CancelStopsTheServersJob) {
  ServerProcess server(source(), {"--faults", "status:pending=1000"});
  ASSERT_TRUE(server.ok());
  Child running(ExportArgv(server, out()), {}, dir_ / "run.out", dir_ / "run.err");
  std::string status_url;
  ASSERT_TRUE(WaitFor([&] {
    auto state = json::parse(ReadFile(out() / "export-state.json"), nullptr, false);
    if (state.is_discarded() || !state.contains("statusUrl")) return false;
    status_url = state["statusUrl"];
    return !status_url.empty();
  }));
  auto cancel = RunFhirlake({"export", "--cancel", status_url});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  auto deletes = RequestsTo(server, "/bulkstatus/");
  bool saw_delete = false;
  for (const auto& d : deletes) saw_delete = saw_delete || (d["method"] == "DELETE" && d["status"] == 202);
  EXPECT_TRUE(saw_delete);
  EXPECT_EQ(running.Wait(), 1);
  std::string err = ReadFile(dir_ / "run.err");
  EXPECT_NE(err.find("no longer knows export"), std::string::npos) << err;
  auto again = RunFhirlake({"export", "--cancel", status_url});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("404"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace fhirlake::testing
