// Cron schedules against fixed instants, and what /health and /metrics say.
#include "fhirlake/sync/schedule.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/sync/sentry.h"

namespace fhirlake::sync {
namespace {

std::string NextAfter(const char* cron, const char* instant) {
  auto c = CronSchedule::Parse(cron);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? fhir::FormatInstant(c->Next(*fhir::ParseFhirTime(instant))) : "";
}

TEST(CronSchedule, FindsTheNextMatchingMinute) {
  // 2026-11-23 is a Monday.
  EXPECT_EQ(NextAfter("15 * * * *", "2026-11-23T08:20:00Z"), "2026-11-23T09:15:00.000Z");
  EXPECT_EQ(NextAfter("15 * * * *", "2026-11-23T08:14:59Z"), "2026-11-23T08:15:00.000Z");
  EXPECT_EQ(NextAfter("15 * * * *", "2026-11-23T08:15:00Z"), "2026-11-23T09:15:00.000Z") << "strictly after";
  EXPECT_EQ(NextAfter("*/20 * * * *", "2026-11-23T08:41:00Z"), "2026-11-23T09:00:00.000Z");
  EXPECT_EQ(NextAfter("0 3 * * 0", "2026-11-23T08:00:00Z"), "2026-11-29T03:00:00.000Z") << "Sundays at 03:00";
  EXPECT_EQ(NextAfter("0 3 * * 7", "2026-11-23T08:00:00Z"), "2026-11-29T03:00:00.000Z") << "7 is Sunday too";
  EXPECT_EQ(NextAfter("30 9-17/4 * * 1-5", "2026-11-27T18:00:00Z"), "2026-11-30T09:30:00.000Z") << "Friday evening to Monday";
  EXPECT_EQ(NextAfter("0 0 1 1 *", "2026-11-23T08:00:00Z"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(NextAfter("0 0 29 2 *", "2026-11-23T08:00:00Z"), "2028-02-29T00:00:00.000Z") << "leap day";
  EXPECT_EQ(NextAfter("0 12 1 * 3", "2026-11-23T08:00:00Z"), "2026-11-25T12:00:00.000Z")
      << "both day fields restricted: either matches (Wednesday the 25th comes before the 1st)";
  EXPECT_EQ(NextAfter("5,10 0 * * *", "2026-11-23T00:06:00Z"), "2026-11-23T00:10:00.000Z");
}

TEST(CronSchedule, RejectsMalformedExpressions) {
  for (const char* bad : {"", "* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                          "*/0 * * * *", "5-1 * * * *", "a * * * *", "* * * * * *"}) {
    EXPECT_FALSE(CronSchedule::Parse(bad).ok()) << bad;
  }
}

TEST(SyncMetrics, HealthIsStaleUntilASuccessAndMetricsCountRuns) {
  SyncMetrics m;
  EXPECT_EQ(m.Health(std::chrono::hours(1)).first, 503) << "no success yet";
  m.RunStarted();
  SyncSummary ok;
  ok.inserted = 5;
  ok.deleted = 2;
  ok.transaction_time = "2026-11-23T08:00:00.000Z";
  m.RunFinished(ok, 1.5);
  auto [status, body] = m.Health(std::chrono::hours(1));
  EXPECT_EQ(status, 200);
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["lastTransactionTime"], "2026-11-23T08:00:00.000Z");
  m.RunFinished(Result<SyncSummary>(NetworkError("source down")), 0.1);
  j = nlohmann::json::parse(m.Health(std::chrono::hours(1)).second);
  EXPECT_EQ(j["lastError"], "source down");
  EXPECT_EQ(m.Health(std::chrono::milliseconds(0)).first, 503) << "older than max lag";
  m.RunFinished(Result<SyncSummary>(Cancelled("stopped")), 0.1);
  const std::string text = m.Prometheus();
  EXPECT_NE(text.find("fhirlake_sync_runs_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("fhirlake_sync_failures_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("fhirlake_sync_rows_inserted_total 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE fhirlake_sync_lag_seconds gauge"), std::string::npos) << text;
}

TEST(Sentry, EventsCarryTheErrorStepAndReleaseButNoCredentials) {
  std::string body = SentryEventJson({"kick-off failed: 500", "source",
                                      "https://ehr.example/fhir?access_token=abc123&_type=Patient", "1.2.3"});
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["release"], "1.2.3");
  EXPECT_EQ(j["tags"]["step"], "source");
  EXPECT_EQ(j["exception"]["values"][0]["value"], "kick-off failed: 500");
  EXPECT_EQ(j["event_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(body.find("abc123"), std::string::npos) << body;
}

}  // namespace
}  // namespace fhirlake::sync
