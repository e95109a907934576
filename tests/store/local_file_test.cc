#include "fhirlake/store/local_file.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace fhirlake::store {
namespace {

using fhirlake::testing::TempDir;

TEST(LocalFile, WritesAtomicallyAndReadsBack) {
  TempDir dir;
  auto path = dir / "sub" / "state.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  auto text = ReadSmallFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "second");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "sub")) ++entries;
  EXPECT_EQ(entries, 1u) << "no temporary file may be left behind";
}

TEST(LocalFile, ReadRefusesFilesOverTheLimit) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir / "big", std::string(100, 'x')).ok());
  EXPECT_FALSE(ReadSmallFile(dir / "big", 10).ok());
  EXPECT_EQ(ReadSmallFile(dir / "missing").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace fhirlake::store
