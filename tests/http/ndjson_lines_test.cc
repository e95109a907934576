#include "fhirlake/http/ndjson_lines.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace fhirlake::http {
namespace {

uint64_t Records(const std::string& text) {
  NdjsonLineCounter whole;
  whole.Feed(text.data(), text.size());
  NdjsonLineCounter bytewise;  // a download arrives in pieces of any size
  for (char c : text) bytewise.Feed(&c, 1);
  EXPECT_EQ(whole.Records(), bytewise.Records()) << text;
  EXPECT_EQ(whole.size(), text.size());
  return whole.Records();
}

TEST(NdjsonLineCounter, CountsLinesWithContent) {
  EXPECT_EQ(Records(""), 0u);
  EXPECT_EQ(Records("{}\n{}\n{}"), 3u) << "a last line without newline counts";
  EXPECT_EQ(Records("{}\n{}\n{}\n"), 3u);
  EXPECT_EQ(Records("\n{}\n\n{}\r\n\r\n  \t\n{}\n\n"), 3u) << "blank lines are no resources";
  EXPECT_EQ(Records("{}\n  "), 1u) << "nor is trailing whitespace";
  EXPECT_EQ(Records(" x\n"), 1u);
}

TEST(NdjsonLineCounter, TracksWhereTheLastLineStarts) {
  NdjsonLineCounter c;
  c.Feed("{}\n{", 4);
  EXPECT_TRUE(c.EndsMidLine());
  EXPECT_EQ(c.last_line_start(), 3u);
  c.Feed("}\n", 2);
  EXPECT_FALSE(c.EndsMidLine());
  EXPECT_EQ(c.last_line_start(), 6u);
  EXPECT_EQ(c.Records(), 2u);
}

TEST(CountNdjsonRecords, StreamsAFile) {
  testing::TempDir dir;
  std::ofstream(dir / "a") << "1\n\n2\n3";
  EXPECT_EQ(*CountNdjsonRecords(dir / "a"), 3u);
  EXPECT_FALSE(CountNdjsonRecords(dir / "missing").ok());
}

}  // namespace
}  // namespace fhirlake::http
