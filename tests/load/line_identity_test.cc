// load::ReadIdentity / ScanIdentity: the first pass's reading of a line's resourceType, id and
// meta.lastUpdated, checked against an independent JSON parser (nlohmann) on generated sample
// resources and on lines of unusual shape; lines the front scan does not take go to the full
// reader, which must give the same answer.
#include "fhirlake/load/line_identity.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/sample_generator.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

using nlohmann::json;

// What the identity of a valid line without repeated keys is, by nlohmann's parser.
std::optional<LineIdentity> Expected(const json& doc, std::string& rt, std::string& id, std::string& lu) {
  if (!doc.is_object() || !doc.contains("id") || !doc["id"].is_string()) return std::nullopt;
  rt = doc.contains("resourceType") && doc["resourceType"].is_string() ? doc["resourceType"].get<std::string>() : "";
  id = doc["id"].get<std::string>();
  lu = doc.contains("meta") && doc["meta"].is_object() && doc["meta"].contains("lastUpdated") &&
               doc["meta"]["lastUpdated"].is_string()
           ? doc["meta"]["lastUpdated"].get<std::string>()
           : "";
  return LineIdentity{rt, id, lu};
}

// Checks both readers on `line`; returns whether the front scan took it.
bool Check(simdjson::ondemand::parser& parser, const std::string& line) {
  simdjson::padded_string padded(line);
  const std::string_view view(padded.data(), padded.size());
  std::string rt, id, lu;
  const auto expected = Expected(json::parse(line), rt, id, lu);
  const auto scanned = ScanIdentity(view);
  const auto read = ReadIdentity(parser, view);
  EXPECT_EQ(read.has_value(), expected.has_value()) << line;
  if (read && expected) {
    EXPECT_EQ(read->resource_type, expected->resource_type) << line;
    EXPECT_EQ(read->id, expected->id) << line;
    EXPECT_EQ(read->last_updated, expected->last_updated) << line;
  }
  if (scanned) {
    EXPECT_TRUE(expected.has_value()) << line;
    if (expected) {
      EXPECT_EQ(scanned->resource_type, expected->resource_type) << line;
      EXPECT_EQ(scanned->id, expected->id) << line;
      EXPECT_EQ(scanned->last_updated, expected->last_updated) << line;
    }
  }
  return scanned.has_value();
}

TEST(LineIdentity, SampleResourcesAreReadFromTheirFront) {
  fhirlake::testing::TempDir dir;
  ASSERT_TRUE(fhir::GenerateSample(dir.path(), {20, 3, 100000}).ok());
  simdjson::ondemand::parser parser;
  size_t lines = 0, scanned = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      ++lines;
      scanned += Check(parser, line);
    }
  }
  ASSERT_GT(lines, 100u);
  EXPECT_EQ(scanned, lines) << "the generator writes plain keys and ids";
}

TEST(LineIdentity, UnusualShapesReadAsTheFullParserReadsThem) {
  simdjson::ondemand::parser parser;
  const std::vector<std::string> scanned = {
      R"({"resourceType":"Patient","id":"a","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}})",
      R"( { "id" : "a" , "resourceType" : "Patient" , "meta" : { "versionId" : "1" , "lastUpdated" : "2024" } } )",
      R"({"text":{"div":"<div>} ] \" { [ \\</div>"},"contained":[{"resourceType":"X","id":"inner","meta":{"lastUpdated":"1999"}}],"resourceType":"Observation","meta":{"tag":[{"code":"}"}],"lastUpdated":"2023"},"id":"outer"})",
      R"({"resourceType":"Patient","id":"a","meta":{"lastUpdated":7}})",
      R"({"resourceType":"Patient","id":"a","meta":{}})",
      R"({"resourceType":"Patient","id":"a"})",
      R"({"id":"a","active":true,"n":-1.5e3,"x":null,"resourceType":"Patient"})",
      R"({"resourceType":"Patient","id":"","meta":{"lastUpdated":""}})",
      R"({"resourceType":"Patient","id":"ü€😀","meta":{"lastUpdated":"2024"}})",
  };
  for (const auto& line : scanned) EXPECT_TRUE(Check(parser, line)) << line;
  // Left to the full reader: escapes, values of other types, no id, not an object.
  const std::vector<std::string> full = {
      R"({"resourceType":"Patient","id":"a\u0062","meta":{"lastUpdated":"2024"}})",
      R"({"resourceType":"Pat\"ient","id":"a"})",
      R"({"resourc\u0065Type":"Patient","id":"a"})",
      R"({"resourceType":"Patient","id":7})",
      R"({"resourceType":"Patient","id":null})",
      R"({"resourceType":3,"id":"a"})",
      R"({"resourceType":"Patient","meta":[1],"id":"a"})",
      R"({"resourceType":"Patient","meta":{"lastUpdated":"2\u00304"},"id":"a"})",
      R"({"resourceType":"Patient"})",
      R"({})",
      R"([{"id":"a"}])",
      R"("id")",
  };
  for (const auto& line : full) EXPECT_FALSE(Check(parser, line)) << line;
}

TEST(LineIdentity, BrokenLinesAreNotTakenByTheFrontScan) {
  for (const std::string line : {R"({"resourceType":"Patient","id":"a)", R"({"resourceType":"Patient","id")",
                                 R"({"resourceType":"Patient" "id":"a"})", R"({"resourceType":"Patient","text":{"div":"x"})",
                                 R"({"resourceType":"Patient","id":"a",)", R"({resourceType:"Patient","id":"a"})", ""}) {
    simdjson::padded_string padded(line);
    EXPECT_FALSE(ScanIdentity(std::string_view(padded.data(), padded.size()))) << line;
  }
}

}  // namespace
}  // namespace fhirlake::load
