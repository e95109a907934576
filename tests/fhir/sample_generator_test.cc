#include "fhirlake/fhir/sample_generator.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/http/ndjson_lines.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::fhir {
namespace {

using fhirlake::testing::ReadFile;
using fhirlake::testing::TempDir;
namespace fs = std::filesystem;

std::set<std::string> FileNames(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

TEST(SampleGenerator, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir a, b, c;
  ASSERT_TRUE(GenerateSample(a.path(), {30, 5, 100000}).ok());
  ASSERT_TRUE(GenerateSample(b.path(), {30, 5, 100000}).ok());
  ASSERT_TRUE(GenerateSample(c.path(), {30, 6, 100000}).ok());
  ASSERT_EQ(FileNames(a.path()), FileNames(b.path()));
  for (const auto& name : FileNames(a.path())) {
    EXPECT_EQ(ReadFile(a / name), ReadFile(b / name)) << name;
  }
  EXPECT_NE(ReadFile(a / "Patient.000.ndjson"), ReadFile(c / "Patient.000.ndjson"));
}

TEST(SampleGenerator, RollsOverFilesPerType) {
  TempDir dir;
  auto s = GenerateSample(dir.path(), {25, 1, 10});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->resources.at("Patient"), 25u);
  EXPECT_TRUE(fs::exists(dir / "Patient.000.ndjson"));
  EXPECT_TRUE(fs::exists(dir / "Patient.002.ndjson"));
  EXPECT_FALSE(fs::exists(dir / "Patient.003.ndjson"));
  EXPECT_EQ(*http::CountNdjsonRecords(dir / "Patient.002.ndjson"), 5u);
}

// Every line is valid FHIR-shaped JSON with id, resourceType matching its file and a
// lastUpdated instant, and every reference points to a resource that exists.
TEST(SampleGenerator, ResourcesAreValidAndReferentiallyConsistent) {
  TempDir dir;
  auto summary = GenerateSample(dir.path(), {40, 3, 100000});
  ASSERT_TRUE(summary.ok());
  for (const char* type : {"Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure",
                           "Immunization", "Practitioner", "Organization"}) {
    EXPECT_GT(summary->resources.count(type) ? summary->resources.at(type) : 0, 0u) << type;
  }
  std::set<std::string> ids, refs;
  simdjson::dom::parser parser;
  bool saw_decimal = false, saw_birth_extension = false, saw_component = false;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    std::string type = e.path().filename().string();
    type = type.substr(0, type.find('.'));
    auto reader = NdjsonReader::Open(e.path());
    ASSERT_TRUE(reader.ok());
    std::string_view line;
    while (reader->Next(line)) {
      simdjson::dom::element r;
      ASSERT_EQ(parser.parse(line.data(), line.size(), false).get(r), simdjson::SUCCESS) << line;
      std::string_view rt, id, lu;
      ASSERT_EQ(r["resourceType"].get_string().get(rt), simdjson::SUCCESS);
      EXPECT_EQ(rt, type);
      ASSERT_EQ(r["id"].get_string().get(id), simdjson::SUCCESS);
      ASSERT_EQ(r["meta"]["lastUpdated"].get_string().get(lu), simdjson::SUCCESS);
      EXPECT_TRUE(ParseFhirTime(lu).has_value());
      ids.insert(std::string(rt) + "/" + std::string(id));
      for (const char* field : {"subject", "patient", "encounter", "managingOrganization", "serviceProvider", "requester"}) {
        std::string_view ref;
        if (r[field]["reference"].get_string().get(ref) == simdjson::SUCCESS) refs.emplace(ref);
      }
      if (line.find("\"value\":") != std::string_view::npos && line.find(".") != std::string_view::npos) saw_decimal = true;
      if (line.find("\"_birthDate\"") != std::string_view::npos) saw_birth_extension = true;
      if (line.find("\"component\"") != std::string_view::npos) saw_component = true;
    }
    ASSERT_TRUE(reader->status().ok());
  }
  for (const auto& ref : refs) EXPECT_TRUE(ids.count(ref)) << "dangling reference " << ref;
  EXPECT_TRUE(saw_decimal);
  EXPECT_TRUE(saw_birth_extension);
  EXPECT_TRUE(saw_component);
}

}  // namespace
}  // namespace fhirlake::fhir
