#include "fhirlake/fhir/operation_outcome.h"

#include <gtest/gtest.h>

namespace fhirlake::fhir {
namespace {

TEST(OperationOutcome, SerialisesAsAResource) {
  std::string json = OperationOutcome::Error("invalid", "bad \"thing\"").ToJson();
  EXPECT_EQ(json, R"({"issue":[{"code":"invalid","diagnostics":"bad \"thing\"","severity":"error"}],"resourceType":"OperationOutcome"})");
}

TEST(DescribeErrorBody, JoinsIssueTexts) {
  EXPECT_EQ(DescribeErrorBody(R"({"resourceType":"OperationOutcome","issue":[
      {"severity":"error","code":"invalid","diagnostics":"first"},
      {"severity":"error","code":"invalid","details":{"text":"second"}}]})"),
            "first; second");
}

TEST(DescribeErrorBody, FallsBackToAnExcerpt) {
  EXPECT_EQ(DescribeErrorBody("<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
  EXPECT_EQ(DescribeErrorBody(""), "(empty body)");
  EXPECT_EQ(DescribeErrorBody(std::string(600, 'a')).size(), 500u + std::string("…").size());
}

TEST(IsTransientOutcome, OnlyPassingStatesOfEveryError) {
  auto outcome = [](const std::string& issues) { return R"({"resourceType":"OperationOutcome","issue":[)" + issues + "]}"; };
  EXPECT_TRUE(IsTransientOutcome(outcome(R"({"severity":"error","code":"transient"})")));
  EXPECT_TRUE(IsTransientOutcome(outcome(R"({"severity":"fatal","code":"throttled"},{"severity":"information","code":"informational"})")));
  EXPECT_TRUE(IsTransientOutcome(outcome(R"({"severity":"error","code":"lock-error"},{"severity":"error","code":"timeout"})")));
  EXPECT_FALSE(IsTransientOutcome(outcome(R"({"severity":"error","code":"exception"})"))) << "what failed jobs say";
  EXPECT_FALSE(IsTransientOutcome(outcome(R"({"severity":"error","code":"transient"},{"severity":"error","code":"invalid"})")));
  EXPECT_FALSE(IsTransientOutcome(outcome(R"({"severity":"warning","code":"transient"})"))) << "no error at all";
  EXPECT_FALSE(IsTransientOutcome(outcome("")));
  EXPECT_FALSE(IsTransientOutcome(R"({"resourceType":"Bundle","issue":[{"severity":"error","code":"transient"}]})"));
  EXPECT_FALSE(IsTransientOutcome("<html>Service Unavailable</html>"));
}

}  // namespace
}  // namespace fhirlake::fhir
