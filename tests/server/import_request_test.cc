// `$import` bodies in Pathling's `source` form, as pathling-import and `fhirlake handoff` send them.
#include "fhirlake/server/import_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fhirlake::server {
namespace {

using nlohmann::json;

json Source(const std::string& type, const std::string& url, const std::string& mode) {
  return {{"name", "source"},
          {"part", {{{"name", "resourceType"}, {"valueCode", type}}, {{"name", "url"}, {"valueUrl", url}},
                    {{"name", "mode"}, {"valueCode", mode}}}}};
}

TEST(ImportRequest, PathlingSourceParametersWithTheirMode) {
  json body = {{"resourceType", "Parameters"},
               {"parameter", {Source("Patient", "s3://staging-bucket/run/Patient-1.ndjson", "overwrite"),
                              Source("Observation", "s3://staging-bucket/run/Observation-2.ndjson", "overwrite")}}};
  auto r = ParseImportManifest(body.dump());
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].type, "Patient");
  EXPECT_EQ(r->inputs[1].url, "s3://staging-bucket/run/Observation-2.ndjson");
  EXPECT_EQ(r->mode, load::SaveMode::kOverwrite);
}

TEST(ImportRequest, SourcesWithDifferentModesAreRefused) {
  json body = {{"resourceType", "Parameters"},
               {"parameter", {Source("Patient", "s3://staging-bucket/P.ndjson", "merge"), Source("Observation", "s3://staging-bucket/O.ndjson", "overwrite")}}};
  auto r = ParseImportManifest(body.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("same 'mode'"), std::string::npos) << r.status().message();
}

// Found by import_request_fuzz: fields of the wrong JSON type (a `resourceType` that is an
// array, inputs that are not objects) threw out of the parser instead of being refused.
TEST(ImportRequest, FieldsOfTheWrongTypeAreRefusedNotThrown) {
  for (const char* body : {R"({"resourceType":["Parameters"],"parameter":[]})",
                           R"({"inputFormat":"application/fhir+ndjson","input":[7,"x",{"type":5,"url":[1]}]})",
                           R"({"resourceType":"Parameters","parameter":[{"name":"input","part":[{"name":7}]}]})"}) {
    auto r = ParseImportManifest(body);
    EXPECT_FALSE(r.ok()) << body;
  }
  // A stored job record of the wrong shape does not throw either.
  EXPECT_NO_THROW((void)ImportRequestFromJson(json{{"inputs", json::array({1, "two"})}, {"level", "system"}, {"mode", {1}}}).ok());
}

// Found by import_request_fuzz: a `_since` that is not a FHIR instant was accepted (202), and
// the job record holding it could then not be read back.
TEST(ImportRequest, APingAndPullWithAnInvalidSinceIsRefusedAndWhatIsAcceptedReadsBack) {
  auto body = [](const std::string& since) {
    return json{{"resourceType", "Parameters"},
                {"parameter",
                 {{{"name", "exportUrl"}, {"valueUrl", "http://127.0.0.1:18081/fhir/$export?_type=Patient"}},
                  {{"name", "exportType"}, {"valueCode", "dynamic"}},
                  {{"name", "_since"}, {"valueInstant", since}},
                  {{"name", "_type"}, {"valueString", "Patient,Observation"}}}}}
        .dump();
  };
  auto bad = ParseImportPnp(body("2p24-01-01T00:00:00Z"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("_since"), std::string::npos) << bad.status().message();

  auto good = ParseImportPnp(body("2024-01-01T00:00:00Z"));
  ASSERT_TRUE(good.ok()) << good.status().message();
  auto back = ImportRequestFromJson(ImportRequestToJson(*good));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->parameters.since, good->parameters.since);
  EXPECT_EQ(back->parameters.types, good->parameters.types);
}

}  // namespace
}  // namespace fhirlake::server
