#include "fhirlake/fhir/parameters.h"
#include "fhirlake/json_field.h"

#include <gtest/gtest.h>

namespace fhirlake::fhir {
namespace {

TEST(Parameters, ReadsEveryValueTypeAsText) {
  auto p = Parameters::Parse(R"({"resourceType":"Parameters","parameter":[
    {"name":"_since","valueInstant":"2024-01-01T00:00:00Z"},
    {"name":"mode","valueCoding":{"system":"x","code":"merge"}},
    {"name":"saveMode","valueCode":"overwrite"},
    {"name":"patient","valueReference":{"reference":"Patient/1"}},
    {"name":"flag","valueBoolean":true},
    {"name":"input","part":[{"name":"url","valueUrl":"http://x/y"}]}]})");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->First("_since"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(p->First("mode"), "merge");
  EXPECT_EQ(p->First("saveMode"), "overwrite");
  EXPECT_EQ(p->First("patient"), "Patient/1");
  EXPECT_EQ(p->First("flag"), "true");
  ASSERT_EQ(p->items().back().parts.size(), 1u);
  EXPECT_EQ(p->items().back().parts[0].value, "http://x/y");
  EXPECT_FALSE(p->First("absent").has_value());
}

TEST(Parameters, RoundTripsThroughJson) {
  Parameters p;
  p.Add("_type", "String", "Patient");
  p.Add("_type", "String", "Observation");
  p.Add("patient", "Reference", "Patient/7");
  p.Add("allowPartialManifests", "Boolean", "true");
  auto back = Parameters::Parse(p.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Values("_type"), (std::vector<std::string>{"Patient", "Observation"}));
  EXPECT_EQ(back->First("patient"), "Patient/7");
  EXPECT_EQ(back->First("allowPartialManifests"), "true");
}

TEST(Parameters, RejectsWhatIsNotParameters) {
  EXPECT_FALSE(Parameters::Parse("not json").ok());
  EXPECT_FALSE(Parameters::Parse(R"({"resourceType":"Patient"})").ok());
  EXPECT_FALSE(Parameters::Parse(R"({"resourceType":"Parameters","parameter":{}})").ok());
  // Fields of the wrong JSON type are refused like absent ones, not thrown as exceptions.
  EXPECT_FALSE(Parameters::Parse(R"({"resourceType":["Parameters"]})").ok());
  EXPECT_FALSE(Parameters::Parse(R"({"resourceType":7,"parameter":[]})").ok());
  auto unnamed = Parameters::Parse(R"({"resourceType":"Parameters","parameter":[{"valueString":"x"}]})");
  ASSERT_FALSE(unnamed.ok());
  EXPECT_NE(unnamed.status().message().find("name"), std::string::npos);
}

// Parts within the nesting limit are read; a document nested deeper is refused whole, without
// recursing into it.
TEST(Parameters, RefusesNestingBeyondTheLimit) {
  auto nested = [](int levels) {
    std::string text = R"({"resourceType":"Parameters","parameter":[)";
    for (int i = 0; i < levels; ++i) text += R"({"name":"p","part":[)";
    text += R"({"name":"leaf","valueString":"x"})";
    for (int i = 0; i < levels; ++i) text += "]}";
    return text + "]}";
  };
  auto shallow = Parameters::Parse(nested(40));  // 2 + 2 * 40 + 1 containers deep
  ASSERT_TRUE(shallow.ok()) << shallow.status().message();
  const Parameter* p = &shallow->items().front();
  for (int i = 0; i < 40; ++i) p = &p->parts.front();
  EXPECT_EQ(p->value, "x");
  EXPECT_FALSE(Parameters::Parse(nested(70)).ok());
  EXPECT_FALSE(Parameters::Parse(nested(100000)).ok());
}

TEST(ParseJsonFromOutside, DiscardsDocumentsNestedDeeperThanTheLimit) {
  EXPECT_FALSE(ParseJsonFromOutside("[[[1]]]", 3).is_discarded());
  EXPECT_TRUE(ParseJsonFromOutside("[[[[1]]]]", 3).is_discarded());
  EXPECT_TRUE(ParseJsonFromOutside(R"({"a":{"b":{"c":{}}}})", 3).is_discarded());
  EXPECT_EQ(ParseJsonFromOutside(R"({"a":[1,{"b":2}]})", 3)["a"][1]["b"], 2);
  EXPECT_TRUE(ParseJsonFromOutside("{not json").is_discarded());
}

}  // namespace
}  // namespace fhirlake::fhir
