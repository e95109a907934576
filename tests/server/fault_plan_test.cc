#include "fhirlake/server/fault_plan.h"

#include <gtest/gtest.h>

namespace fhirlake::server {
namespace {

TEST(FaultPlan, OneShotFaultsAreConsumedInOrder) {
  auto plan = FaultPlan::Parse("kickoff:429*2,file:reset=0.25,file:503=7");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto a = plan->Take(FaultTarget::kKickoff);
  auto b = plan->Take(FaultTarget::kKickoff);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->http_status, 429);
  EXPECT_FALSE(plan->Take(FaultTarget::kKickoff));
  auto reset = plan->Take(FaultTarget::kFile);
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->kind, FaultKind::kReset);
  EXPECT_DOUBLE_EQ(reset->arg, 0.25);
  auto busy = plan->Take(FaultTarget::kFile);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->http_status, 503);
  EXPECT_DOUBLE_EQ(busy->arg, 7);
  EXPECT_FALSE(plan->Take(FaultTarget::kFile));
  EXPECT_FALSE(plan->Take(FaultTarget::kStatus));
}

TEST(FaultPlan, AFileCanBeGone) {
  auto plan = FaultPlan::Parse("file:404,file:410*2");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->Take(FaultTarget::kFile)->http_status, 404);
  EXPECT_EQ(plan->Take(FaultTarget::kFile)->http_status, 410);
  EXPECT_EQ(plan->Take(FaultTarget::kFile)->http_status, 410);
  EXPECT_FALSE(plan->Take(FaultTarget::kFile));
}

TEST(FaultPlan, StandingFaults) {
  auto plan = FaultPlan::Parse("status:pending=3,file:slow=1000");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->PendingPolls(), 3);
  EXPECT_DOUBLE_EQ(plan->SlowRate(), 1000);
  EXPECT_FALSE(plan->Take(FaultTarget::kFile)) << "slow is not a one-shot fault";
}

TEST(FaultPlan, RestoreGivesBackAUse) {
  auto plan = FaultPlan::Parse("status:miscount");
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->Take(FaultTarget::kStatus));
  plan->Restore(FaultTarget::kStatus, FaultKind::kMiscount);
  EXPECT_TRUE(plan->Take(FaultTarget::kStatus));
}

TEST(FaultPlan, RejectsMalformedRulesWithTheirText) {
  for (const char* bad : {"kickoff", "disk:429", "status:404", "file:pending=2", "file:reset=1.5", "file:429*0", "status:slow=5",
                          "file:teapot"}) {
    auto plan = FaultPlan::Parse(bad);
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_NE(plan.status().message().find(bad), std::string::npos) << plan.status().message();
  }
  EXPECT_TRUE(FaultPlan::Parse("").ok());
}

}  // namespace
}  // namespace fhirlake::server
