#include "fhirlake/parquet/rle.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace fhirlake::parquet {
namespace {

// How many values from values[i] on equal it (at least 1).
template <typename T>
size_t RunFrom(const T* values, size_t i, size_t n) {
  size_t j = i + 1;
  while (j < n && values[j] == values[i]) ++j;
  return j - i;
}

// Levels: eight at a time (columns of mostly absent elements are long runs of one level).
template <>
size_t RunFrom<uint8_t>(const uint8_t* values, size_t i, size_t n) {
  const uint64_t pattern = 0x0101010101010101ull * values[i];
  size_t j = i + 1;
  for (; j + 8 <= n; j += 8) {
    uint64_t word;
    std::memcpy(&word, values + j, 8);
    if (const uint64_t diff = word ^ pattern) return j - i + static_cast<size_t>(std::countr_zero(diff)) / 8;  // little-endian
  }
  while (j < n && values[j] == values[i]) ++j;
  return j - i;
}

void Varint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Eight byte values below 2^width (one per byte of `word`, the first in the low byte) packed
// into their low 8 * width bits: neighbours are joined in pairs, then fours, then eights.
inline uint64_t PackBytes(uint64_t word, unsigned width) {
  word = (word & 0x00FF00FF00FF00FFull) | ((word & 0xFF00FF00FF00FF00ull) >> (8 - width));
  word = (word & 0x0000FFFF0000FFFFull) | ((word & 0xFFFF0000FFFF0000ull) >> (16 - 2 * width));
  return (word & 0xFFFFFFFFull) | ((word >> 32) << (4 * width));
}

// Bit-packs values[begin, begin + count) (count a multiple of 8, or the tail padded with 0).
template <typename T>
void BitPack(const T* values, size_t begin, size_t count, int width, std::string& out) {
  size_t groups = (count + 7) / 8;
  Varint((groups << 1) | 1, out);
  if constexpr (sizeof(T) == 1) {
    // Levels: a word of eight at a time.
    const size_t w = static_cast<size_t>(width), at = out.size();
    out.resize(at + groups * w);
    for (size_t g = 0; g < groups; ++g) {
      uint64_t word = 0;
      if (count - g * 8 >= 8) {
        std::memcpy(&word, values + begin + g * 8, 8);
      } else {
        std::memcpy(&word, values + begin + g * 8, count - g * 8);  // the tail, padded with 0
      }
      const uint64_t packed = PackBytes(word, static_cast<unsigned>(width));
      std::memcpy(out.data() + at + g * w, &packed, w);  // little-endian hosts
    }
    return;
  }
  if (width <= 8) {
    // Eight values of at most 8 bits fill at most one word: `width` bytes per group.
    const size_t w = static_cast<size_t>(width), at = out.size();
    out.resize(at + groups * w);
    for (size_t g = 0; g < groups; ++g) {
      uint64_t acc = 0;
      const size_t first = begin + g * 8, n = std::min<size_t>(8, count - g * 8);
      for (size_t k = 0; k < n; ++k) acc |= static_cast<uint64_t>(values[first + k]) << (k * w);
      std::memcpy(out.data() + at + g * w, &acc, w);  // little-endian hosts
    }
    return;
  }
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

template <typename T>
void Encode(const T* values, size_t n, int width, std::string& out) {
  size_t literal_start = 0;  // values[literal_start, i) wait to be bit-packed
  size_t i = 0;
  while (i < n) {
    size_t run = RunFrom(values, i, n);
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

}  // namespace

void EncodeRleRun(uint32_t value, size_t count, int bit_width, std::string& out) { Rle(value, count, bit_width, out); }

int BitWidth(uint64_t max_value) {
  int w = 0;
  while (max_value > 0) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

void EncodeRleHybrid(const std::vector<uint32_t>& values, int width, std::string& out) {
  Encode(values.data(), values.size(), width, out);
}

void EncodeRleHybrid(const uint8_t* values, size_t count, int width, std::string& out) {
  Encode(values, count, width, out);
}

void EncodeRleHybrid(const uint32_t* values, size_t count, int width, std::string& out) {
  Encode(values, count, width, out);
}

namespace {

// The varint header of the run at `pos` (moved past it); false when `in` ends first.
bool ReadRunHeader(std::string_view in, size_t& pos, uint64_t& header) {
  header = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= in.size() || shift > 63) return false;
    const auto b = static_cast<uint8_t>(in[pos++]);
    header |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
}

// The value of an RLE run at `pos` (moved past it): `value_bytes` little-endian bytes.
bool ReadRunValue(std::string_view in, size_t& pos, size_t value_bytes, uint32_t& v) {
  if (value_bytes > in.size() - pos) return false;
  v = 0;
  for (size_t b = 0; b < value_bytes; ++b) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[pos + b])) << (8 * b);
  pos += value_bytes;
  return true;
}

// Unpacks `groups` bit-packed groups of eight `W`-bit values (W bytes each) from `in`, which
// ends at `end`, into out[0, 8 * groups). A group is read as one word where eight bytes are
// left, else byte by byte.
template <unsigned W>
void UnpackGroupsOf(const uint8_t* in, size_t groups, const uint8_t* end, uint32_t* out) {
  constexpr uint64_t kMask = (uint64_t{1} << W) - 1;
  for (size_t g = 0; g < groups; ++g, in += W, out += 8) {
    uint64_t word = 0;
    if (end - in >= 8) {
      std::memcpy(&word, in, 8);  // little-endian hosts; the bytes past the group are shifted out
    } else {
      std::memcpy(&word, in, W);
    }
#pragma GCC unroll 8
    for (unsigned k = 0; k < 8; ++k) out[k] = static_cast<uint32_t>((word >> (k * W)) & kMask);
  }
}

// As UnpackGroupsOf, for any width up to 32.
void UnpackGroups(unsigned width, const uint8_t* in, size_t groups, const uint8_t* end, uint32_t* out) {
  switch (width) {
    case 0: std::fill(out, out + 8 * groups, 0u); return;
    case 1: return UnpackGroupsOf<1>(in, groups, end, out);
    case 2: return UnpackGroupsOf<2>(in, groups, end, out);
    case 3: return UnpackGroupsOf<3>(in, groups, end, out);
    case 4: return UnpackGroupsOf<4>(in, groups, end, out);
    case 5: return UnpackGroupsOf<5>(in, groups, end, out);
    case 6: return UnpackGroupsOf<6>(in, groups, end, out);
    case 7: return UnpackGroupsOf<7>(in, groups, end, out);
    case 8: return UnpackGroupsOf<8>(in, groups, end, out);
    default: break;
  }
  const uint64_t mask = width == 32 ? 0xFFFFFFFFull : (1ull << width) - 1;
  uint64_t acc = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < 8 * groups; ++i) {
    while (bits < width) {
      acc |= static_cast<uint64_t>(*in++) << bits;
      bits += 8;
    }
    out[i] = static_cast<uint32_t>(acc & mask);
    acc >>= width;
    bits -= width;
  }
}

}  // namespace

bool IsOneRunOf(std::string_view in, int width, size_t count, uint32_t value) {
  if (width < 0 || width > 32) return false;
  size_t pos = 0;
  uint64_t header;
  uint32_t v;
  return ReadRunHeader(in, pos, header) && !(header & 1) && (header >> 1) >= count &&
         ReadRunValue(in, pos, static_cast<size_t>((width + 7) / 8), v) && v == value;
}

Status DecodeRleHybrid(std::string_view in, int width, size_t count, std::vector<uint32_t>& out) {
  if (width < 0 || width > 32) return DataLoss("RLE bit width " + std::to_string(width) + " is out of range");
  const size_t value_bytes = static_cast<size_t>((width + 7) / 8);
  const uint64_t mask = width == 32 ? 0xFFFFFFFFull : (1ull << width) - 1;
  const auto w = static_cast<unsigned>(width);
  const auto* const bytes = reinterpret_cast<const uint8_t*>(in.data());
  out.clear();
  out.reserve(count);
  size_t pos = 0;
  while (out.size() < count) {
    uint64_t header;
    if (!ReadRunHeader(in, pos, header)) return DataLoss("RLE data ends early");
    if (header & 1) {  // bit-packed: (header >> 1) groups of 8 values, `width` bytes each
      const uint64_t groups = header >> 1;
      if (w != 0 && groups > (in.size() - pos) / w) return DataLoss("RLE data ends early");
      // Unpacked a batch of groups at a time; groups past `count` are padding, not unpacked.
      constexpr size_t kBatch = 64;
      uint32_t batch[8 * kBatch];
      const uint8_t* group = bytes + pos;
      for (uint64_t left = groups; left > 0 && out.size() < count;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>({left, kBatch, (count - out.size() + 7) / 8}));
        UnpackGroups(w, group, n, bytes + in.size(), batch);
        out.insert(out.end(), batch, batch + std::min(8 * n, count - out.size()));
        group += n * w;
        left -= n;
      }
      pos += static_cast<size_t>(groups * w);
    } else {  // a run of one value
      uint64_t run = header >> 1;
      uint32_t v;
      if (!ReadRunValue(in, pos, value_bytes, v)) return DataLoss("RLE data ends early");
      if (v > mask) return DataLoss("RLE run value does not fit its bit width");
      if (run > count - out.size()) run = count - out.size();
      out.insert(out.end(), static_cast<size_t>(run), v);
    }
  }
  return Status::Ok();
}

}  // namespace fhirlake::parquet
