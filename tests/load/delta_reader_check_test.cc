// The tests' Delta check (tests/support/parquet_readers.mjs, checkDeltaTable) fails on tables
// that break the protocol: these feed it deliberately wrong logs.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fhirlake/load/loader.h"
#include "tests/support/parquet_readers.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::ParquetReaderFailures;
using fhirlake::testing::ReadFile;
using fhirlake::testing::TempDir;
using nlohmann::json;

class DeltaReaderCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path exp = dir_ / "export";
    fs::create_directories(exp);
    std::ofstream(exp / "Observation.000.ndjson")
        << R"({"resourceType":"Observation","id":"o1","status":"final","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},)"
           R"("valueQuantity":{"value":1.5,"unit":"kg"},"code":{"coding":[{"code":"x"}]}})"
        << "\n";
    LoadOptions o;
    o.export_dir = exp;
    o.warehouse = dir_ / "wh";
    auto r = Load(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  fs::path Commit0() const { return dir_ / "wh" / "Observation" / "_delta_log" / "00000000000000000000.json"; }
  // Rewrites commit 0 with `edit` applied to each action.
  void EditCommit0(const std::function<void(json&)>& edit) {
    std::string out;
    std::istringstream in(ReadFile(Commit0()));
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      json action = json::parse(line);
      edit(action);
      out += action.dump() + "\n";
    }
    std::ofstream(Commit0(), std::ios::trunc) << out;
  }
  std::string Failures() {
    std::string all;
    for (const auto& f : ParquetReaderFailures(dir_ / "wh")) all += f + "\n";
    return all;
  }
  // metaData.schemaString as JSON, changed by `edit`.
  void EditSchema(const std::function<void(json&)>& edit) {
    EditCommit0([&](json& a) {
      if (!a.contains("metaData")) return;
      json schema = json::parse(a["metaData"]["schemaString"].get<std::string>());
      edit(schema);
      a["metaData"]["schemaString"] = schema.dump();
    });
  }

  TempDir dir_;
};

TEST_F(DeltaReaderCheckTest, AcceptsTheTableAsWritten) {
  EXPECT_EQ(Failures(), "");
  EXPECT_GE(fhirlake::testing::ParquetFilesReadLastCall(), 1u);
}

TEST_F(DeltaReaderCheckTest, RefusesASchemaStringWithAnotherTypeThanTheFile) {
  EditSchema([](json& schema) {
    for (auto& f : schema["fields"]) {
      if (f["name"] == "id") f["type"] = "long";
    }
  });
  EXPECT_NE(Failures().find("id: schemaString says long, the file has BYTE_ARRAY"), std::string::npos)
      << Failures();
}

TEST_F(DeltaReaderCheckTest, RefusesANestedTypeMismatch) {
  EditSchema([](json& schema) {
    for (auto& f : schema["fields"]) {
      if (f["name"] == "valueQuantity") {
        for (auto& g : f["type"]["fields"]) {
          if (g["name"] == "unit") g["type"] = "double";
        }
      }
    }
  });
  EXPECT_NE(Failures().find("valueQuantity.unit: schemaString says double"), std::string::npos) << Failures();
}

TEST_F(DeltaReaderCheckTest, RefusesAFileColumnTheSchemaLacks) {
  EditSchema([](json& schema) {
    json kept = json::array();
    for (auto& f : schema["fields"]) {
      if (f["name"] != "status") kept.push_back(f);
    }
    schema["fields"] = kept;
  });
  EXPECT_NE(Failures().find("has columns the schemaString lacks: status"), std::string::npos) << Failures();
}

TEST_F(DeltaReaderCheckTest, RefusesASchemaStringThatDoesNotParse) {
  EditCommit0([](json& a) {
    if (a.contains("metaData")) a["metaData"]["schemaString"] = "{\"type\":\"struct\",";
  });
  EXPECT_NE(Failures().find("schemaString does not parse"), std::string::npos) << Failures();
}

TEST_F(DeltaReaderCheckTest, RefusesAnotherProvider) {
  EditCommit0([](json& a) {
    if (a.contains("metaData")) a["metaData"]["format"]["provider"] = "orc";
  });
  EXPECT_NE(Failures().find(R"(format.provider is \"orc\")"), std::string::npos) << Failures();
}

TEST_F(DeltaReaderCheckTest, RefusesFeaturesAtTheWrongProtocolVersion) {
  EditCommit0([](json& a) {
    if (a.contains("protocol")) a["protocol"] = {{"minReaderVersion", 1}, {"minWriterVersion", 2},
                                                 {"readerFeatures", {"deletionVectors"}}};
  });
  EXPECT_NE(Failures().find("readerFeatures [\\\"deletionVectors\\\"] at reader version 1"), std::string::npos)
      << Failures();
}

TEST_F(DeltaReaderCheckTest, RefusesDeletionVectorsWithoutTheFeature) {
  EditCommit0([](json& a) {
    if (a.contains("add")) {
      a["add"]["deletionVector"] = {{"storageType", "i"}, {"pathOrInlineDv", "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{sbA"},
                                    {"sizeInBytes", 34}, {"cardinality", 1}};
    }
  });
  EXPECT_NE(Failures().find("has no deletionVectors feature"), std::string::npos) << Failures();
}

}  // namespace
}  // namespace fhirlake::load
