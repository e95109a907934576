// The RLE / bit-packing hybrid encoding (Parquet format, "Encodings": RLE = 3) used for
// definition and repetition levels and for dictionary indices.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::parquet {

// Number of bits needed for values up to `max_value` (0 for 0).
int BitWidth(uint64_t max_value);

// Appends the hybrid encoding of `values` (each < 2^bit_width) to `out`, without a length
// prefix. Long runs become RLE runs; everything else is bit-packed in groups of 8.
void EncodeRleHybrid(const std::vector<uint32_t>& values, int bit_width, std::string& out);
void EncodeRleHybrid(const uint8_t* values, size_t count, int bit_width, std::string& out);
void EncodeRleHybrid(const uint32_t* values, size_t count, int bit_width, std::string& out);

// Appends one RLE run: `count` times `value` (< 2^bit_width), without a length prefix.
void EncodeRleRun(uint32_t value, size_t count, int bit_width, std::string& out);

// Whether the hybrid encoding `in` begins with one RLE run of `value` of at least `count`
// values (the levels of a page of nothing but nulls), read without decoding.
bool IsOneRunOf(std::string_view in, int bit_width, size_t count, uint32_t value);

// Decodes `count` values of the hybrid encoding from `in` (no length prefix) into `out`.
// Fails when `in` ends early or a value does not fit `bit_width`.
Status DecodeRleHybrid(std::string_view in, int bit_width, size_t count, std::vector<uint32_t>& out);

}  // namespace fhirlake::parquet
