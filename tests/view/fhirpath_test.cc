#include "fhirlake/view/fhirpath.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fhirlake::view {
namespace {

// Evaluates `path` over `resource`, returning the result as JSON (or {"error": message}).
nlohmann::json Eval(const std::string& resource, const std::string& path,
                    const std::vector<std::string>& constants = {}) {
  JsonTree tree;
  Status parsed = tree.Parse(resource);
  if (!parsed.ok()) return {{"error", parsed.message()}};
  auto expr = ParsedPath::Parse(path, constants);
  if (!expr.ok()) return {{"error", expr.status().message()}};
  EvalEnvironment env;
  env.tree = &tree;
  env.resource = tree.root();
  Collection focus{NodeValue(*tree.root())}, out;
  Status s = expr->Evaluate(focus, env, out);
  if (!s.ok()) return {{"error", s.message()}};
  nlohmann::json result = nlohmann::json::array();
  for (const Value& v : out) result.push_back(ValueToJson(v, tree));
  return result;
}

const char* kObservation = R"({"resourceType":"Observation","id":"o1","status":"final",
  "valueQuantity":{"value":1.50,"unit":"mg"},"effectiveDateTime":"2020-02",
  "subject":{"reference":"Patient/p1"},
  "component":[{"code":{"text":"a"},"valueInteger":3},{"code":{"text":"b"},"valueString":"x"}]})";

TEST(FhirPath, ChoiceElementFoundThroughItsTypeSuffix) {
  EXPECT_EQ(Eval(kObservation, "value.ofType(Quantity).unit"), nlohmann::json({"mg"}));
  EXPECT_EQ(Eval(kObservation, "value.ofType(string)"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "component.value.ofType(integer)"), nlohmann::json({3}));
}

TEST(FhirPath, DecimalBoundariesUseTheWrittenPrecision) {
  EXPECT_EQ(Eval(kObservation, "value.ofType(Quantity).value.lowBoundary()"), nlohmann::json::parse("[1.495]"));
  EXPECT_EQ(Eval(kObservation, "value.ofType(Quantity).value.highBoundary()"), nlohmann::json::parse("[1.505]"));
}

TEST(FhirPath, DateTimeBoundariesFillThePrecisionAndZone) {
  EXPECT_EQ(Eval(kObservation, "effective.ofType(dateTime).highBoundary()"),
            nlohmann::json({"2020-02-29T23:59:59.999-12:00"}));
  EXPECT_EQ(Eval(kObservation, "effective.ofType(dateTime).lowBoundary()"),
            nlohmann::json({"2020-02-01T00:00:00.000+14:00"}));
}

TEST(FhirPath, ReferenceKeysMatchResourceKeys) {
  EXPECT_EQ(Eval(kObservation, "subject.getReferenceKey(Patient)"), nlohmann::json({"p1"}));
  EXPECT_EQ(Eval(kObservation, "subject.getReferenceKey(Group)"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "getResourceKey()"), nlohmann::json({"o1"}));
}

TEST(FhirPath, LogicIsThreeValued) {
  EXPECT_EQ(Eval(kObservation, "status = 'final' and missing = 'x'"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "status = 'final' or missing = 'x'"), nlohmann::json({true}));
  EXPECT_EQ(Eval(kObservation, "status = 'draft' and missing = 'x'"), nlohmann::json({false}));
}

TEST(FhirPath, ArithmeticAndStrings) {
  EXPECT_EQ(Eval(kObservation, "component.value.ofType(integer).first() * 2 + 1"), nlohmann::json({7}));
  EXPECT_EQ(Eval(kObservation, "component.code.text.join('|')"), nlohmann::json({"a|b"}));
  EXPECT_EQ(Eval(kObservation, "id & '-' & status.upper()"), nlohmann::json({"o1-FINAL"}));
  EXPECT_EQ(Eval(kObservation, "component.where(code.text = 'b').exists()"), nlohmann::json({true}));
}

TEST(FhirPath, IntegerResultsPast64BitsAreEmpty) {
  EXPECT_EQ(Eval(kObservation, "9223372036854775807 + 1"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "9223372036854775806 + 1"), nlohmann::json({9223372036854775807LL}));
  EXPECT_EQ(Eval(kObservation, "(0 - 9223372036854775807) - 2"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "4611686018427387904 * 2"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "((0 - 9223372036854775807) - 1) div (0 - 1)"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "((0 - 9223372036854775807) - 1) mod (0 - 1)"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "7 div 2"), nlohmann::json({3}));
  EXPECT_EQ(Eval(kObservation, "7 mod 0"), nlohmann::json::array());
  EXPECT_EQ(Eval(kObservation, "99999999999999999999.5 div 0.5"), nlohmann::json::array()) << "a quotient past 64 bits";
}

TEST(FhirPath, LiteralsTooLargeForIntegersAndUnicodeEscapesParse) {
  EXPECT_EQ(Eval(kObservation, "99999999999999999999 > 1"), nlohmann::json({true}));
  EXPECT_EQ(Eval(kObservation, "'caf\\u00e9'"), nlohmann::json({"caf\u00e9"}));
  EXPECT_TRUE(Eval(kObservation, "'\\uZZZZ'").contains("error"));
}

TEST(FhirPath, ComparingACollectionIsAnError) {
  EXPECT_TRUE(Eval(kObservation, "component.code.text > 'a'").contains("error"));
}

TEST(FhirPath, SyntaxErrorsAndUnknownNamesFailToParse) {
  EXPECT_TRUE(Eval(kObservation, "@@").contains("error"));
  EXPECT_TRUE(Eval(kObservation, "name.where(").contains("error"));
  EXPECT_TRUE(Eval(kObservation, "name.frobnicate()").contains("error"));
  EXPECT_TRUE(Eval(kObservation, "%undefined").contains("error"));
}

// Nesting and length are bounded: the parser and the evaluator recurse once a level, and an
// expression from a request ($viewdefinition-run) must not overflow the stack.
TEST(FhirPath, DeepOrLongExpressionsAreRefusedWithAMessage) {
  auto parenthesized = [](int levels) { return std::string(levels, '(') + "1" + std::string(levels, ')'); };
  EXPECT_EQ(Eval(kObservation, parenthesized(150)), nlohmann::json::array({1}));
  auto deep = Eval(kObservation, parenthesized(4000));  // under the length limit
  ASSERT_TRUE(deep.contains("error"));
  EXPECT_NE(deep["error"].get<std::string>().find("levels deep"), std::string::npos) << deep;
  EXPECT_TRUE(Eval(kObservation, std::string(9000, '-') + "1").contains("error"));
  std::string chain = "status";
  while (chain.size() < 20000) chain += ".first()";
  auto long_chain = Eval(kObservation, chain);
  ASSERT_TRUE(long_chain.contains("error"));
  EXPECT_NE(long_chain["error"].get<std::string>().find("characters long"), std::string::npos) << long_chain;
}

}  // namespace
}  // namespace fhirlake::view
