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

}  // namespace
}  // namespace fhirlake::server
