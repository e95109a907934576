#include "fhirlake/parquet/file_reader.h"

#include <snappy-c.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "fhirlake/parquet/rle.h"

namespace fhirlake::parquet {
namespace {

constexpr int32_t kCodecUncompressed = 0, kCodecSnappy = 1, kCodecZstd = 6;
constexpr int32_t kEncodingPlain = 0, kEncodingPlainDictionary = 2, kEncodingRleDictionary = 8;
constexpr int32_t kPageData = 0, kPageDictionary = 2, kPageDataV2 = 3;
constexpr uint32_t kMaxFooterBytes = 256u << 20;

// Types whose values a page passes as strings.
bool IsBytes(PhysicalType type) { return type == PhysicalType::kByteArray || type == PhysicalType::kFixedLenByteArray; }

// Decompresses a page of `uncompressed` bytes into `out`, whose capacity is reused from page
// to page (a fresh buffer per page costs more in page faults than the decompression); returns
// a view of the page's bytes: `in` itself when it is not compressed.
Result<std::string_view> Decompress(int32_t codec, std::string_view in, size_t uncompressed, std::string& out) {
  switch (codec) {
    case kCodecUncompressed: return in;
    case kCodecZstd: {
      // A frame that states its size must state the page's; checked before allocating.
      const unsigned long long stated = ZSTD_getFrameContentSize(in.data(), in.size());
      if (stated == ZSTD_CONTENTSIZE_ERROR || (stated != ZSTD_CONTENTSIZE_UNKNOWN && stated != uncompressed)) {
        return DataLoss("a ZSTD page does not decompress to its stated size");
      }
      // One context per thread, reused: ZSTD_decompress makes (and zeroes) a fresh one per
      // call, which costs more than a small page's decompression.
      struct Context {
        ZSTD_DCtx* ctx = ZSTD_createDCtx();
        ~Context() { ZSTD_freeDCtx(ctx); }
      };
      static thread_local Context context;
      out.resize(uncompressed);
      size_t n = ZSTD_decompressDCtx(context.ctx, out.data(), out.size(), in.data(), in.size());
      if (ZSTD_isError(n) || n != uncompressed) return DataLoss("a ZSTD page does not decompress to its stated size");
      return std::string_view(out);
    }
    case kCodecSnappy: {
      size_t n = 0;
      if (snappy_uncompressed_length(in.data(), in.size(), &n) != SNAPPY_OK || n != uncompressed) {
        return DataLoss("a SNAPPY page does not decompress to its stated size");
      }
      out.resize(uncompressed);
      if (snappy_uncompress(in.data(), in.size(), out.data(), &n) != SNAPPY_OK || n != uncompressed) {
        return DataLoss("a SNAPPY page does not decompress to its stated size");
      }
      return std::string_view(out);
    }
    default: return InvalidArgument("compression codec " + std::to_string(codec) + " is not supported");
  }
}

// Decodes `count` PLAIN values of `type`: integers to `ints`, byte arrays (and fixed-length
// ones of `type_length` bytes) as views into `in` to `views`.
Status DecodePlain(PhysicalType type, int type_length, std::string_view in, size_t count, std::vector<int64_t>& ints,
                   std::vector<std::string_view>& views) {
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    switch (type) {
      case PhysicalType::kBoolean: {
        if (i / 8 >= in.size()) return DataLoss("PLAIN booleans end early");
        ints.push_back((static_cast<uint8_t>(in[i / 8]) >> (i % 8)) & 1);
        break;
      }
      case PhysicalType::kInt32: {
        if (in.size() - pos < 4) return DataLoss("PLAIN values end early");
        int32_t v;
        std::memcpy(&v, in.data() + pos, 4);
        pos += 4;
        ints.push_back(v);
        break;
      }
      case PhysicalType::kInt64:
      case PhysicalType::kDouble: {
        if (in.size() - pos < 8) return DataLoss("PLAIN values end early");
        int64_t v;
        std::memcpy(&v, in.data() + pos, 8);
        pos += 8;
        ints.push_back(v);
        break;
      }
      case PhysicalType::kByteArray: {
        if (in.size() - pos < 4) return DataLoss("PLAIN values end early");
        uint32_t len;
        std::memcpy(&len, in.data() + pos, 4);
        pos += 4;
        if (len > in.size() - pos) return DataLoss("PLAIN values end early");
        views.push_back(in.substr(pos, len));
        pos += len;
        break;
      }
      case PhysicalType::kFixedLenByteArray: {
        const auto len = static_cast<size_t>(type_length);
        if (len == 0 || in.size() - pos < len) return DataLoss("PLAIN values end early");
        views.push_back(in.substr(pos, len));
        pos += len;
        break;
      }
      default: return InvalidArgument("physical type " + std::to_string(static_cast<int>(type)) + " is not supported");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<FileReader>> FileReader::Open(const std::filesystem::path& path, ReadLimits limits) {
  auto source = OpenFileSource(path);
  if (!source.ok()) return source.status();
  return Open(std::move(source.value()), limits);
}

Result<std::unique_ptr<FileReader>> FileReader::Open(std::unique_ptr<InputSource> source, ReadLimits limits) {
  std::unique_ptr<FileReader> r(new FileReader(std::move(source), limits));
  auto size = r->source_->Size();
  if (!size.ok()) return size.status();
  const uint64_t end = *size;
  if (end < 12) return r->Corrupt("it does not end with the Parquet footer");
  auto tail = r->source_->ReadAt(end - 8, 8);
  if (!tail.ok()) return tail.status();
  if (std::memcmp(tail->data() + 4, "PAR1", 4) != 0) return r->Corrupt("it does not end with the Parquet footer");
  uint32_t len;
  std::memcpy(&len, tail->data(), 4);
  if (len > kMaxFooterBytes || static_cast<uint64_t>(len) + 12 > end) return r->Corrupt("the footer length is wrong");
  auto footer = r->source_->ReadAt(end - 8 - len, len);
  if (!footer.ok()) return r->Corrupt("the footer cannot be read (" + footer.status().message() + ")");
  FHIRLAKE_RETURN_IF_ERROR(r->ParseFooter(*footer));
  return r;
}

FileReader::~FileReader() = default;

Status FileReader::Corrupt(const std::string& why) const {
  return DataLoss("cannot read Parquet file " + source_->name() + ": " + why);
}

namespace {

// A column chunk's path_in_schema is checked against the schema's leaf: by a hash of the
// dotted path, built part by part, not by a string per chunk (a footer has one chunk per
// leaf and row group, thousands for a FHIR table).
constexpr uint64_t kNoPath = 14695981039346656037ull;  // FNV-1a offset basis
uint64_t DottedHash(uint64_t hash, std::string_view text) {
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}
uint64_t DottedHash(std::string_view dotted) { return DottedHash(kNoPath, dotted); }


}  // namespace

struct FileReader::SchemaElement {
  int64_t type = 0, type_length = 0, repetition = 0, children = 0;
  std::string_view name;
};

// The flattened schema: element 0 is the root; walk it depth-first to learn each leaf's path and
// levels.
Status FileReader::BuildColumns(const std::vector<SchemaElement>& elements) {
  struct Frame {
    size_t remaining;
    int def, rep, repeated_def;
    std::string path;
  };
  std::vector<Frame> stack;
  if (elements.empty()) return Corrupt("no schema");
  stack.push_back({static_cast<size_t>(elements[0].children), 0, 0, 0, ""});
  for (size_t i = 1; i < elements.size(); ++i) {
    while (!stack.empty() && stack.back().remaining == 0) stack.pop_back();
    if (stack.empty()) return Corrupt("the schema has more elements than its tree");
    Frame& parent = stack.back();
    --parent.remaining;
    const SchemaElement& e = elements[i];
    int def = parent.def + (e.repetition != 0 ? 1 : 0);
    int rep = parent.rep + (e.repetition == 2 ? 1 : 0);
    std::string path = parent.path.empty() ? std::string(e.name) : parent.path + "." + std::string(e.name);
    int repeated_def = e.repetition == 2 ? def : parent.repeated_def;
    if (e.children > 0) {
      stack.push_back({static_cast<size_t>(e.children), def, rep, repeated_def, path});
    } else {
      if (e.type == static_cast<int64_t>(PhysicalType::kFixedLenByteArray) && (e.type_length <= 0 || e.type_length > (1 << 20))) {
        return Corrupt("column " + path + " has a bad fixed length");
      }
      columns_.push_back({path, static_cast<PhysicalType>(e.type), def, rep, repeated_def, static_cast<int>(e.type_length)});
    }
  }
  return Status::Ok();
}

Status FileReader::ParseFooter(std::string_view footer) {
  // FileMetaData, read with only the fields a reader needs materialized: the schema's
  // elements (type, repetition, name, children), num_rows, and per row group and column
  // chunk the location, codec and value count. Statistics and the rest are skipped.
  ThriftCompactReader r(footer);
  std::vector<SchemaElement> elements;
  std::vector<std::vector<std::pair<Chunk, uint64_t>>> groups;  // chunk and DottedHash of its path
  std::vector<int64_t> group_rows;
  Status s = r.ForEachField([&](int16_t id, ThriftType type) -> Status {
    if (id == 2 && type == ThriftType::kList) {
      return r.ForEachElement([&](ThriftType) {
        SchemaElement e;
        Status st = r.ForEachField([&](int16_t fid, ThriftType ft) -> Status {
          switch (fid) {
            case 1: return r.Int(e.type);
            case 2: return r.Int(e.type_length);
            case 3: return r.Int(e.repetition);
            case 4: return r.Binary(e.name);
            case 5: return r.Int(e.children);
            default: return r.Skip(ft);
          }
        });
        elements.push_back(e);
        return st;
      });
    }
    if (id == 3 && type == ThriftType::kI64) return r.Int(rows_);
    if (id == 4 && type == ThriftType::kList) {
      return r.ForEachElement([&](ThriftType) {
        groups.emplace_back();
        group_rows.push_back(0);
        return r.ForEachField([&](int16_t gid, ThriftType gt) -> Status {
          if (gid == 3) return r.Int(group_rows.back());
          if (gid != 1) return r.Skip(gt);
          return r.ForEachElement([&](ThriftType) {
            Chunk chunk;
            uint64_t path = kNoPath;
            bool first_part = true;
            bool foreign = false;
            Status cs = r.ForEachField([&](int16_t cid, ThriftType ct) -> Status {
              if (cid == 1) {
                std::string_view file_path;
                FHIRLAKE_RETURN_IF_ERROR(r.Binary(file_path));
                foreign = !file_path.empty();
                return Status::Ok();
              }
              if (cid != 3) return r.Skip(ct);
              int64_t dictionary_offset = -1;
              FHIRLAKE_RETURN_IF_ERROR(r.ForEachField([&](int16_t mid, ThriftType mt) -> Status {
                int64_t v = 0;
                switch (mid) {
                  case 3:
                    return r.ForEachElement([&](ThriftType) {
                      std::string_view part;
                      FHIRLAKE_RETURN_IF_ERROR(r.Binary(part));
                      if (!first_part) path = DottedHash(path, ".");
                      first_part = false;
                      path = DottedHash(path, part);
                      return Status::Ok();
                    });
                  case 4: FHIRLAKE_RETURN_IF_ERROR(r.Int(v)); chunk.codec = static_cast<int32_t>(v); return Status::Ok();
                  case 5: return r.Int(chunk.num_values);
                  case 7: return r.Int(chunk.size);
                  case 9: return r.Int(chunk.offset);
                  case 11: return r.Int(dictionary_offset);
                  default: return r.Skip(mt);
                }
              }));
              if (dictionary_offset > 0 && dictionary_offset < chunk.offset) chunk.offset = dictionary_offset;
              return Status::Ok();
            });
            if (foreign) return Corrupt("column chunks in other files are not supported");
            groups.back().emplace_back(chunk, path);
            return cs;
          });
        });
      });
    }
    return r.Skip(type);
  });
  if (!s.ok()) return Corrupt(s.message());

  FHIRLAKE_RETURN_IF_ERROR(BuildColumns(elements));

  for (size_t g = 0; g < groups.size(); ++g) {
    RowGroup group;
    group.rows = group_rows[g];
    if (groups[g].size() != columns_.size()) return Corrupt("a row group's column count differs from the schema");
    for (size_t c = 0; c < groups[g].size(); ++c) {
      if (groups[g][c].second != DottedHash(columns_[c].path)) {
        return Corrupt("a column chunk's path differs from the schema");
      }
      group.chunks.push_back(groups[g][c].first);
    }
    row_groups_.push_back(std::move(group));
  }
  return Status::Ok();
}

Status FileReader::LoadRowGroup(size_t group) {
  if (group >= row_groups_.size()) return InvalidArgument("no such row group");
  loaded_group_ = SIZE_MAX;
  std::string().swap(loaded_);
  int64_t begin = INT64_MAX, end = 0;
  for (const Chunk& c : row_groups_[group].chunks) {
    if (c.offset < 4 || c.size < 0 || c.size > (1ll << 31)) return Corrupt("a column chunk has a bad offset or size");
    begin = std::min(begin, c.offset);
    end = std::max(end, c.offset + c.size);
  }
  if (begin >= end) return Status::Ok();
  if (end - begin > (1ll << 31)) return Corrupt("a row group spans more than 2 GiB");
  auto read = source_->ReadAt(static_cast<uint64_t>(begin), static_cast<size_t>(end - begin));
  if (!read.ok()) return Corrupt("a row group ends early (" + read.status().message() + ")");
  loaded_ = std::move(read.value());
  loaded_at_ = static_cast<uint64_t>(begin);
  loaded_group_ = group;
  return Status::Ok();
}

int FileReader::FindColumn(std::string_view dotted) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].path == dotted) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// A data page split into its levels and values: views into the chunk's bytes, or into the
// buffer the page was decompressed into.
struct DataPage {
  int64_t num_values = 0;
  int64_t encoding = 0;
  std::string_view def_bytes, rep_bytes, values;
};

// The length-prefixed level runs of a v1 page, taken off the front of `rest`.
bool TakeV1Levels(std::string_view& rest, std::string_view& levels) {
  if (rest.size() < 4) return false;
  uint32_t len;
  std::memcpy(&len, rest.data(), 4);
  if (len > rest.size() - 4) return false;
  levels = rest.substr(4, len);
  rest.remove_prefix(4 + len);
  return true;
}

// Splits a v1 (levels inside the compressed body) or v2 (levels before it) data page.
// Decompressed bytes go to `scratch`.
Status SplitDataPage(const ThriftValue& header, bool v2, int32_t codec, std::string_view body, int64_t uncompressed,
                     bool has_reps, bool has_defs, std::string& scratch, DataPage& page) {
  const ThriftValue* h = header.Field(v2 ? 8 : 5);
  if (!h) return DataLoss(v2 ? "a data page v2 has no header" : "a data page has no header");
  page.num_values = h->Int(1);
  if (!v2) {
    page.encoding = h->Int(2);
    auto raw = Decompress(codec, body, static_cast<size_t>(uncompressed), scratch);
    if (!raw.ok()) return raw.status();
    std::string_view rest = *raw;
    if (has_reps && !TakeV1Levels(rest, page.rep_bytes)) return DataLoss("repetition levels end early");
    if (has_defs && !TakeV1Levels(rest, page.def_bytes)) return DataLoss("definition levels end early");
    page.values = rest;
    return Status::Ok();
  }
  page.encoding = h->Int(4);
  const int64_t def_len = h->Int(5), rep_len = h->Int(6);
  if (def_len < 0 || rep_len < 0 || def_len > static_cast<int64_t>(body.size()) ||
      rep_len > static_cast<int64_t>(body.size()) - def_len || def_len + rep_len > uncompressed) {
    return DataLoss("levels end early");
  }
  page.rep_bytes = body.substr(0, static_cast<size_t>(rep_len));
  page.def_bytes = body.substr(static_cast<size_t>(rep_len), static_cast<size_t>(def_len));
  std::string_view rest = body.substr(static_cast<size_t>(rep_len + def_len));
  if (h->Int(7, 1) == 0) {
    page.values = rest;
    return Status::Ok();
  }
  auto raw = Decompress(codec, rest, static_cast<size_t>(uncompressed - def_len - rep_len), scratch);
  if (!raw.ok()) return raw.status();
  page.values = *raw;
  return Status::Ok();
}

}  // namespace

Result<std::string_view> FileReader::ChunkBytes(size_t group, int column, std::string& owned) const {
  const Column& col = columns_[static_cast<size_t>(column)];
  const Chunk& chunk = row_groups_[group].chunks[static_cast<size_t>(column)];
  if (chunk.offset < 4 || chunk.size < 0 || chunk.size > (1ll << 31)) return Corrupt("a column chunk has a bad offset or size");
  if (chunk.num_values < 0 || chunk.num_values > limits_.max_chunk_values) {
    return Corrupt("column " + col.path + " claims " + std::to_string(chunk.num_values) +
                   " values in one chunk; this reader's limit is " + std::to_string(limits_.max_chunk_values));
  }
  const auto at = static_cast<uint64_t>(chunk.offset);
  const auto size = static_cast<size_t>(chunk.size);
  if (loaded_group_ == group && at >= loaded_at_ && at - loaded_at_ <= loaded_.size() &&
      size <= loaded_.size() - (at - loaded_at_)) {
    return std::string_view(loaded_).substr(static_cast<size_t>(at - loaded_at_), size);
  }
  auto read = source_->ReadAt(at, size);
  if (!read.ok()) return Corrupt("column " + col.path + " ends early (" + read.status().message() + ")");
  owned = std::move(read.value());
  return std::string_view(owned);
}

namespace {

// A column chunk's dictionary page, decoded: BYTE_ARRAY values as views into `bytes` (or into
// the chunk's bytes when the page was not compressed), other types in `ints`.
struct Dictionary {
  std::string bytes;
  std::vector<std::string_view> strings;
  std::vector<int64_t> ints;
};

// The `present` values of a data page of a column of `type` into out.ints or out.strings
// (PLAIN, or indices into `dictionary`); `indices` is scratch space.
Status DecodePageValues(PhysicalType type, int type_length, const DataPage& page, size_t present,
                        const Dictionary& dictionary, std::vector<uint32_t>& indices, PageValues& out) {
  out.ints.clear();
  out.strings.clear();
  const std::string_view values = page.values;
  const bool strings = IsBytes(type);
  if (page.encoding == kEncodingPlain) {
    FHIRLAKE_RETURN_IF_ERROR(DecodePlain(type, type_length, values, present, out.ints, out.strings));
  } else if (page.encoding == kEncodingRleDictionary || page.encoding == kEncodingPlainDictionary) {
    if (values.empty()) {
      if (present > 0) return DataLoss("dictionary indices are missing");
    } else {
      FHIRLAKE_RETURN_IF_ERROR(DecodeRleHybrid(values.substr(1), static_cast<uint8_t>(values[0]), present, indices));
      const size_t size = strings ? dictionary.strings.size() : dictionary.ints.size();
      for (uint32_t i : indices) {
        if (i >= size) return DataLoss("a dictionary index is out of range");
        if (strings) {
          out.strings.push_back(dictionary.strings[i]);
        } else {
          out.ints.push_back(dictionary.ints[i]);
        }
      }
    }
  } else {
    return InvalidArgument("encoding " + std::to_string(page.encoding) + " is not supported");
  }
  if ((strings ? out.strings.size() : out.ints.size()) < present) return DataLoss("fewer values than its levels say");
  return Status::Ok();
}

}  // namespace

Status FileReader::ForEachPage(size_t group, int column, const std::function<Status(const PageValues&)>& visit,
                               bool null_pages) const {
  if (group >= row_groups_.size() || column < 0 || static_cast<size_t>(column) >= columns_.size()) {
    return InvalidArgument("no such row group or column");
  }
  const Column& col = columns_[static_cast<size_t>(column)];
  const Chunk& chunk = row_groups_[group].chunks[static_cast<size_t>(column)];
  std::string owned;  // the chunk's bytes, unless the row group was loaded (LoadRowGroup)
  auto chunk_bytes = ChunkBytes(group, column, owned);
  if (!chunk_bytes.ok()) return chunk_bytes.status();
  const std::string_view bytes = *chunk_bytes;

  Dictionary dictionary;
  std::string page_bytes;  // the decompressed data page, reused page after page
  std::vector<uint32_t> indices;
  PageValues out;
  out.max_def = col.max_def;
  out.max_rep = col.max_rep;
  const int def_width = BitWidth(static_cast<uint64_t>(col.max_def));
  const int rep_width = BitWidth(static_cast<uint64_t>(col.max_rep));
  int64_t seen = 0;  // values of the chunk in the pages visited
  size_t pos = 0;
  while (seen < chunk.num_values && pos < bytes.size()) {
    auto header = ReadThriftStruct(bytes, &pos);
    if (!header.ok()) return Corrupt(header.status().message());
    const int64_t type = header->Int(1);
    const int64_t uncompressed = header->Int(2), compressed = header->Int(3);
    if (compressed < 0 || uncompressed < 0 || static_cast<size_t>(compressed) > bytes.size() - pos) {
      return Corrupt("a page of column " + col.path + " ends early");
    }
    if (uncompressed > limits_.max_page_bytes) {
      return Corrupt("a page of column " + col.path + " claims " + std::to_string(uncompressed) +
                     " bytes; this reader's limit is " + std::to_string(limits_.max_page_bytes));
    }
    std::string_view body(bytes.data() + pos, static_cast<size_t>(compressed));
    pos += static_cast<size_t>(compressed);

    if (type == kPageDictionary) {
      const ThriftValue* h = header->Field(7);
      auto raw = Decompress(chunk.codec, body, static_cast<size_t>(uncompressed), dictionary.bytes);
      if (!raw.ok()) return Corrupt(raw.status().message());
      const int64_t n = h ? h->Int(1) : 0;
      if (n < 0) return Corrupt("the dictionary of column " + col.path + " has a negative size");
      dictionary.strings.clear();
      dictionary.ints.clear();
      Status ds = DecodePlain(col.type, col.type_length, *raw, static_cast<size_t>(n), dictionary.ints, dictionary.strings);
      if (!ds.ok()) return Corrupt("the dictionary of column " + col.path + ": " + ds.message());
      continue;
    }
    if (type != kPageData && type != kPageDataV2) continue;  // index pages and the like

    DataPage page;
    Status split = SplitDataPage(*header, type == kPageDataV2, chunk.codec, body, uncompressed, col.max_rep > 0,
                                 col.max_def > 0, page_bytes, page);
    if (!split.ok()) return Corrupt(split.message());
    if (page.num_values < 0 || page.num_values > chunk.num_values - seen) {
      return Corrupt("a page of column " + col.path + " claims more values than its chunk");
    }
    const size_t num_values = static_cast<size_t>(page.num_values);
    seen += page.num_values;
    if (null_pages && col.max_def > 0 && IsOneRunOf(page.def_bytes, def_width, num_values, 0) &&
        (col.max_rep == 0 || IsOneRunOf(page.rep_bytes, rep_width, num_values, 0))) {
      PageValues nulls;
      nulls.max_def = col.max_def;
      nulls.max_rep = col.max_rep;
      nulls.null_rows = num_values;
      FHIRLAKE_RETURN_IF_ERROR(visit(nulls));
      continue;
    }
    if (col.max_def > 0) {
      Status s = DecodeRleHybrid(page.def_bytes, def_width, num_values, out.defs);
      if (!s.ok()) return Corrupt(s.message());
    } else {
      out.defs.assign(num_values, 0);
    }
    out.reps.clear();
    if (col.max_rep > 0) {
      Status s = DecodeRleHybrid(page.rep_bytes, rep_width, num_values, out.reps);
      if (!s.ok()) return Corrupt(s.message());
    }
    size_t present = 0;
    for (uint32_t d : out.defs) present += d == static_cast<uint32_t>(col.max_def);
    Status values = DecodePageValues(col.type, col.type_length, page, present, dictionary, indices, out);
    if (!values.ok()) return Corrupt("column " + col.path + ": " + values.message());
    FHIRLAKE_RETURN_IF_ERROR(visit(out));
  }
  if (seen != chunk.num_values) {
    return Corrupt("column " + col.path + " has " + std::to_string(seen) + " values, its metadata says " +
                   std::to_string(chunk.num_values));
  }
  return Status::Ok();
}

Result<ColumnValues> FileReader::ReadColumn(size_t group, int column) const {
  ColumnValues out;
  const bool strings = column >= 0 && static_cast<size_t>(column) < columns_.size() &&
                       IsBytes(columns_[static_cast<size_t>(column)].type);
  Status s = ForEachPage(group, column, [&](const PageValues& page) {
    size_t next = 0;
    for (size_t k = 0; k < page.size(); ++k) {
      const bool here = page.present(k);
      out.present.push_back(here);
      if (page.max_rep > 0) {
        out.def_levels.push_back(static_cast<uint8_t>(page.defs[k]));
        out.rep_levels.push_back(static_cast<uint8_t>(k < page.reps.size() ? page.reps[k] : 0));
      }
      if (strings) {
        if (here) out.bytes.append(page.strings[next]);
        out.ends.push_back(out.bytes.size());
      } else {
        out.ints.push_back(here ? page.ints[next] : 0);
      }
      next += here;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace fhirlake::parquet
