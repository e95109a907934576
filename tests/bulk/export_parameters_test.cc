#include "fhirlake/bulk/export_parameters.h"

#include <gtest/gtest.h>

#include "fhirlake/http/url.h"

namespace fhirlake::bulk {
namespace {

ExportParameters Full() {
  ExportParameters p;
  p.output_format = "application/fhir+ndjson";
  p.since = "2024-01-01T00:00:00Z";
  p.until = "2024-06-01T00:00:00Z";
  p.types = {"Patient", "Observation"};
  p.type_filters = {"Observation?code=8867-4,8310-5", "Patient?gender=female"};
  p.elements = {"id", "Observation.status"};
  p.include_associated_data = {"LatestProvenanceResources"};
  p.allow_partial_manifests = true;
  return p;
}

void ExpectSame(const ExportParameters& a, const ExportParameters& b) {
  EXPECT_EQ(a.output_format, b.output_format);
  EXPECT_EQ(a.since, b.since);
  EXPECT_EQ(a.until, b.until);
  EXPECT_EQ(a.types, b.types);
  EXPECT_EQ(a.type_filters, b.type_filters);
  EXPECT_EQ(a.elements, b.elements);
  EXPECT_EQ(a.include_associated_data, b.include_associated_data);
  EXPECT_EQ(a.allow_partial_manifests, b.allow_partial_manifests);
}

TEST(ExportParameters, KickoffBaseUndoesKickoffPath) {
  EXPECT_EQ(KickoffBase("http://h/fhir/$export?_type=Patient"), "http://h/fhir");
  EXPECT_EQ(KickoffBase("http://h/fhir/Patient/$export"), "http://h/fhir");
  EXPECT_EQ(KickoffBase("http://h/fhir/Group/g%201/$export?_since=x"), "http://h/fhir");
  EXPECT_EQ(KickoffBase("http://h/$export"), "http://h");
  EXPECT_EQ(KickoffBase("http://h/fhir/Observation"), "");
  EXPECT_EQ(KickoffBase(""), "");
}

TEST(ExportParameters, KickoffPathPerLevel) {
  ExportParameters p;
  EXPECT_EQ(p.KickoffPath("http://h/fhir/"), "http://h/fhir/$export");
  p.level = ExportLevel::kPatient;
  EXPECT_EQ(p.KickoffPath("http://h/fhir"), "http://h/fhir/Patient/$export");
  p.level = ExportLevel::kGroup;
  p.group_id = "g 1";
  EXPECT_EQ(p.KickoffPath("http://h/fhir"), "http://h/fhir/Group/g%201/$export");
}

TEST(ExportParameters, GetQueryRoundTripsThroughTheServerParser) {
  ExportParameters p = Full();
  std::string q = p.ToQuery();
  EXPECT_NE(q.find("_type=Patient,Observation"), std::string::npos) << q;
  auto back = ExportParameters::FromQuery(ExportLevel::kSystem, "", http::ParseQuery(q));
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSame(p, *back);
}

TEST(ExportParameters, PostBodyRoundTripsIncludingPatients) {
  ExportParameters p = Full();
  p.level = ExportLevel::kGroup;
  p.patients = {"Patient/1", "Patient/2"};
  auto back = ExportParameters::FromParametersJson(ExportLevel::kGroup, "g", p.ToParametersJson());
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSame(p, *back);
  EXPECT_EQ(back->patients, p.patients);
  EXPECT_EQ(back->group_id, "g");
}

TEST(ExportParameters, RepeatedAndCommaListsBothWork) {
  auto p = ExportParameters::FromQuery(ExportLevel::kSystem, "",
                                       {{"_type", "Patient,Encounter"}, {"_type", "Condition"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->types, (std::vector<std::string>{"Patient", "Encounter", "Condition"}));
}

TEST(ExportParameters, RejectsBadTimes) {
  auto p = ExportParameters::FromQuery(ExportLevel::kSystem, "", {{"_since", "last tuesday"}});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("_since"), std::string::npos);
}

TEST(ExportParameters, UnknownTypesAreRefusedOrDroppedWhenLenient) {
  auto p = ExportParameters::FromQuery(ExportLevel::kSystem, "",
                                       {{"_type", "Patient,Bogus"}, {"_typeFilter", "Nope?x=1,Patient?gender=male"}});
  ASSERT_TRUE(p.ok());
  ExportParameters strict = *p;
  auto refused = strict.CheckTypes(false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'Bogus'"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("handling=lenient"), std::string::npos);

  ExportParameters lenient = *p;
  auto warnings = lenient.CheckTypes(true);
  ASSERT_TRUE(warnings.ok());
  EXPECT_EQ(warnings->size(), 2u);
  EXPECT_EQ(lenient.types, (std::vector<std::string>{"Patient"}));
  EXPECT_EQ(lenient.type_filters, (std::vector<std::string>{"Patient?gender=male"}));

  ExportParameters none;
  none.types = {"Bogus", "patient"};
  EXPECT_FALSE(none.CheckTypes(true).ok()) << "dropping every type would export all of them";
  ExportParameters all;
  EXPECT_TRUE(all.CheckTypes(false).ok());
}

TEST(ExportParameters, QueryValuesThatAreNotUtf8AreRefused) {
  // Found by fuzz/export_parameters_fuzz: a percent-decoded \xb0 in _typeFilter made
  // ToParametersJson throw (JSON needs UTF-8).
  auto bad = ExportParameters::FromQuery(ExportLevel::kSystem, "", {{"_typeFilter", "Observation?code=a\xb0" "b"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("UTF-8"), std::string::npos);
  EXPECT_FALSE(ExportParameters::FromQuery(ExportLevel::kSystem, "", {{"_type", "\xed\xa0\x80"}}).ok()) << "a surrogate";
  EXPECT_FALSE(ExportParameters::FromQuery(ExportLevel::kSystem, "", {{"_type", "\xc0\xaf"}}).ok()) << "an overlong";
  auto good = ExportParameters::FromQuery(ExportLevel::kSystem, "", {{"_typeFilter", "Patient?name=J\xc3\xbcrgen"}});
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_NE(good->ToParametersJson().find("rgen"), std::string::npos);
}

TEST(SplitTypeFilters, KeepsCommasInsideAFilter) {
  EXPECT_EQ(SplitTypeFilters("Observation?code=a,b,Condition?x=y"),
            (std::vector<std::string>{"Observation?code=a,b", "Condition?x=y"}));
  EXPECT_EQ(SplitTypeFilters("Observation?status=final"), (std::vector<std::string>{"Observation?status=final"}));
}

}  // namespace
}  // namespace fhirlake::bulk
