// Shared setup for end-to-end export tests: generated source data, an output directory, and
// helpers to run `fhirlake export` against a real `fhirlake serve` child process.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {

class ExportTest : public ::testing::Test {
 protected:
  // Generates `patients` patients of sample data into source().
  void SetUp() override { Generate(30); }
  void Generate(int patients, int per_file = 100000);

  std::filesystem::path source() const { return dir_ / "source"; }
  std::filesystem::path out() const { return dir_ / "out"; }

  // fhirlake export BASE OUT args...
  RunResult Export(const ServerProcess& server, std::vector<std::string> args = {},
                   std::vector<std::string> env = {});

  // Asserts that out() holds exactly the source files, byte for byte.
  void ExpectOutputEqualsSource();
  nlohmann::json ReadManifest() const;
  std::vector<nlohmann::json> LogEvents() const;
  // Resource type → lines across out()'s <Type>.*.ndjson files.
  std::map<std::string, std::vector<std::string>> OutputLines() const;
  // Requests whose path contains `fragment`.
  static std::vector<nlohmann::json> RequestsTo(const ServerProcess& s, const std::string& fragment);

  TempDir dir_;
};

}  // namespace fhirlake::testing
