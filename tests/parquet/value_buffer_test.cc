#include "fhirlake/parquet/value_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace fhirlake::parquet {
namespace {

// Past the size where the buffer becomes its own mapping and grows by mremap, every byte
// appended is still there, in order.
TEST(ValueBuffer, KeepsEveryByteAcrossGrowthFromHeapToMapping) {
  ValueBuffer b;
  std::string want;
  for (int i = 0; want.size() < (9u << 20); ++i) {
    std::string piece = std::to_string(i) + ",";
    b.append(piece);
    want += piece;
    if (i % 1000 == 0) {
      b.append(3, 'x');
      want.append(3, 'x');
      b.push_back('\n');
      want.push_back('\n');
    }
  }
  ASSERT_EQ(b.size(), want.size());
  EXPECT_TRUE(b.view() == want);
  EXPECT_EQ(b.byte(0), static_cast<uint8_t>('0'));
}

// Short runs of one byte (levels) are stored a word at a time, past the end of what they
// append: whatever is appended next must overwrite that, at every run length and position.
TEST(ValueBuffer, ShortRunsThenOtherBytesKeepTheirOrder) {
  ValueBuffer b;
  std::string want;
  for (int i = 0; want.size() < (300u << 10); ++i) {
    const size_t n = static_cast<size_t>(i % 11);  // 0 to 10: both sides of the word path
    const char c = static_cast<char>('a' + i % 26);
    b.append(n, c);
    want.append(n, c);
    if (i % 3 == 0) {
      b.push_back('|');
      want.push_back('|');
    } else if (i % 3 == 1) {
      b.append(std::to_string(i));
      want += std::to_string(i);
    }
  }
  ASSERT_EQ(b.size(), want.size());
  EXPECT_TRUE(b.view() == want);
}

TEST(ValueBuffer, ClearKeepsTheCapacityForTheNextRowGroup) {
  ValueBuffer b;
  b.append(3u << 20, 'a');
  const size_t capacity = b.capacity();
  EXPECT_GE(capacity, 3u << 20);
  b.clear();
  EXPECT_TRUE(b.empty());
  b.append(std::string(100, 'b'));
  EXPECT_EQ(b.capacity(), capacity);
  EXPECT_EQ(b.view(), std::string(100, 'b'));
}

// The next file's column writers take the mappings of the last one's instead of faulting in
// fresh pages: a buffer that grows past the heap after another was destroyed gets its mapping,
// and what it holds is its own bytes.
TEST(ValueBuffer, TakesTheMappingOfADestroyedBuffer) {
  // An odd size, so that no mapping other tests left behind fits it better.
  constexpr size_t kBytes = (5u << 20) + 12288;
  const char* first;
  {
    ValueBuffer b;
    b.append(kBytes, 'a');
    first = b.data();
  }
  ValueBuffer c;
  c.append(std::string(100, 'c'));
  c.append(kBytes - 100, 'd');
  EXPECT_EQ(c.data(), first);
  ASSERT_EQ(c.size(), kBytes);
  EXPECT_EQ(c.view().substr(0, 100), std::string(100, 'c'));
  EXPECT_EQ(c.view().substr(100), std::string(kBytes - 100, 'd'));
}

}  // namespace
}  // namespace fhirlake::parquet
