// Deletion vectors: the example of the Delta protocol, round trips through every container
// kind, DV files and their damage checks.
#include "fhirlake/delta/deletion_vector.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace fhirlake::delta {
namespace {

using fhirlake::testing::TempDir;

TEST(DeletionVector, DecodesTheProtocolsInlineExample) {
  // PROTOCOL.md, "JSON Example 3 — Inline": rows 3, 4, 7, 11, 18, 29.
  DeletionVector dv;
  dv.storage_type = "i";
  dv.path_or_inline_dv = "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L";
  dv.size_in_bytes = 40;
  dv.cardinality = 6;
  auto rows = ReadDeletionVector("/nonexistent", dv);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, (std::vector<uint64_t>{3, 4, 7, 11, 18, 29}));
  EXPECT_EQ(dv.UniqueId(), "iwi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L");
}

TEST(DeletionVector, RoundTripsArrayAndBitmapContainersAndHighBuckets) {
  std::vector<uint64_t> rows;
  for (uint64_t i = 0; i < 10000; i += 3) rows.push_back(i);             // array container
  for (uint64_t i = 70000; i < 70000 + 20000; ++i) rows.push_back(i);   // bitmap container (> 4096)
  rows.push_back((uint64_t{1} << 32) + 5);                             // a second 32-bit bucket
  auto back = DecodeRowBitmap(EncodeRowBitmap(rows));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, rows);
  auto empty = DecodeRowBitmap(EncodeRowBitmap({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(DecodeRowBitmap(EncodeRowBitmap(rows).substr(0, 30)).ok());
}

TEST(DeletionVector, Z85RoundTripsAndRejectsForeignCharacters) {
  std::string bytes = "\x86\x4F\xD2\x6F\xB5\x59\xF7\x5B";  // the example of ZeroMQ RFC 32
  EXPECT_EQ(Z85Encode(bytes), "HelloWorld");
  auto back = Z85Decode("HelloWorld");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, bytes);
  EXPECT_FALSE(Z85Decode("Hello Worl").ok());
  EXPECT_FALSE(Z85Decode("Hell").ok());
}

TEST(DeletionVector, FilesHoldSeveralVectorsAndDetectDamage) {
  TempDir dir;
  std::vector<std::vector<uint64_t>> rows = {{1, 2, 3}, {0}, {5, 100000}};
  auto dvs = WriteDeletionVectors(dir.path(), rows);
  ASSERT_TRUE(dvs.ok()) << dvs.status().message();
  ASSERT_EQ(dvs->size(), 3u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*dvs)[i].storage_type, "u");
    EXPECT_EQ((*dvs)[i].path_or_inline_dv.size(), 20u);
    EXPECT_EQ((*dvs)[i].cardinality, static_cast<int64_t>(rows[i].size()));
    auto back = ReadDeletionVector(dir.path(), (*dvs)[i]);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, rows[i]);
  }
  const auto file = DeletionVectorFile(dir.path(), (*dvs)[0]);
  EXPECT_TRUE(std::filesystem::exists(file)) << file;
  EXPECT_EQ(file.filename().string().rfind("deletion_vector_", 0), 0u);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(*(*dvs)[1].offset + 4 + 14);
    f.put('\x7f');
  }
  auto damaged = ReadDeletionVector(dir.path(), (*dvs)[1]);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("checksum"), std::string::npos) << damaged.status().message();
  DeletionVector wrong = (*dvs)[2];
  wrong.cardinality = 7;
  EXPECT_FALSE(ReadDeletionVector(dir.path(), wrong).ok());
}

// Storage type 'p' (an absolute path, as engines write it for a table's clone): read from a
// plain path and from a file: URI; a path in another store is refused with a message.
TEST(DeletionVector, AbsolutePathsAndFileUrisAreRead) {
  TempDir dir;
  auto dvs = WriteDeletionVectors(dir.path(), {{4, 9}});
  ASSERT_TRUE(dvs.ok()) << dvs.status().message();
  DeletionVector absolute = (*dvs)[0];
  absolute.storage_type = "p";
  const std::string file = DeletionVectorFile(dir.path(), (*dvs)[0]).string();
  TempDir elsewhere;  // the table root plays no part
  for (const std::string& where : {file, "file:" + file, "file://" + file}) {
    absolute.path_or_inline_dv = where;
    auto rows = ReadDeletionVector(elsewhere.path(), absolute);
    ASSERT_TRUE(rows.ok()) << where << ": " << rows.status().message();
    EXPECT_EQ(*rows, (std::vector<uint64_t>{4, 9})) << where;
  }
  absolute.path_or_inline_dv = "s3://bucket/table/deletion_vector_x.bin";
  auto foreign = ReadDeletionVector(elsewhere.path(), absolute);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("another store"), std::string::npos) << foreign.status().message();
}

TEST(DeletionVector, ABitmapWithRowsOutOfOrderIsRefused) {
  // Found by fuzz/deletion_vector_fuzz: containers with descending keys decoded to rows out of
  // order, which readers' binary searches would misread.
  const std::string bytes(
      "\xd1\xd3\x39\x64\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x3a\x30\x00\x00\x02\x00\x00\x00"
      "\x00\x04\x01\x00\x01\x00\x00\x00\x18\x00\x00\x00\xc0\xc7\xa1\x56\xfe\x7f\x00\x00\x70\x11",
      46);
  auto rows = DecodeRowBitmap(bytes);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kDataLoss);
  auto good = DecodeRowBitmap(EncodeRowBitmap({1, 5, 70000, (1ull << 32) + 3}));
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good.value(), (std::vector<uint64_t>{1, 5, 70000, (1ull << 32) + 3}));
}

}  // namespace
}  // namespace fhirlake::delta
