// `fhirlake generate` as users run it.
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>

namespace fhirlake::testing {
namespace {

TEST(GenerateCommand, WritesDeterministicFilesAndASummary) {
  TempDir dir;
  auto a = RunFhirlake({"generate", (dir / "a").string(), "--patients", "20", "--seed", "9"});
  auto b = RunFhirlake({"generate", (dir / "b").string(), "--patients", "20", "--seed", "9"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(a.err.find("20 Patient"), std::string::npos) << a.err;
  EXPECT_EQ(ReadFile(dir / "a" / "Observation.000.ndjson"), ReadFile(dir / "b" / "Observation.000.ndjson"));
}

TEST(GenerateCommand, BadArgumentsAreUsageErrors) {
  TempDir dir;
  EXPECT_EQ(RunFhirlake({"generate"}).exit_code, 2);
  EXPECT_EQ(RunFhirlake({"generate", (dir / "x").string(), "--patients", "many"}).exit_code, 2);
  EXPECT_EQ(RunFhirlake({"generate", (dir / "x").string(), "--resources-per-file", "0"}).exit_code, 1);
}

TEST(ServeCommand, RefusesAMissingSourceAndBadFaults) {
  TempDir dir;
  auto missing = RunFhirlake({"serve", "--source", (dir / "none").string(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("not a directory"), std::string::npos) << missing.err;
  auto faults = RunFhirlake({"serve", "--source", dir.path().string(), "--faults", "file:explode"});
  EXPECT_EQ(faults.exit_code, 2);
  EXPECT_NE(faults.err.find("file:explode"), std::string::npos) << faults.err;
}

}  // namespace
}  // namespace fhirlake::testing
