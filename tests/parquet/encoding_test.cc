#include <algorithm>

#include <gtest/gtest.h>

#include "fhirlake/parquet/rle.h"
#include "fhirlake/parquet/thrift_compact.h"

namespace fhirlake::parquet {
namespace {

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(ThriftCompact, FieldHeadersVarintsAndStructs) {
  ThriftCompactWriter w;
  w.I32(1, 2);          // delta 1, type i32 (5): 0x15; zigzag(2) = 4
  w.I64(3, -1);         // delta 2, type i64 (6): 0x26; zigzag(-1) = 1
  w.Binary(4, "ab");    // delta 1, binary (8): 0x18, len 2
  w.BeginStruct(20);    // delta 16 > 15: type byte 0x0c, then zigzag varint id 40 = 0x28
  w.Bool(1, true);      // 0x11
  w.EndStruct();        // 0x00
  w.BeginList(21, ThriftType::kI32, 2);  // delta 1: 0x19; size/type 0x25
  w.ElementI32(0);
  w.ElementI32(3);      // 0x00 0x06
  w.Finish();
  EXPECT_EQ(Hex(w.bytes()), "1504" "2601" "18026162" "0c28" "11" "00" "19" "25" "0006" "00");
}

// A reader skips most of a footer (statistics, offsets): skipping a struct of every field kind
// must end exactly where reading it does, and truncated input is an error either way.
TEST(ThriftCompact, SkipEndsWhereReadEnds) {
  ThriftCompactWriter w;
  w.I32(1, -7);
  w.I64(2, int64_t{1} << 40);
  w.Binary(3, "min-value");
  w.Bool(4, false);
  w.BeginStruct(5);
  w.BeginList(1, ThriftType::kI32, 3);
  w.ElementI32(1);
  w.ElementI32(2);
  w.ElementI32(300);
  w.Binary(2, "x");
  w.EndStruct();
  w.Finish();
  const std::string bytes = w.bytes() + "tail";
  ThriftCompactReader read(bytes), skip(bytes);
  ThriftValue value;
  ASSERT_TRUE(read.Read(ThriftType::kStruct, false, value, true).ok());
  ASSERT_TRUE(skip.Skip(ThriftType::kStruct).ok());
  EXPECT_EQ(skip.pos(), read.pos());
  EXPECT_EQ(bytes.substr(skip.pos()), "tail");
  EXPECT_EQ(value.Binary(3), "min-value");
  for (size_t cut = 0; cut < w.bytes().size(); ++cut) {
    ThriftCompactReader truncated(std::string_view(bytes).substr(0, cut));
    EXPECT_FALSE(truncated.Skip(ThriftType::kStruct).ok()) << cut;
  }
}

TEST(ThriftCompact, ContainersNestedTooDeepAreRefused) {
  // A list of one list of one list ...: one byte per level, so a footer of some kilobytes
  // could nest deeper than any stack.
  const std::string bytes(100000, '\x19');
  ThriftCompactReader skip(bytes), read(bytes);
  Status skipped = skip.Skip(ThriftType::kList, true);
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.message().find("too deep"), std::string::npos) << skipped.message();
  ThriftValue value;
  EXPECT_FALSE(read.Read(ThriftType::kList, true, value, true).ok());
  // A map of one entry whose value is a map of one entry ...: 01 (size), 5b (i32 key, map
  // value), 00 (key 0).
  std::string maps;
  for (int i = 0; i < 50000; ++i) maps += std::string("\x01\x5b\x00", 3);
  ThriftCompactReader nested_maps(maps);
  Status map_skipped = nested_maps.Skip(ThriftType::kMap, true);
  ASSERT_FALSE(map_skipped.ok());
  EXPECT_NE(map_skipped.message().find("too deep"), std::string::npos) << map_skipped.message();
}

TEST(RleHybrid, LongRunsBecomeRleRuns) {
  std::string out;
  EncodeRleHybrid(std::vector<uint32_t>(10, 1), 1, out);
  EXPECT_EQ(Hex(out), "1401");  // header 10 << 1, value 1
}

// Levels (a byte each) are scanned for runs and bit-packed eight bytes at a time: they must
// encode exactly as the same values given one by one, for runs that start and end anywhere
// within a word, at every width a level can have.
TEST(RleHybrid, ByteLevelsEncodeAsTheSameValuesDo) {
  for (int width : {1, 2, 3, 4, 5, 6, 7, 8}) {
    std::vector<uint8_t> levels;
    uint32_t state = 12345;
    for (int i = 0; i < 4000; ++i) {
      state = state * 1103515245u + 12345u;
      const size_t run = (state >> 16) % 3 == 0 ? (state >> 8) % 40 + 1 : (state >> 8) % 3 + 1;
      levels.insert(levels.end(), run, static_cast<uint8_t>((state >> 20) % (1u << width)));
    }
    for (size_t n : {levels.size(), size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{17}, size_t{1001}}) {
      std::string from_bytes, from_values;
      EncodeRleHybrid(levels.data(), n, width, from_bytes);
      EncodeRleHybrid(std::vector<uint32_t>(levels.begin(), levels.begin() + static_cast<long>(n)), width, from_values);
      EXPECT_EQ(from_bytes, from_values) << "width " << width << ", " << n << " levels";
      std::vector<uint32_t> back;
      ASSERT_TRUE(DecodeRleHybrid(from_bytes, width, n, back).ok()) << n;
      EXPECT_TRUE(std::equal(back.begin(), back.end(), levels.begin())) << "width " << width << ", " << n;
    }
  }
}

// The decoder unpacks bit-packed groups a batch (64 groups) at a time, a word per group where
// eight bytes are left: every width, a literal stretch longer than a batch, short stretches
// between runs, a last group at the very end of the input, a count that stops inside a group,
// and input cut at about a hundred places.
TEST(RleHybrid, DecodesEveryWidthAndStopsAtTheCount) {
  for (int width = 0; width <= 32; ++width) {
    const uint64_t limit = width == 32 ? 0xFFFFFFFFull : (uint64_t{1} << width) - 1;
    std::vector<uint32_t> values;
    uint64_t state = 88172645463325252ull;
    auto next = [&] {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      return static_cast<uint32_t>((state >> 11) & limit);
    };
    // 1,500 values no two neighbours alike: one bit-packed run of 188 groups (width 0: a run).
    for (int i = 0; i < 1500; ++i) {
      uint32_t v = next();
      if (!values.empty() && v == values.back()) v ^= 1u & static_cast<uint32_t>(limit);
      values.push_back(v);
    }
    // Then short literal stretches between runs of 20 to 49.
    for (int i = 0; i < 1500; ++i) {
      const uint32_t v = next();
      values.insert(values.end(), state % 11 == 0 ? 20 + state % 30 : 1, v);
    }
    std::string encoded;
    EncodeRleHybrid(values, width, encoded);
    for (size_t n : {values.size(), values.size() - 1, size_t{1}, size_t{7}, size_t{9}, size_t{513}, size_t{1029}}) {
      std::vector<uint32_t> back{99};  // replaced, not appended to
      ASSERT_TRUE(DecodeRleHybrid(encoded, width, n, back).ok()) << "width " << width << ", " << n;
      ASSERT_EQ(back.size(), n);
      EXPECT_TRUE(std::equal(back.begin(), back.end(), values.begin())) << "width " << width << ", " << n;
    }
    for (size_t cut = 0; cut < encoded.size(); cut += 1 + encoded.size() / 97) {
      std::vector<uint32_t> back;
      EXPECT_FALSE(DecodeRleHybrid(std::string_view(encoded).substr(0, cut), width, values.size(), back).ok())
          << "width " << width << ", cut at " << cut;
    }
  }
  // Hand-made: the 3-bit values 0..7 in one group of three bytes, nothing after it.
  std::vector<uint32_t> back;
  ASSERT_TRUE(DecodeRleHybrid(std::string("\x03\x88\xc6\xfa", 4), 3, 8, back).ok());
  EXPECT_EQ(back, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(RleHybrid, ShortStretchesAreBitPacked) {
  std::string out;
  EncodeRleHybrid({1, 0, 1}, 1, out);
  EXPECT_EQ(Hex(out), "0305");  // one group of 8: header (1 << 1) | 1, bits 101
}

TEST(RleHybrid, LiteralsBorrowFromARunToFillAGroup) {
  std::string out;
  // 3 literals then 13 zeros: the first group takes 5 zeros, the remaining 8 are a run.
  EncodeRleHybrid({1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 2, out);
  EXPECT_EQ(Hex(out), "03" "3900" "1000");  // 1 | 2<<2 | 3<<4 = 0x39
}

TEST(RleHybrid, OneRunOfAValueIsToldWithoutDecoding) {
  std::string nulls, mixed, packed, ones;
  EncodeRleHybrid(std::vector<uint32_t>(5000, 0), 2, nulls);
  std::vector<uint32_t> v(5000, 0);
  v[4999] = 1;
  EncodeRleHybrid(v, 2, mixed);
  EncodeRleHybrid(std::vector<uint32_t>{0, 1, 0, 1, 0, 1, 0, 1}, 1, packed);
  EncodeRleRun(3, 300, 2, ones);
  EXPECT_TRUE(IsOneRunOf(nulls, 2, 5000, 0));
  EXPECT_TRUE(IsOneRunOf(nulls, 2, 4000, 0)) << "a run at least as long";
  EXPECT_FALSE(IsOneRunOf(nulls, 2, 5001, 0));
  EXPECT_FALSE(IsOneRunOf(mixed, 2, 5000, 0)) << "the run ends before the last value";
  EXPECT_FALSE(IsOneRunOf(packed, 1, 8, 0));
  EXPECT_TRUE(IsOneRunOf(ones, 2, 300, 3));
  EXPECT_FALSE(IsOneRunOf(ones, 2, 300, 0));
  EXPECT_FALSE(IsOneRunOf("", 2, 1, 0));
  EXPECT_FALSE(IsOneRunOf(std::string_view(nulls).substr(0, 1), 2, 10, 0)) << "the value is cut off";
}

TEST(BitWidth, Values) {
  EXPECT_EQ(BitWidth(0), 0);
  EXPECT_EQ(BitWidth(1), 1);
  EXPECT_EQ(BitWidth(3), 2);
  EXPECT_EQ(BitWidth(4), 3);
}

}  // namespace
}  // namespace fhirlake::parquet
