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

}  // namespace
}  // namespace fhirlake::fhir
