#include "fhirlake/bulk/manifest.h"

#include <gtest/gtest.h>

#include "fhirlake/bulk/export_client.h"

namespace fhirlake::bulk {
namespace {

constexpr const char* kStatus = "http://h:1/fhir/bulkstatus/1";

TEST(Manifest, ParsesAllFields) {
  auto m = Manifest::Parse(R"({"transactionTime":"2024-01-01T00:00:00Z","request":"http://h:1/fhir/$export",
    "requiresAccessToken":true,
    "output":[{"type":"Patient","url":"http://h:1/f/1","count":3},{"type":"Patient","url":"/f/2"}],
    "deleted":[{"type":"Bundle","url":"http://h:1/f/d"}],
    "error":[{"type":"OperationOutcome","url":"http://h:1/f/e"}],
    "link":[{"relation":"next","url":"/fhir/bulkstatus/1?page=2"}],
    "extension":{"x":1}})", kStatus);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->requires_access_token);
  ASSERT_EQ(m->output.size(), 2u);
  EXPECT_EQ(m->output[0].count, 3u);
  EXPECT_FALSE(m->output[1].count.has_value());
  EXPECT_EQ(m->output[1].url, "http://h:1/f/2");
  EXPECT_EQ(m->deleted.size(), 1u);
  EXPECT_EQ(m->error.size(), 1u);
  EXPECT_EQ(m->next, "http://h:1/fhir/bulkstatus/1?page=2");
  EXPECT_EQ(m->extension_json, R"({"x":1})");
}

TEST(Manifest, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* expected;
  } cases[] = {
      {"{", "not valid JSON"},
      {R"({"request":"r","requiresAccessToken":false,"output":[]})", "transactionTime"},
      {R"({"transactionTime":"yesterday","request":"r","requiresAccessToken":false,"output":[]})", "transactionTime"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","requiresAccessToken":false,"output":[]})", "request"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","output":[]})", "requiresAccessToken"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false})", "output is missing"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[{"type":"Patient"}]})",
       "output[0].url is missing"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[{"url":"http://x/"}]})",
       "output[0].type is missing"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[],"error":[{"type":"OperationOutcome","url":"http://x/","count":-1}]})",
       "error[0].count"},
      // The type names the file written: no path may hide in it.
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[{"type":"../../escaped","url":"http://x/"}]})",
       "output[0].type is not a resource type name"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[{"type":"/tmp/absolute","url":"http://x/"}]})",
       "output[0].type is not a resource type name"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[],"deleted":[{"type":"Bundle/..","url":"http://x/"}]})",
       "deleted[0].type is not a resource type name"},
      {R"({"transactionTime":"2024-01-01T00:00:00Z","request":"r","requiresAccessToken":false,"output":[{"type":"patient","url":"http://x/"}]})",
       "output[0].type is not a resource type name"},
  };
  for (const auto& c : cases) {
    auto m = Manifest::Parse(c.json, kStatus);
    ASSERT_FALSE(m.ok()) << c.json;
    EXPECT_NE(m.status().message().find(c.expected), std::string::npos) << m.status().message();
  }
}

TEST(Manifest, RoundTripsAndAppendsPages) {
  Manifest a;
  a.transaction_time = "2024-01-01T00:00:00Z";
  a.request = "http://h/fhir/$export";
  a.output = {{"Patient", "http://h/f/1", 2}};
  a.next = "http://h/next";
  auto parsed = Manifest::Parse(a.ToJson(), kStatus);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->next, "http://h/next");
  Manifest b = *parsed;
  b.output = {{"Observation", "http://h/f/2", std::nullopt}};
  b.next.reset();
  parsed.value().AppendPage(b);
  EXPECT_EQ(parsed->output.size(), 2u);
  EXPECT_FALSE(parsed->next.has_value());
}

TEST(PlanDownloads, NamesFilesPerTypeInManifestOrder) {
  Manifest m;
  m.requires_access_token = true;
  m.output = {{"Patient", "http://h/1", 1}, {"Observation", "http://h/2", {}}, {"Patient", "http://h/3", {}}};
  m.deleted = {{"Bundle", "http://h/4", {}}};
  m.error = {{"OperationOutcome", "http://h/5", {}}};
  auto tasks = PlanDownloads(m, "/out");
  ASSERT_EQ(tasks.size(), 5u);
  EXPECT_EQ(tasks[0].destination, "/out/Patient.000.ndjson");
  EXPECT_EQ(tasks[1].destination, "/out/Observation.000.ndjson");
  EXPECT_EQ(tasks[2].destination, "/out/Patient.001.ndjson");
  EXPECT_EQ(tasks[3].destination, "/out/deleted/Bundle.000.ndjson");
  EXPECT_EQ(tasks[4].destination, "/out/error/OperationOutcome.000.ndjson");
  EXPECT_EQ(tasks[0].expected_lines, 1u);
  EXPECT_TRUE(tasks[0].send_token);
}

}  // namespace
}  // namespace fhirlake::bulk
