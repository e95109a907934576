// Kick-off levels and parameters reaching a real server, and what comes back.
#include <simdjson.h>

#include <fstream>
#include <regex>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/http/client.h"
#include "tests/e2e/export_fixture.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST_F(ExportTest, SystemExportByGetIsByteIdentical) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto r = Export(server);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  json m = ReadManifest();
  EXPECT_EQ(m["request"], server.base_url() + "/$export");
  EXPECT_EQ(m["output"].size(), 9u);
  auto kickoffs = RequestsTo(server, "/$export");
  ASSERT_EQ(kickoffs.size(), 1u);
  EXPECT_EQ(kickoffs[0]["method"], "GET");
}

TEST_F(ExportTest, TypeSinceAndUntilReachTheServer) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  const std::string since = "2023-01-01T00:00:00Z", until = "2024-06-30T00:00:00Z";
  auto r = Export(server, {"--type", "Patient,Observation", "--since", since, "--until", until});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto kick = RequestsTo(server, "/$export").at(0);
  EXPECT_EQ(kick["params"]["_type"][0], "Patient,Observation");
  EXPECT_EQ(kick["params"]["_since"][0], since);
  EXPECT_EQ(kick["params"]["_until"][0], until);
  auto lines = OutputLines();
  EXPECT_EQ(lines.size(), 2u);
  ASSERT_GT(lines["Observation"].size(), 0u);
  auto lo = *fhir::ParseFhirTime(since), hi = *fhir::ParseFhirTime(until);
  simdjson::dom::parser parser;
  for (const auto& type : {"Patient", "Observation"}) {
    for (const auto& line : lines[type]) {
      std::string_view lu = parser.parse(line)["meta"]["lastUpdated"].get_string().value();
      auto t = *fhir::ParseFhirTime(lu);
      EXPECT_GE(t, lo);
      EXPECT_LE(t, hi);
    }
  }
}

TEST_F(ExportTest, PostKickoffSendsAParametersBody) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--post", "--type", "Patient", "--since", "2021-01-01T00:00:00Z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto kick = RequestsTo(server, "/$export").at(0);
  EXPECT_EQ(kick["method"], "POST");
  EXPECT_TRUE(kick["params"].empty());
  json m = ReadManifest();
  EXPECT_NE(m["request"].get<std::string>().find("_type=Patient"), std::string::npos) << m["request"];
  auto lines = OutputLines();
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines.count("Patient"), 1u);
}

TEST_F(ExportTest, PatientLevelExportsOnlyTheCompartment) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--level", "patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RequestsTo(server, "/Patient/$export").size(), 1u);
  auto lines = OutputLines();
  EXPECT_EQ(lines.count("Practitioner"), 0u);
  EXPECT_EQ(lines.count("Organization"), 0u);
  EXPECT_EQ(lines["Patient"].size(), 30u);
  EXPECT_GT(lines["Immunization"].size(), 0u) << "Immunization.patient is in the compartment";
}

TEST_F(ExportTest, GroupExportKeepsMembersOnly) {
  std::ofstream(source() / "Group.000.ndjson")
      << R"({"resourceType":"Group","id":"cohort","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/pat-3"}},{"entity":{"reference":"Patient/pat-7"}}]})"
      << "\n";
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--group", "cohort", "--type", "Patient,Encounter"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RequestsTo(server, "/Group/cohort/$export").size(), 1u);
  auto lines = OutputLines();
  ASSERT_EQ(lines["Patient"].size(), 2u);
  for (const auto& line : lines["Encounter"]) {
    EXPECT_TRUE(line.find("Patient/pat-3\"") != std::string::npos || line.find("Patient/pat-7\"") != std::string::npos)
        << line;
  }
  EXPECT_GT(lines["Encounter"].size(), 0u);
}

TEST_F(ExportTest, UnknownGroupPrintsTheServersOutcome) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--group", "missing"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Group/missing is not in this server's data"), std::string::npos) << r.err;
}

TEST_F(ExportTest, PatientParameterSwitchesToPost) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--level", "patient", "--patient", "pat-5", "--type", "Patient,Condition,Observation"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RequestsTo(server, "/Patient/$export").at(0)["method"], "POST");
  auto lines = OutputLines();
  ASSERT_EQ(lines["Patient"].size(), 1u);
  EXPECT_NE(lines["Patient"][0].find("\"id\":\"pat-5\""), std::string::npos);
  for (const auto& line : lines["Observation"]) EXPECT_NE(line.find("Patient/pat-5\""), std::string::npos);
}

TEST_F(ExportTest, TypeFilterAndElementsAreApplied) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--type", "MedicationRequest", "--type-filter", "MedicationRequest?status=active",
                           "--elements", "status,subject"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto kick = RequestsTo(server, "/$export").at(0);
  EXPECT_EQ(kick["params"]["_typeFilter"][0], "MedicationRequest?status=active");
  EXPECT_EQ(kick["params"]["_elements"][0], "status,subject");
  auto lines = OutputLines();
  ASSERT_GT(lines["MedicationRequest"].size(), 0u);
  for (const auto& line : lines["MedicationRequest"]) {
    EXPECT_NE(line.find("\"status\":\"active\""), std::string::npos);
    EXPECT_EQ(line.find("dosageInstruction"), std::string::npos);
    EXPECT_NE(line.find("SUBSETTED"), std::string::npos);
  }
}

TEST_F(ExportTest, UnsupportedParameterEndsWithTheServersMessage) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--include-associated-data", "LatestProvenanceResources"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("HTTP 400"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("includeAssociatedData 'LatestProvenanceResources' is not supported"), std::string::npos) << r.err;
  EXPECT_EQ(RequestsTo(server, "/$export").at(0)["params"]["includeAssociatedData"][0], "LatestProvenanceResources");
}

TEST_F(ExportTest, LenientRequestGetsAnErrorFile) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--lenient", "--type", "Patient", "--include-associated-data", "LatestProvenanceResources"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string errors = ReadFile(out() / "error" / "OperationOutcome.000.ndjson");
  EXPECT_NE(errors.find("includeAssociatedData"), std::string::npos) << errors;
}

TEST_F(ExportTest, UnknownTypesGet400UnlessLenient) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto strict = Export(server, {"--type", "Patient,Patinet"});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("HTTP 400"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("'Patinet' is not a FHIR R4 resource type"), std::string::npos) << strict.err;

  auto lenient = Export(server, {"--lenient", "--type", "Patient,Patinet"});
  ASSERT_EQ(lenient.exit_code, 0) << lenient.err;
  EXPECT_TRUE(fs::exists(out() / "Patient.000.ndjson"));
  std::string errors = ReadFile(out() / "error" / "OperationOutcome.000.ndjson");
  EXPECT_NE(errors.find("'Patinet'"), std::string::npos) << errors;
}

TEST_F(ExportTest, OutputFormatReachesTheServer) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--output-format", "text/csv"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("_outputFormat 'text/csv' is not supported"), std::string::npos) << r.err;
}

TEST_F(ExportTest, DeletedEntriesArriveWithSince) {
  fs::create_directories(source() / "deleted");
  std::ofstream(source() / "deleted" / "Bundle.000.ndjson")
      << R"({"resourceType":"Bundle","type":"transaction","meta":{"lastUpdated":"2030-01-01T00:00:00Z"},"entry":[{"request":{"method":"DELETE","url":"Patient/pat-1"}}]})"
      << "\n";
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--since", "2029-01-01T00:00:00Z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ReadFile(out() / "deleted" / "Bundle.000.ndjson").find("Patient/pat-1"), std::string::npos);
  EXPECT_EQ(ReadManifest()["deleted"].size(), 1u);
}

TEST_F(ExportTest, PagedManifestIsFollowedToTheEnd) {
  Generate(30, 20);  // several files per type
  ServerProcess server(source(), {"--manifest-page-size", "3"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--allow-partial-manifests"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(source())) ++files;
  EXPECT_EQ(ReadManifest()["output"].size(), files);
  size_t pages = 0;
  for (const auto& req : RequestsTo(server, "/bulkstatus/")) {
    if (req["params"].contains("page")) ++pages;
  }
  EXPECT_EQ(pages, (files + 2) / 3 - 1);
  size_t page_events = 0;
  for (const auto& e : LogEvents()) page_events += e["eventId"] == "status_page_complete";
  EXPECT_EQ(page_events, (files + 2) / 3);
}

TEST_F(ExportTest, GzipIsNegotiated) {
  ServerProcess server(source(), {"--gzip"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  auto files = RequestsTo(server, "/bulkfiles/");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) EXPECT_EQ(f["contentEncoding"], "gzip");
}

TEST_F(ExportTest, LogFollowsTheBulkDataClientLayout) {
  ServerProcess server(source());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(Export(server).exit_code, 0);
  auto events = LogEvents();
  std::vector<std::string> ids;
  for (const auto& e : events) {
    ASSERT_TRUE(e.contains("exportId") && e.contains("timestamp") && e.contains("eventDetail")) << e;
    if (ids.empty() || ids.back() != e["eventId"]) ids.push_back(e["eventId"]);
  }
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids.front(), "kickoff");
  EXPECT_EQ(ids.back(), "export_complete");
  EXPECT_EQ(events.back()["eventDetail"]["files"], 9);
  size_t completes = 0;
  for (const auto& e : events) completes += e["eventId"] == "download_complete";
  EXPECT_EQ(completes, 9u);
  EXPECT_EQ(events.front()["exportId"], events.back()["exportId"]);
  EXPECT_NE(events.front()["exportId"].get<std::string>().find("/bulkstatus/"), std::string::npos);
}


// A finished export says when its files go (Expires), and after that its status and files
// answer 404 and its folder in the work directory is gone.
TEST_F(ExportTest, FinishedExportsExpireAsTheirStatusSays) {
  TempDir work;
  ServerProcess server(source(), {"--export-job-ttl", "2s", "--work-dir", work.path().string()});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  http::ClientOptions options;
  options.retry.max_attempts = 1;
  http::Client client(options);
  auto get = [&](const std::string& url) {
    http::Request r;
    r.url = url;
    return client.Send(r);
  };
  http::Request kickoff;
  kickoff.url = server.base_url() + "/$export?_type=Patient&_since=2000-01-01T00:00:00Z";
  kickoff.headers.Add("Prefer", "respond-async");
  auto started = client.Send(kickoff);
  ASSERT_TRUE(started.ok()) << started.status().message();
  ASSERT_EQ(started->status, 202) << started->body;
  const std::string status_url = started->headers.Get("Content-Location").value_or("");
  http::Response done;
  ASSERT_TRUE(WaitFor([&] {
    auto r = get(status_url);
    if (r.ok()) done = *r;
    return r.ok() && r->status == 200;
  }));
  const std::string expires = done.headers.Get("Expires").value_or("");
  EXPECT_TRUE(std::regex_match(expires, std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")))
      << "Expires: " << expires;
  const std::string file_url = json::parse(done.body)["output"][0]["url"];
  auto file = get(file_url);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->status, 200);
  const std::string id = status_url.substr(status_url.rfind('/') + 1);
  EXPECT_TRUE(fs::exists(work / id));
  EXPECT_TRUE(WaitFor([&] {
    auto r = get(status_url);
    return r.ok() && r->status == 404;
  }));
  auto gone = get(file_url);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status, 404);
  EXPECT_TRUE(WaitFor([&] { return !fs::exists(work / id); }));
}

}  // namespace
}  // namespace fhirlake::testing
