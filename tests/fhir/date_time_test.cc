#include "fhirlake/fhir/date_time.h"

#include <gtest/gtest.h>

namespace fhirlake::fhir {
namespace {

TEST(ParseFhirTime, InstantWithZoneAndFraction) {
  EXPECT_EQ(ParseFhirTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseFhirTime("1970-01-01T00:00:01.5Z"), 1'500'000);
  EXPECT_EQ(ParseFhirTime("2020-03-04T10:00:00+02:00"), ParseFhirTime("2020-03-04T08:00:00Z"));
  EXPECT_EQ(ParseFhirTime("2020-03-04T08:00:00-05:30"), ParseFhirTime("2020-03-04T13:30:00Z"));
}

TEST(ParseFhirTime, PartialDatesMeanTheirFirstInstant) {
  EXPECT_EQ(ParseFhirTime("2020"), ParseFhirTime("2020-01-01T00:00:00Z"));
  EXPECT_EQ(ParseFhirTime("2020-03"), ParseFhirTime("2020-03-01T00:00:00Z"));
  EXPECT_EQ(ParseFhirTime("2020-03-04"), ParseFhirTime("2020-03-04T00:00:00Z"));
}

TEST(ParseFhirTime, RejectsMalformed) {
  for (const char* bad : {"", "20", "2020-13", "2020-01-01T25:00:00Z", "2020-01-01T10:00:00X",
                          "yesterday", "2020-01-01 10:00:00Z", "2020-01-01T10:00:00."}) {
    EXPECT_FALSE(ParseFhirTime(bad).has_value()) << bad;
  }
}

TEST(FormatInstant, RoundTripsThroughParse) {
  for (const char* s : {"1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "1955-07-14T01:02:03.004Z"}) {
    auto t = ParseFhirTime(s);
    ASSERT_TRUE(t.has_value()) << s;
    EXPECT_EQ(FormatInstant(*t), s);
  }
}

// The example of RFC 9110 5.6.7, a leap day, and a time before 1970.
TEST(FormatHttpDate, IsTheImfFixdate) {
  EXPECT_EQ(FormatHttpDate(*ParseFhirTime("1994-11-06T08:49:37.250Z")), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(FormatHttpDate(*ParseFhirTime("2024-02-29T23:59:59.999Z")), "Thu, 29 Feb 2024 23:59:59 GMT");
  EXPECT_EQ(FormatHttpDate(*ParseFhirTime("1969-12-31T23:59:59.500Z")), "Wed, 31 Dec 1969 23:59:59 GMT");
}

}  // namespace
}  // namespace fhirlake::fhir
