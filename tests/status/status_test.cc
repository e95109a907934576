#include "fhirlake/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

namespace fhirlake {
namespace {

Result<std::string> Named(bool ok) {
  if (!ok) return NotFound("no such name");
  return std::string("patient");
}

Result<std::unique_ptr<int>> Boxed(int v) { return std::make_unique<int>(v); }

// Uses FHIRLAKE_ASSIGN_OR_RETURN into a new variable; counts how far it got.
Status Greet(bool ok, std::string& out, int& reached) {
  FHIRLAKE_ASSIGN_OR_RETURN(auto name, Named(ok));
  ++reached;
  out = "hello " + name;
  return Status::Ok();
}

Result<size_t> Length(bool ok) {
  FHIRLAKE_ASSIGN_OR_RETURN(const std::string name, Named(ok));
  return name.size();
}

TEST(AssignOrReturn, AssignsTheValueWhenOk) {
  std::string out;
  int reached = 0;
  ASSERT_TRUE(Greet(true, out, reached).ok());
  EXPECT_EQ(reached, 1);
  EXPECT_EQ(out, "hello patient");
}

TEST(AssignOrReturn, ReturnsTheStatusAndStopsWhenNotOk) {
  std::string out;
  int reached = 0;
  Status s = Greet(false, out, reached);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no such name");
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(out.empty());
}

TEST(AssignOrReturn, PropagatesIntoAResultOfAnotherType) {
  auto good = Length(true);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7u);
  auto bad = Length(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
}

TEST(AssignOrReturn, AssignsAnExistingVariableAndMovesMoveOnlyValues) {
  auto run = [](int v, std::unique_ptr<int>& out) -> Status {
    FHIRLAKE_ASSIGN_OR_RETURN(out, Boxed(v));
    // Two uses in one scope get distinct temporaries.
    FHIRLAKE_ASSIGN_OR_RETURN(auto again, Boxed(v + 1));
    *out += *again;
    return Status::Ok();
  };
  std::unique_ptr<int> out;
  ASSERT_TRUE(run(20, out).ok());
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(*out, 41);
}

TEST(AssignOrReturn, EvaluatesTheExpressionOnce) {
  int calls = 0;
  auto counted = [&calls]() -> Result<int> {
    ++calls;
    return 5;
  };
  auto run = [&]() -> Result<int> {
    FHIRLAKE_ASSIGN_OR_RETURN(int v, counted());
    return v * 2;
  };
  auto r = run();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 10);
  EXPECT_EQ(calls, 1);
}

TEST(Status, WithContextPrefixesErrorsAndLeavesOkAlone) {
  EXPECT_EQ(IoError("disk full").WithContext("writing x.parquet").message(), "writing x.parquet: disk full");
  EXPECT_TRUE(Status::Ok().WithContext("anything").ok());
  EXPECT_EQ(Status::Ok().WithContext("anything").message(), "");
}

}  // namespace
}  // namespace fhirlake
