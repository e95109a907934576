#include "fhirlake/fhir/ndjson_reader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace fhirlake::fhir {
namespace {

using fhirlake::testing::TempDir;

std::vector<std::string> ReadAll(const std::filesystem::path& p, size_t max_line = 256u << 20, Status* status = nullptr) {
  auto reader = NdjsonReader::Open(p, max_line);
  EXPECT_TRUE(reader.ok());
  std::vector<std::string> lines;
  std::string_view line;
  while (reader->Next(line)) lines.emplace_back(line);
  if (status) *status = reader->status();
  return lines;
}

void Write(const std::filesystem::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
}

TEST(NdjsonReader, SplitsLinesAndStripsCarriageReturns) {
  TempDir dir;
  Write(dir / "a.ndjson", "{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}");
  auto lines = ReadAll(dir / "a.ndjson");
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "", "{\"b\":2}", "{\"c\":3}"}));
}

TEST(NdjsonReader, LinesLongerThanTheBufferGrowIt) {
  TempDir dir;
  std::string big(9u << 20, 'x');
  Write(dir / "big.ndjson", "short\n" + big + "\nend\n");
  auto lines = ReadAll(dir / "big.ndjson");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].size(), big.size());
  EXPECT_EQ(lines[2], "end");
}

TEST(NdjsonReader, OverlongLineIsAnErrorNamingTheLine) {
  TempDir dir;
  Write(dir / "big.ndjson", "ok\n" + std::string(3u << 20, 'x') + "\n");
  Status status;
  auto lines = ReadAll(dir / "big.ndjson", 1u << 20, &status);
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("line 2"), std::string::npos) << status.message();
}

TEST(NdjsonReader, AnOverlongLineCanBeSkipped) {
  TempDir dir;
  for (size_t size : {size_t{3} << 20, size_t{9} << 20}) {  // inside one buffer fill, and across several
    Write(dir / "big.ndjson", "first\n" + std::string(size, 'x') + "\nafter\nlast");
    auto reader = NdjsonReader::Open(dir / "big.ndjson", 1u << 20);
    ASSERT_TRUE(reader.ok());
    std::string_view line;
    ASSERT_TRUE(reader->Next(line));
    EXPECT_EQ(line, "first");
    EXPECT_FALSE(reader->Next(line));
    ASSERT_TRUE(reader->line_too_long());
    ASSERT_TRUE(reader->SkipLongLine().ok());
    ASSERT_TRUE(reader->Next(line));
    EXPECT_EQ(line, "after");
    EXPECT_EQ(reader->line_number(), 3u);
    ASSERT_TRUE(reader->Next(line));
    EXPECT_EQ(line, "last");
    EXPECT_FALSE(reader->Next(line));
    EXPECT_TRUE(reader->status().ok());
  }
}

TEST(NdjsonReader, MissingFileIsAnError) {
  EXPECT_FALSE(NdjsonReader::Open("/nonexistent/file.ndjson").ok());
}

}  // namespace
}  // namespace fhirlake::fhir
