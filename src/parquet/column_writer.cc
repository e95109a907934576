#include "fhirlake/parquet/column_writer.h"

#include <snappy-c.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "fhirlake/parquet/rle.h"
#include "fhirlake/parquet/thrift_compact.h"

namespace fhirlake::parquet {
namespace {

constexpr int32_t kEncodingPlain = 0, kEncodingRle = 3, kEncodingRleDictionary = 8;
constexpr int32_t kPageData = 0, kPageDictionary = 2;
constexpr size_t kMaxStatBytes = 64;  // longer strings get no min/max (exact values only)

template <typename T>
void AppendLe(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts (x86_64, aarch64)
  out.append(buf, sizeof(T));
}

// Compares PLAIN-encoded statistics values in the column's sort order.
bool Less(PhysicalType type, std::string_view a, std::string_view b) {
  switch (type) {
    case PhysicalType::kBoolean: return a[0] < b[0];
    case PhysicalType::kInt32: {
      int32_t x, y;
      std::memcpy(&x, a.data(), 4);
      std::memcpy(&y, b.data(), 4);
      return x < y;
    }
    case PhysicalType::kInt64: {
      int64_t x, y;
      std::memcpy(&x, a.data(), 8);
      std::memcpy(&y, b.data(), 8);
      return x < y;
    }
    case PhysicalType::kDouble: {
      double x, y;
      std::memcpy(&x, a.data(), 8);
      std::memcpy(&y, b.data(), 8);
      return x < y;
    }
    case PhysicalType::kByteArray: return a < b;  // char_traits<char> compares as unsigned bytes
  }
  return false;
}

void WriteLevels(const std::vector<uint8_t>& levels, size_t begin, size_t end, int max_level, std::string& out) {
  if (max_level == 0) return;
  std::string encoded;
  EncodeRleHybrid(levels.data() + begin, end - begin, BitWidth(static_cast<uint64_t>(max_level)), encoded);
  AppendLe<uint32_t>(out, static_cast<uint32_t>(encoded.size()));
  out += encoded;
}

Result<std::string> Compress(const ColumnWriter::Options& o, const std::string& raw) {
  if (o.compression == Compression::kUncompressed) return raw;
  if (o.compression == Compression::kSnappy) {
    size_t n = snappy_max_compressed_length(raw.size());
    std::string out(n, '\0');
    if (snappy_compress(raw.data(), raw.size(), out.data(), &n) != SNAPPY_OK) return InternalError("snappy failed");
    out.resize(n);
    return out;
  }
  // One compression context per thread, reused for every page (creating one per call costs
  // more than compressing a small page).
  struct Context {
    ZSTD_CCtx* ctx = ZSTD_createCCtx();
    ~Context() { ZSTD_freeCCtx(ctx); }
  };
  static thread_local Context context;
  static thread_local std::string buffer;
  const size_t bound = ZSTD_compressBound(raw.size());
  if (buffer.size() < bound) buffer.resize(bound);
  size_t n = ZSTD_compressCCtx(context.ctx, buffer.data(), bound, raw.data(), raw.size(), o.zstd_level);
  if (ZSTD_isError(n)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(n));
  return std::string(buffer.data(), n);
}

void PageHeader(int32_t type, size_t uncompressed, size_t compressed, int32_t num_values, int32_t encoding,
                ThriftCompactWriter& w) {
  w.Clear();
  w.I32(1, type);
  w.I32(2, static_cast<int32_t>(uncompressed));
  w.I32(3, static_cast<int32_t>(compressed));
  if (type == kPageData) {
    w.BeginStruct(5);
    w.I32(1, num_values);
    w.I32(2, encoding);
    w.I32(3, kEncodingRle);
    w.I32(4, kEncodingRle);
    w.EndStruct();
  } else {
    w.BeginStruct(7);
    w.I32(1, num_values);
    w.I32(2, kEncodingPlain);
    w.EndStruct();
  }
  w.Finish();
}

}  // namespace

ColumnWriter::ColumnWriter(const SchemaNode& leaf, const uint64_t* current_row)
    : leaf_(leaf), current_row_(current_row) {}

void ColumnWriter::PadRows(uint64_t rows) {
  if (rows <= rows_) return;
  const size_t n = rows - rows_;
  if (leaf_.max_rep > 0) rep_.insert(rep_.end(), n, 0);
  def_.insert(def_.end(), n, 0);
  rows_ = rows;
}

void ColumnWriter::Level(uint16_t rep, uint16_t def) {
  if (rep == 0) {
    if (current_row_) PadRows(*current_row_);
    ++rows_;
  }
  if (leaf_.max_rep > 0) rep_.push_back(static_cast<uint8_t>(rep));
  def_.push_back(static_cast<uint8_t>(def));
}

void ColumnWriter::AddNull(uint16_t rep, uint16_t def) { Level(rep, def); }

void ColumnWriter::Present(uint16_t rep) {
  Level(rep, static_cast<uint16_t>(leaf_.max_def));
  ++present_;
}

void ColumnWriter::UpdateMinMax(std::string_view plain) {
  if (min_max_too_long_) return;
  if (plain.size() > kMaxStatBytes) {
    min_max_too_long_ = true;
    has_min_max_ = false;
    return;
  }
  if (!has_min_max_) {
    min_ = max_ = std::string(plain);
    has_min_max_ = true;
    return;
  }
  if (Less(leaf_.type, plain, min_)) min_ = std::string(plain);
  if (Less(leaf_.type, max_, plain)) max_ = std::string(plain);
}

void ColumnWriter::AddBool(uint16_t rep, bool v) {
  Present(rep);
  bools_.push_back(v);
  char b = v ? 1 : 0;
  UpdateMinMax(std::string_view(&b, 1));
}

void ColumnWriter::AddInt32(uint16_t rep, int32_t v) {
  Present(rep);
  size_t at = values_.size();
  AppendLe(values_, v);
  UpdateMinMax(std::string_view(values_).substr(at));
}

void ColumnWriter::AddInt64(uint16_t rep, int64_t v) {
  Present(rep);
  size_t at = values_.size();
  AppendLe(values_, v);
  UpdateMinMax(std::string_view(values_).substr(at));
}

void ColumnWriter::AddDouble(uint16_t rep, double v) {
  Present(rep);
  size_t at = values_.size();
  AppendLe(values_, v);
  if (!std::isnan(v)) UpdateMinMax(std::string_view(values_).substr(at));
}

void ColumnWriter::AddBytes(uint16_t rep, std::string_view v) {
  Present(rep);
  offsets_.push_back(static_cast<uint32_t>(values_.size()));
  AppendLe<uint32_t>(values_, static_cast<uint32_t>(v.size()));
  values_.append(v);
  UpdateMinMax(v);
}

Result<ColumnChunkInfo> ColumnWriter::WriteChunk(const Options& o, int64_t file_offset, std::string& out) {
  ColumnChunkInfo info;
  info.file_offset = file_offset;
  info.num_values = static_cast<int64_t>(def_.size());
  info.null_count = static_cast<int64_t>(def_.size() - present_);
  info.has_min_max = has_min_max_;
  info.min = min_;
  info.max = max_;
  const size_t start = out.size();
  ThriftCompactWriter header;

  // Dictionary for strings that repeat enough to pay for it.
  std::vector<uint32_t> indices;
  std::string dictionary;
  if (leaf_.type == PhysicalType::kByteArray && present_ > 0) {
    std::unordered_map<std::string_view, uint32_t> ids;
    ids.reserve(present_);
    indices.reserve(present_);
    for (uint32_t off : offsets_) {
      uint32_t len;
      std::memcpy(&len, values_.data() + off, 4);
      std::string_view v(values_.data() + off + 4, len);
      auto [it, inserted] = ids.emplace(v, static_cast<uint32_t>(ids.size()));
      if (inserted) {
        dictionary.append(values_.data() + off, 4 + len);
        if (dictionary.size() > o.dictionary_limit) break;
      }
      indices.push_back(it->second);
    }
    info.dictionary = dictionary.size() <= o.dictionary_limit && ids.size() <= present_ / 2 + 1;
    if (info.dictionary) {
      auto compressed = Compress(o, dictionary);
      if (!compressed.ok()) return compressed.status();
      PageHeader(kPageDictionary, dictionary.size(), compressed->size(), static_cast<int32_t>(ids.size()), 0, header);
      info.dictionary_page_offset = file_offset + static_cast<int64_t>(out.size() - start);
      out += header.bytes();
      out += *compressed;
      info.uncompressed_size += static_cast<int64_t>(header.bytes().size() + dictionary.size());
    }
  }
  int index_width = 0;
  if (info.dictionary) {
    uint32_t max_index = indices.empty() ? 0 : *std::max_element(indices.begin(), indices.end());
    index_width = std::max(1, BitWidth(max_index));
  }

  // Data pages, split at row boundaries (rep == 0) once they reach the page size.
  info.data_page_offset = file_offset + static_cast<int64_t>(out.size() - start);
  const size_t n = def_.size();
  const size_t fixed = leaf_.type == PhysicalType::kInt32 ? 4 : leaf_.type == PhysicalType::kBoolean ? 0 : 8;
  size_t level = 0, value = 0;
  while (level < n || (n == 0 && level == 0)) {
    size_t page_end = level, page_values = 0, bytes = 0;
    size_t value_begin = value;
    while (page_end < n) {
      if (page_end > level && bytes >= o.page_bytes && (leaf_.max_rep == 0 || rep_[page_end] == 0)) break;
      if (def_[page_end] == leaf_.max_def) {
        if (leaf_.type == PhysicalType::kByteArray) {
          uint32_t len;
          std::memcpy(&len, values_.data() + offsets_[value_begin + page_values], 4);
          bytes += 4 + len;
        } else {
          bytes += fixed + 1;
        }
        ++page_values;
      }
      bytes += 1;
      ++page_end;
    }
    std::string raw;
    if (leaf_.max_rep > 0) WriteLevels(rep_, level, page_end, leaf_.max_rep, raw);
    WriteLevels(def_, level, page_end, leaf_.max_def, raw);
    if (info.dictionary) {
      std::vector<uint32_t> page_indices(indices.begin() + static_cast<long>(value_begin),
                                         indices.begin() + static_cast<long>(value_begin + page_values));
      raw.push_back(static_cast<char>(index_width));
      EncodeRleHybrid(page_indices, index_width, raw);
    } else if (leaf_.type == PhysicalType::kBoolean) {
      std::string packed((page_values + 7) / 8, '\0');
      for (size_t i = 0; i < page_values; ++i) {
        if (bools_[value_begin + i]) packed[i / 8] = static_cast<char>(packed[i / 8] | (1 << (i % 8)));
      }
      raw += packed;
    } else if (leaf_.type == PhysicalType::kByteArray) {
      if (page_values > 0) {
        size_t from = offsets_[value_begin];
        size_t to = value_begin + page_values < offsets_.size() ? offsets_[value_begin + page_values] : values_.size();
        raw.append(values_, from, to - from);
      }
    } else {
      raw.append(values_, value_begin * fixed, page_values * fixed);
    }
    auto compressed = Compress(o, raw);
    if (!compressed.ok()) return compressed.status();
    PageHeader(kPageData, raw.size(), compressed->size(), static_cast<int32_t>(page_end - level),
               info.dictionary ? kEncodingRleDictionary : kEncodingPlain, header);
    out += header.bytes();
    out += *compressed;
    info.uncompressed_size += static_cast<int64_t>(header.bytes().size() + raw.size());
    value = value_begin + page_values;
    level = page_end;
    if (n == 0) break;
  }
  info.compressed_size = static_cast<int64_t>(out.size() - start);

  rows_ = 0;
  rep_.clear();
  def_.clear();
  values_.clear();
  offsets_.clear();
  bools_.clear();
  present_ = 0;
  has_min_max_ = min_max_too_long_ = false;
  min_.clear();
  max_.clear();
  return info;
}

}  // namespace fhirlake::parquet
