#include "fhirlake/parquet/column_writer.h"

#include <snappy-c.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "fhirlake/parquet/rle.h"
#include "fhirlake/parquet/thrift_compact.h"

namespace fhirlake::parquet {
namespace {

// A fast hash of a dictionary candidate, 8 bytes at a time (multiply and xor-shift), seeded
// once per process so that values crafted to collide cannot be prepared in advance. The last
// bytes are read as one word that overlaps the ones before (no byte loop, no memcpy call).
const uint64_t kDictionarySeed = (uint64_t{std::random_device()()} << 32) ^ std::random_device()();

inline uint64_t DictionaryHash(std::string_view v) {
  auto word = [](const char* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  auto half = [](const char* p) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    return uint64_t{w};
  };
  const char* p = v.data();
  const size_t n = v.size();
  uint64_t h = kDictionarySeed ^ (n * 0x9e3779b97f4a7c15ull);
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      h = (h ^ word(p + i)) * 0xbf58476d1ce4e5b9ull;
      h ^= h >> 31;
    }
    h = (h ^ word(p + n - 8)) * 0x94d049bb133111ebull;
  } else if (n >= 4) {
    h = (h ^ (half(p) << 32 | half(p + n - 4))) * 0x94d049bb133111ebull;
  } else if (n > 0) {
    const uint64_t w = uint64_t{static_cast<uint8_t>(p[0])} << 16 | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
                       static_cast<uint8_t>(p[n - 1]);
    h = (h ^ w) * 0x94d049bb133111ebull;
  }
  h ^= h >> 29;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

constexpr int32_t kEncodingPlain = 0, kEncodingRle = 3, kEncodingRleDictionary = 8;
constexpr int32_t kPageData = 0, kPageDictionary = 2;
constexpr size_t kMaxStatBytes = 64;  // a chunk whose min or max is longer gets no min/max (exact values only)

template <typename T, typename Out>
void AppendLe(Out& out, T v) {
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
    case PhysicalType::kFixedLenByteArray: {
      // DECIMAL: big-endian two's complement, so signed on the first byte.
      auto x = static_cast<unsigned char>(a[0] ^ 0x80), y = static_cast<unsigned char>(b[0] ^ 0x80);
      return x != y ? x < y : a.substr(1) < b.substr(1);
    }
  }
  return false;
}

// Levels [begin, end) as a data page v1 holds them: their byte length, then the RLE hybrid.
void WriteLevels(const ValueBuffer& levels, size_t begin, size_t end, int max_level, std::string& out) {
  if (max_level == 0) return;
  const size_t at = out.size();
  AppendLe<uint32_t>(out, 0);
  EncodeRleHybrid(reinterpret_cast<const uint8_t*>(levels.data()) + begin, end - begin, BitWidth(static_cast<uint64_t>(max_level)), out);
  const auto length = static_cast<uint32_t>(out.size() - at - 4);
  std::memcpy(out.data() + at, &length, 4);
}

// The compressed form of `raw`: a view of a per-thread buffer (valid until the thread's next
// call), or of `raw` itself when the column is uncompressed.
Result<std::string_view> Compress(const ColumnWriter::Options& o, std::string_view raw) {
  if (o.compression == Compression::kUncompressed) return raw;
  static thread_local std::string buffer;
  if (o.compression == Compression::kSnappy) {
    size_t n = snappy_max_compressed_length(raw.size());
    if (buffer.size() < n) buffer.resize(n);
    if (snappy_compress(raw.data(), raw.size(), buffer.data(), &n) != SNAPPY_OK) return InternalError("snappy failed");
    return std::string_view(buffer.data(), n);
  }
  // One compression context per thread, reused for every page (creating one per call costs
  // more than compressing a small page).
  struct Context {
    ZSTD_CCtx* ctx = ZSTD_createCCtx();
    ~Context() { ZSTD_freeCCtx(ctx); }
  };
  static thread_local Context context;
  const size_t bound = ZSTD_compressBound(raw.size());
  if (buffer.size() < bound) buffer.resize(bound);
  size_t n = ZSTD_compressCCtx(context.ctx, buffer.data(), bound, raw.data(), raw.size(), o.zstd_level);
  if (ZSTD_isError(n)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(n));
  return std::string_view(buffer.data(), n);
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

// Appends a page to `out`: its header, then `raw` compressed. Returns the page's size before
// compression, header included (what ColumnMetaData.total_uncompressed_size adds up).
Result<size_t> AppendPage(const ColumnWriter::Options& o, int32_t type, std::string_view raw, size_t num_values,
                          int32_t encoding, std::string& out) {
  auto compressed = Compress(o, raw);
  if (!compressed.ok()) return compressed.status();
  ThriftCompactWriter header;
  PageHeader(type, raw.size(), compressed->size(), static_cast<int32_t>(num_values), encoding, header);
  out += header.bytes();
  out += *compressed;
  return header.bytes().size() + raw.size();
}

}  // namespace

ColumnWriter::ColumnWriter(const SchemaNode& leaf, const ColumnWriterOptions& options, const uint64_t* current_row,
                           const GroupNulls* groups, std::vector<int> ancestors)
    : leaf_(leaf), options_(options), current_row_(current_row), groups_(groups), ancestors_(std::move(ancestors)),
      pageable_(leaf_.type == PhysicalType::kByteArray && leaf_.max_rep == 0 && ancestors_.empty()) {}

// The ancestors that have had group nulls in this file, each with what it had taken.
void ColumnWriter::FindLiveAncestors() {
  std::vector<int> live;
  std::vector<size_t> taken;
  for (int g : ancestors_) {
    if (!groups_->used[static_cast<size_t>(g)]) continue;
    live.push_back(g);
    auto it = std::find(live_.begin(), live_.end(), g);
    taken.push_back(it == live_.end() ? 0 : taken_[static_cast<size_t>(it - live_.begin())]);
  }
  live_ = std::move(live);
  taken_ = std::move(taken);
  live_seen_ = groups_->used_groups;
}

// The group nulls are merged in the order they were recorded: that is the order of the
// leaf's levels, as each ancestor's list is in order and the leaf's own levels come after
// every null recorded before them (Level takes them first).
void ColumnWriter::TakeGroupNulls() {
  if (!groups_ || groups_->seq == taken_seq_) return;
  if (groups_->used_groups != live_seen_) FindLiveAncestors();
  // Most calls find that the nulls recorded since the last ones were of other groups.
  bool fresh = false;
  for (int g : live_) fresh |= groups_->end_seq[static_cast<size_t>(g)] > taken_seq_;
  if (!fresh) {
    taken_seq_ = groups_->seq;
    return;
  }
  while (true) {
    size_t best = live_.size();
    uint64_t best_seq = UINT64_MAX;
    for (size_t a = 0; a < live_.size(); ++a) {
      const auto& nulls = groups_->by_group[static_cast<size_t>(live_[a])];
      if (taken_[a] < nulls.size() && nulls[taken_[a]].seq < best_seq) {
        best = a;
        best_seq = nulls[taken_[a]].seq;
      }
    }
    if (best == live_.size()) break;
    const auto& nulls = groups_->by_group[static_cast<size_t>(live_[best])];
    // The nulls of this ancestor up to the next one of another ancestor, in one go.
    uint64_t until = UINT64_MAX;
    for (size_t a = 0; a < live_.size(); ++a) {
      if (a == best) continue;
      const auto& other = groups_->by_group[static_cast<size_t>(live_[a])];
      if (taken_[a] < other.size()) until = std::min(until, other[taken_[a]].seq);
    }
    size_t i = taken_[best];
    while (i < nulls.size() && nulls[i].seq < until) {
      const GroupNulls::Null& first = nulls[i];
      size_t j = i + 1;
      if (first.rep == 0) {
        // Nulls that begin consecutive rows at one level (a group most rows lack): one run.
        while (j < nulls.size() && nulls[j].seq < until && nulls[j].rep == 0 && nulls[j].def == first.def &&
               nulls[j].row == first.row + (j - i)) {
          ++j;
        }
        PadTo(first.row);
        AppendRows(first.def, j - i);
      } else {
        LevelInRow(first.row, first.rep, first.def);
      }
      i = j;
    }
    taken_[best] = i;
  }
  taken_seq_ = groups_->seq;
}

void ColumnWriter::PadRows(uint64_t rows) {
  TakeGroupNulls();
  if (def_.empty() && paged_levels_ == 0 && rows > 0) {
    null_rows_ = rows;
    rows_ = rows;
    return;
  }
  PadTo(rows);
}

void ColumnWriter::PadTo(uint64_t rows) {
  if (rows <= rows_) return;
  const size_t n = rows - rows_;
  if (leaf_.max_rep > 0) rep_.append(n, 0);
  def_.append(n, 0);
  rows_ = rows;
  if (last_level_ != 0) {
    ++level_runs_;
    last_level_ = 0;
  }
}

void ColumnWriter::AccumulateStats() {
  stats_.levels += static_cast<int64_t>(paged_levels_ + def_.size() + null_rows_);
  stats_.nulls += static_cast<int64_t>(paged_levels_ + def_.size() + null_rows_ - present_);
  if (leaf_.max_rep > 0) {
    stats_.rows_by_def.resize(static_cast<size_t>(leaf_.max_def) + 1);
    stats_.rows_by_def[0] += static_cast<int64_t>(null_rows_);
    for (size_t i = 0; i < def_.size(); ++i) {
      if (rep_[i] == 0) ++stats_.rows_by_def[def_.byte(i)];
    }
  }
  if (!has_min_max_) return;
  if (!stats_.has_bounds) {
    stats_.has_bounds = true;
    stats_.min = min_;
    stats_.max = max_;
    stats_.max_cut = max_cut_;
    return;
  }
  if (Less(leaf_.type, min_, stats_.min)) stats_.min = min_;
  if (Less(leaf_.type, stats_.max, max_)) {
    stats_.max = max_;
    stats_.max_cut = max_cut_;
  } else if (max_cut_ && stats_.max == max_) {
    stats_.max_cut = true;
  }
}

void ColumnWriter::Level(uint16_t rep, uint16_t def) {
  if (groups_ && groups_->seq != taken_seq_) TakeGroupNulls();
  if (rep == 0 && current_row_) PadTo(*current_row_);
  Append(rep, def);
}

void ColumnWriter::LevelInRow(uint64_t row, uint16_t rep, uint16_t def) {
  if (rep == 0) PadTo(row);
  Append(rep, def);
}

inline void ColumnWriter::Append(uint16_t rep, uint16_t def) {
  if (rep == 0) ++rows_;
  if (leaf_.max_rep > 0) rep_.push_back(static_cast<char>(rep));
  def_.push_back(static_cast<char>(def));
  const uint16_t level = static_cast<uint16_t>(rep << 8 | def);
  if (level != last_level_) {
    ++level_runs_;
    last_level_ = level;
  }
}

void ColumnWriter::AppendRows(uint16_t def, size_t count) {
  rows_ += count;
  if (leaf_.max_rep > 0) rep_.append(count, 0);
  def_.append(count, static_cast<char>(def));
  if (def != last_level_) {  // rep 0: the level is def
    ++level_runs_;
    last_level_ = def;
  }
}

void ColumnWriter::AddNull(uint16_t rep, uint16_t def) { Level(rep, def); }

// Level() for each, with its check for the ancestors' group nulls made once (they cannot change
// during the call): calling Level() per level cost the row copy 3 % more instructions.
void ColumnWriter::AddNulls(const uint32_t* reps, const uint32_t* defs, size_t count) {
  if (count == 0) return;
  if (groups_ && groups_->seq != taken_seq_) TakeGroupNulls();
  for (size_t i = 0; i < count; ++i) {
    const auto rep = static_cast<uint16_t>(reps ? reps[i] : 0);
    if (rep == 0 && current_row_) PadTo(*current_row_);
    Append(rep, static_cast<uint16_t>(defs[i]));
  }
}

void ColumnWriter::AddNullRows(uint16_t def, size_t count) {
  if (count == 0) return;
  if (groups_ && groups_->seq != taken_seq_) TakeGroupNulls();
  if (current_row_) PadTo(*current_row_);
  AppendRows(def, count);
}

void ColumnWriter::Present(uint16_t rep) {
  Level(rep, static_cast<uint16_t>(leaf_.max_def));
  ++present_;
}

void ColumnWriter::UpdateMinMax(std::string_view plain) {
  // Only BYTE_ARRAY values can be longer than the cut; a cut value's prefix stays a lower
  // bound, and a cut maximum is flagged.
  const bool cut = plain.size() > ColumnStats::kBoundBytes;
  if (cut) plain = plain.substr(0, ColumnStats::kBoundBytes);
  if (!has_min_max_) {
    min_ = max_ = std::string(plain);
    min_cut_ = max_cut_ = cut;
    has_min_max_ = true;
    return;
  }
  if (Less(leaf_.type, plain, min_)) {
    min_.assign(plain);
    min_cut_ = cut;
  }
  if (Less(leaf_.type, max_, plain)) {
    max_.assign(plain);
    max_cut_ = cut;
  } else if (cut && !max_cut_ && plain == max_) {
    max_cut_ = true;
  }
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
  UpdateMinMax(values_.view().substr(at));
}

void ColumnWriter::AddInt64(uint16_t rep, int64_t v) {
  Present(rep);
  size_t at = values_.size();
  AppendLe(values_, v);
  UpdateMinMax(values_.view().substr(at));
}

void ColumnWriter::AddDouble(uint16_t rep, double v) {
  Present(rep);
  size_t at = values_.size();
  AppendLe(values_, v);
  if (!std::isnan(v)) UpdateMinMax(values_.view().substr(at));
}

void ColumnWriter::AddBytes(uint16_t rep, std::string_view v) {
  Present(rep);
  offsets_.push_back(static_cast<uint32_t>(values_.size()));
  AppendLe<uint32_t>(values_, static_cast<uint32_t>(v.size()));
  values_.append(v);  // its bounds are taken when the values leave the buffer (BytesMinMax)
  if (pageable_ && paging_ != Paging::kBuffered && values_.size() >= options_.page_bytes) PageOut();
}

void ColumnWriter::BytesMinMax(std::string_view plain) {
  while (plain.size() >= 4) {
    uint32_t len;
    std::memcpy(&len, plain.data(), 4);
    UpdateMinMax(plain.substr(4, len));
    plain.remove_prefix(4 + len);
  }
}

bool ColumnWriter::BuildDictionary(size_t limit, std::vector<uint32_t>& indices, std::string& dictionary,
                                   size_t& distinct) const {
  auto value_at = [&](uint32_t off) {
    uint32_t len;
    std::memcpy(&len, values_.data() + off, 4);
    return std::string_view(values_.data() + off + 4, len);
  };
  // Open addressing: each slot holds a value's hash tag (high 32 bits) and its dictionary id + 1
  // (low 32 bits; 0: empty); firsts[id] is where the id's value is in values_. Values are
  // compared only when the tags agree, and growing moves slots without hashing again. Grown to
  // keep at most half the slots used.
  std::vector<uint64_t> slots(1024, 0);
  std::vector<uint32_t> firsts;
  auto insert_slot = [&](std::string_view v, uint64_t tag) -> uint64_t& {
    size_t h = static_cast<size_t>(tag >> 32) & (slots.size() - 1);
    while (slots[h] != 0 && ((slots[h] ^ tag) >> 32 != 0 || value_at(firsts[(slots[h] & 0xffffffffu) - 1]) != v)) {
      h = (h + 1) & (slots.size() - 1);
    }
    return slots[h];
  };
  indices.reserve(offsets_.size());
  size_t dictionary_bytes = 0;  // the page is written only once the dictionary is known to pay
  for (uint32_t off : offsets_) {
    const std::string_view v = value_at(off);
    const uint64_t tag = DictionaryHash(v) & ~uint64_t{0xffffffffu};
    uint64_t& slot = insert_slot(v, tag);
    if (slot == 0) {
      firsts.push_back(off);
      // A dictionary pays only where at most half the values (and one) are distinct: given up
      // as soon as more are.
      if (firsts.size() > offsets_.size() / 2 + 1) return false;
      slot = tag | firsts.size();
      dictionary_bytes += 4 + v.size();
      if (dictionary_bytes > limit) return false;
      if (2 * firsts.size() > slots.size()) {
        std::vector<uint64_t> old(slots.size() * 2, 0);
        old.swap(slots);
        for (uint64_t moved : old) {
          if (moved == 0) continue;
          size_t h = static_cast<size_t>(moved >> 32) & (slots.size() - 1);
          while (slots[h] != 0) h = (h + 1) & (slots.size() - 1);
          slots[h] = moved;
        }
      }
      indices.push_back(static_cast<uint32_t>(firsts.size() - 1));
    } else {
      indices.push_back(static_cast<uint32_t>(slot & 0xffffffffu) - 1);
    }
  }
  distinct = firsts.size();
  dictionary.reserve(dictionary_bytes);
  for (uint32_t off : firsts) dictionary.append(values_.data() + off, 4 + value_at(off).size());
  return true;
}

void ColumnWriter::PageOut() {
  if (paging_ == Paging::kUndecided) {
    std::vector<uint32_t> indices;
    std::string dictionary;
    size_t distinct;
    paging_ = BuildDictionary(options_.dictionary_limit, indices, dictionary, distinct) ? Paging::kBuffered : Paging::kPaged;
    if (paging_ == Paging::kBuffered) return;
  }
  static thread_local std::string raw;
  raw.clear();
  BytesMinMax(values_.view());
  WriteLevels(def_, 0, def_.size(), leaf_.max_def, raw);
  raw.append(values_.data(), values_.size());
  auto size = AppendPage(options_, kPageData, raw, def_.size(), kEncodingPlain, pages_);
  if (!size.ok()) {
    if (paging_status_.ok()) paging_status_ = size.status();
    return;
  }
  paged_levels_ += def_.size();
  paged_encoded_ += values_.size();
  paged_uncompressed_ += *size;
  def_.clear();
  values_.clear();
  offsets_.clear();
}

// A chunk where no row reached the column: one data page whose levels are a single run of
// zeros and which has no values.
Status ColumnWriter::WriteNullChunk(int64_t file_offset, ColumnChunkInfo& info, std::string& out) {
  info.num_values = static_cast<int64_t>(null_rows_);
  info.null_count = static_cast<int64_t>(null_rows_);
  info.has_min_max = false;
  std::string raw, levels;
  for (int max_level : {leaf_.max_rep, leaf_.max_def}) {
    if (max_level == 0) continue;
    levels.clear();
    EncodeRleRun(0, null_rows_, BitWidth(static_cast<uint64_t>(max_level)), levels);
    AppendLe<uint32_t>(raw, static_cast<uint32_t>(levels.size()));
    raw += levels;
  }
  const size_t start = out.size();
  info.data_page_offset = file_offset;
  auto size = AppendPage(options_, kPageData, raw, null_rows_, kEncodingPlain, out);
  if (!size.ok()) return size.status();
  info.uncompressed_size = static_cast<int64_t>(*size);
  info.compressed_size = static_cast<int64_t>(out.size() - start);
  return Status::Ok();
}

void ColumnWriter::AddFixed(uint16_t rep, std::string_view v) {
  Present(rep);
  values_.append(v);
  UpdateMinMax(v);
}

Result<ColumnChunkInfo> ColumnWriter::WriteChunk(int64_t file_offset, std::string& out) {
  FHIRLAKE_RETURN_IF_ERROR(paging_status_);
  const ColumnWriterOptions& o = options_;
  ColumnChunkInfo info;
  info.file_offset = file_offset;
  info.num_values = static_cast<int64_t>(paged_levels_ + def_.size());
  info.null_count = static_cast<int64_t>(paged_levels_ + def_.size() - present_);

  // Dictionary for strings that repeat enough to pay for it. The buffered strings' bounds come
  // from the dictionary's distinct values when there is one.
  std::vector<uint32_t> indices;
  std::string dictionary;
  size_t distinct = 0;
  if (leaf_.type == PhysicalType::kByteArray && present_ > 0 && paging_ != Paging::kPaged) {
    info.dictionary = BuildDictionary(o.dictionary_limit, indices, dictionary, distinct);
  }
  if (leaf_.type == PhysicalType::kByteArray) BytesMinMax(info.dictionary ? dictionary : values_.view());
  // Parquet statistics are exact values: a chunk whose bounds were cut or are long gets none.
  info.has_min_max = has_min_max_ && !min_cut_ && !max_cut_ && min_.size() <= kMaxStatBytes &&
                     max_.size() <= kMaxStatBytes;
  if (info.has_min_max) {
    info.min = min_;
    info.max = max_;
  }
  AccumulateStats();
  if (null_rows_ > 0) {
    FHIRLAKE_RETURN_IF_ERROR(WriteNullChunk(file_offset, info, out));
    ResetChunk();
    return info;
  }
  const size_t start = out.size();
  if (info.dictionary) {
    info.dictionary_page_offset = file_offset + static_cast<int64_t>(out.size() - start);
    auto size = AppendPage(o, kPageDictionary, dictionary, distinct, 0, out);
    if (!size.ok()) return size.status();
    info.uncompressed_size += static_cast<int64_t>(*size);
  }
  const int index_width = info.dictionary ? std::max(1, BitWidth(distinct - 1)) : 0;

  // Data pages, split at row boundaries (rep == 0) once they reach the page size: first those
  // already written by paging, then the buffered levels and values.
  info.data_page_offset = file_offset + static_cast<int64_t>(out.size() - start);
  out += pages_;
  info.uncompressed_size += static_cast<int64_t>(paged_uncompressed_);
  const size_t n = def_.size();
  const size_t fixed = leaf_.type == PhysicalType::kInt32               ? 4
                       : leaf_.type == PhysicalType::kBoolean           ? 0
                       : leaf_.type == PhysicalType::kFixedLenByteArray ? static_cast<size_t>(leaf_.type_length)
                                                                        : 8;
  // Buffered levels and values too few to reach the page size are one page, not walked.
  const size_t buffered_values = leaf_.type == PhysicalType::kByteArray ? offsets_.size()
                                 : leaf_.type == PhysicalType::kBoolean ? bools_.size()
                                                                        : values_.size() / fixed;
  const bool one_page = n + values_.size() + 2 * buffered_values < o.page_bytes;
  size_t level = 0, value = 0;
  std::string raw;  // a page before compression
  while (level < n || (n == 0 && level == 0 && paged_levels_ == 0)) {
    size_t page_end = level, page_values = 0, bytes = 0;
    size_t value_begin = value;
    if (one_page) {
      page_end = n;
      page_values = buffered_values;
    }
    while (page_end < n) {
      if (page_end > level && bytes >= o.page_bytes && (leaf_.max_rep == 0 || rep_[page_end] == 0)) break;
      if (def_.byte(page_end) == leaf_.max_def) {
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
    raw.clear();
    if (leaf_.max_rep > 0) WriteLevels(rep_, level, page_end, leaf_.max_rep, raw);
    WriteLevels(def_, level, page_end, leaf_.max_def, raw);
    if (info.dictionary) {
      raw.push_back(static_cast<char>(index_width));
      EncodeRleHybrid(indices.data() + value_begin, page_values, index_width, raw);
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
        raw.append(values_.data() + from, to - from);
      }
    } else {
      raw.append(values_.data() + value_begin * fixed, page_values * fixed);
    }
    auto size = AppendPage(o, kPageData, raw, page_end - level, info.dictionary ? kEncodingRleDictionary : kEncodingPlain, out);
    if (!size.ok()) return size.status();
    info.uncompressed_size += static_cast<int64_t>(*size);
    value = value_begin + page_values;
    level = page_end;
    if (n == 0) break;
  }
  info.compressed_size = static_cast<int64_t>(out.size() - start);
  ResetChunk();
  return info;
}

void ColumnWriter::ResetChunk() {
  rows_ = 0;
  null_rows_ = 0;
  rep_.clear();
  def_.clear();
  values_.clear();
  offsets_.clear();
  bools_.clear();
  present_ = 0;
  level_runs_ = 0;
  last_level_ = 0xFFFF;
  has_min_max_ = min_cut_ = max_cut_ = false;
  min_.clear();
  max_.clear();
  std::fill(taken_.begin(), taken_.end(), 0);
  taken_seq_ = 0;
  paging_ = Paging::kUndecided;
  pages_.clear();
  paged_levels_ = paged_encoded_ = paged_uncompressed_ = 0;
}

}  // namespace fhirlake::parquet
