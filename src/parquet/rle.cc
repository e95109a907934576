#include "fhirlake/parquet/rle.h"

namespace fhirlake::parquet {
namespace {

void Varint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Bit-packs values[begin, begin + count) (count a multiple of 8, or the tail padded with 0).
void BitPack(const std::vector<uint32_t>& values, size_t begin, size_t count, int width, std::string& out) {
  size_t groups = (count + 7) / 8;
  Varint((groups << 1) | 1, out);
  uint64_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < groups * 8; ++i) {
    uint64_t v = begin + i < begin + count ? values[begin + i] : 0;
    acc |= v << bits;
    bits += width;
    while (bits >= 8) {
      out.push_back(static_cast<char>(acc & 0xFF));
      acc >>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out.push_back(static_cast<char>(acc & 0xFF));
}

void Rle(uint32_t value, size_t count, int width, std::string& out) {
  Varint(static_cast<uint64_t>(count) << 1, out);
  for (int b = 0; b < (width + 7) / 8; ++b) out.push_back(static_cast<char>((value >> (8 * b)) & 0xFF));
}

}  // namespace

int BitWidth(uint64_t max_value) {
  int w = 0;
  while (max_value > 0) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

void EncodeRleHybrid(const std::vector<uint32_t>& values, int width, std::string& out) {
  const size_t n = values.size();
  size_t literal_start = 0;  // values[literal_start, i) wait to be bit-packed
  size_t i = 0;
  while (i < n) {
    size_t run = 1;
    while (i + run < n && values[i + run] == values[i]) ++run;
    if (run >= 8) {
      // Literals are packed in whole groups of 8: lend them values from this run.
      size_t pending = i - literal_start;
      size_t lend = (8 - pending % 8) % 8;
      if (pending > 0) {
        BitPack(values, literal_start, pending + lend, width, out);
        i += lend;
        run -= lend;
      }
      if (run > 0) Rle(values[i], run, width, out);
      i += run;
      literal_start = i;
    } else {
      i += run;
    }
  }
  if (literal_start < n) BitPack(values, literal_start, n - literal_start, width, out);
}

}  // namespace fhirlake::parquet
