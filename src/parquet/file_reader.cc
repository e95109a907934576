#include "fhirlake/parquet/file_reader.h"

#include <snappy-c.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "fhirlake/parquet/rle.h"

namespace fhirlake::parquet {
namespace {

constexpr int32_t kCodecUncompressed = 0, kCodecSnappy = 1, kCodecZstd = 6;
constexpr int32_t kEncodingPlain = 0, kEncodingPlainDictionary = 2, kEncodingRleDictionary = 8;
constexpr int32_t kPageData = 0, kPageDictionary = 2, kPageDataV2 = 3;
constexpr uint32_t kMaxFooterBytes = 256u << 20;

Result<std::string> Decompress(int32_t codec, std::string_view in, size_t uncompressed) {
  std::string out;
  switch (codec) {
    case kCodecUncompressed: return std::string(in);
    case kCodecZstd: {
      out.resize(uncompressed);
      size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
      if (ZSTD_isError(n) || n != uncompressed) return DataLoss("a ZSTD page does not decompress to its stated size");
      return out;
    }
    case kCodecSnappy: {
      size_t n = uncompressed;
      out.resize(uncompressed);
      if (snappy_uncompress(in.data(), in.size(), out.data(), &n) != SNAPPY_OK || n != uncompressed) {
        return DataLoss("a SNAPPY page does not decompress to its stated size");
      }
      return out;
    }
    default: return InvalidArgument("compression codec " + std::to_string(codec) + " is not supported");
  }
}

// Appends `count` PLAIN values to `out`'s storage for `type`.
Status DecodePlain(PhysicalType type, std::string_view in, size_t count, ColumnValues& out,
                   std::vector<std::string>* dictionary) {
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    switch (type) {
      case PhysicalType::kBoolean: {
        if (i / 8 >= in.size()) return DataLoss("PLAIN booleans end early");
        out.ints.push_back((static_cast<uint8_t>(in[i / 8]) >> (i % 8)) & 1);
        break;
      }
      case PhysicalType::kInt32: {
        if (in.size() - pos < 4) return DataLoss("PLAIN values end early");
        int32_t v;
        std::memcpy(&v, in.data() + pos, 4);
        pos += 4;
        out.ints.push_back(v);
        break;
      }
      case PhysicalType::kInt64:
      case PhysicalType::kDouble: {
        if (in.size() - pos < 8) return DataLoss("PLAIN values end early");
        int64_t v;
        std::memcpy(&v, in.data() + pos, 8);
        pos += 8;
        out.ints.push_back(v);
        break;
      }
      case PhysicalType::kByteArray: {
        if (in.size() - pos < 4) return DataLoss("PLAIN values end early");
        uint32_t len;
        std::memcpy(&len, in.data() + pos, 4);
        pos += 4;
        if (len > in.size() - pos) return DataLoss("PLAIN values end early");
        (dictionary ? *dictionary : out.strings).emplace_back(in.substr(pos, len));
        pos += len;
        break;
      }
    }
  }
  return Status::Ok();
}

std::string Dotted(const std::vector<ThriftValue>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '.';
    out += p.binary;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<FileReader>> FileReader::Open(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  std::unique_ptr<FileReader> r(new FileReader(f, path));
  char tail[8];
  if (std::fseek(f, -8, SEEK_END) != 0 || std::fread(tail, 1, 8, f) != 8 || std::memcmp(tail + 4, "PAR1", 4) != 0) {
    return r->Corrupt("it does not end with the Parquet footer");
  }
  uint32_t len;
  std::memcpy(&len, tail, 4);
  long end = std::ftell(f);
  if (len > kMaxFooterBytes || static_cast<long>(len) + 12 > end) return r->Corrupt("the footer length is wrong");
  std::string footer(len, '\0');
  if (std::fseek(f, end - 8 - static_cast<long>(len), SEEK_SET) != 0 || std::fread(footer.data(), 1, len, f) != len) {
    return r->Corrupt("the footer cannot be read");
  }
  FHIRLAKE_RETURN_IF_ERROR(r->ParseFooter(footer));
  return r;
}

FileReader::~FileReader() {
  if (file_) std::fclose(file_);
}

Status FileReader::Corrupt(const std::string& why) const {
  return DataLoss("cannot read Parquet file " + path_.string() + ": " + why);
}

Status FileReader::ParseFooter(std::string_view footer) {
  size_t pos = 0;
  auto meta = ReadThriftStruct(footer, &pos);
  if (!meta.ok()) return Corrupt(meta.status().message());
  rows_ = meta->Int(3);

  // The flattened schema: element 0 is the root; walk it depth-first to learn each leaf's
  // path and levels.
  const auto& elements = meta->List(2);
  struct Frame {
    size_t remaining;
    int def, rep;
    std::string path;
  };
  std::vector<Frame> stack;
  if (elements.empty()) return Corrupt("no schema");
  stack.push_back({static_cast<size_t>(elements[0].Int(5)), 0, 0, ""});
  for (size_t i = 1; i < elements.size(); ++i) {
    while (!stack.empty() && stack.back().remaining == 0) stack.pop_back();
    if (stack.empty()) return Corrupt("the schema has more elements than its tree");
    Frame& parent = stack.back();
    --parent.remaining;
    const ThriftValue& e = elements[i];
    int64_t repetition = e.Int(3, 0);
    int def = parent.def + (repetition != 0 ? 1 : 0);
    int rep = parent.rep + (repetition == 2 ? 1 : 0);
    std::string path = parent.path.empty() ? std::string(e.Binary(4)) : parent.path + "." + std::string(e.Binary(4));
    int64_t children = e.Int(5, 0);
    if (children > 0) {
      stack.push_back({static_cast<size_t>(children), def, rep, path});
    } else {
      columns_.push_back({path, static_cast<PhysicalType>(e.Int(1)), def, rep});
    }
  }

  for (const ThriftValue& g : meta->List(4)) {
    RowGroup group;
    group.rows = g.Int(3);
    const auto& chunks = g.List(1);
    if (chunks.size() != columns_.size()) return Corrupt("a row group's column count differs from the schema");
    for (size_t c = 0; c < chunks.size(); ++c) {
      const ThriftValue* cm = chunks[c].Field(3);
      if (!cm) return Corrupt("a column chunk has no metadata");
      if (!chunks[c].Binary(1).empty()) return Corrupt("column chunks in other files are not supported");
      if (Dotted(cm->List(3)) != columns_[c].path) return Corrupt("a column chunk's path differs from the schema");
      Chunk chunk;
      chunk.offset = cm->Int(9);
      if (const ThriftValue* dict = cm->Field(11); dict && dict->i > 0 && dict->i < chunk.offset) chunk.offset = dict->i;
      chunk.size = cm->Int(7);
      chunk.num_values = cm->Int(5);
      chunk.codec = static_cast<int32_t>(cm->Int(4));
      group.chunks.push_back(chunk);
    }
    row_groups_.push_back(std::move(group));
  }
  return Status::Ok();
}

int FileReader::FindColumn(std::string_view dotted) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].path == dotted) return static_cast<int>(i);
  }
  return -1;
}

Result<ColumnValues> FileReader::ReadColumn(size_t group, int column) const {
  if (group >= row_groups_.size() || column < 0 || static_cast<size_t>(column) >= columns_.size()) {
    return InvalidArgument("no such row group or column");
  }
  const Column& col = columns_[static_cast<size_t>(column)];
  if (col.max_rep > 0) return InvalidArgument("column " + col.path + " is repeated; only flat columns can be read");
  const Chunk& chunk = row_groups_[group].chunks[static_cast<size_t>(column)];
  if (chunk.offset < 4 || chunk.size < 0 || chunk.size > (1ll << 31)) return Corrupt("a column chunk has a bad offset or size");
  std::string bytes(static_cast<size_t>(chunk.size), '\0');
  if (std::fseek(file_, static_cast<long>(chunk.offset), SEEK_SET) != 0 ||
      std::fread(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return Corrupt("column " + col.path + " ends early");
  }

  ColumnValues out;
  std::vector<std::string> dictionary;
  std::vector<uint32_t> defs, indices;
  const int def_width = BitWidth(static_cast<uint64_t>(col.max_def));
  size_t pos = 0;
  while (static_cast<int64_t>(out.size()) < chunk.num_values && pos < bytes.size()) {
    auto header = ReadThriftStruct(bytes, &pos);
    if (!header.ok()) return Corrupt(header.status().message());
    const int64_t type = header->Int(1);
    const int64_t uncompressed = header->Int(2), compressed = header->Int(3);
    if (compressed < 0 || uncompressed < 0 || static_cast<size_t>(compressed) > bytes.size() - pos) {
      return Corrupt("a page of column " + col.path + " ends early");
    }
    std::string_view body(bytes.data() + pos, static_cast<size_t>(compressed));
    pos += static_cast<size_t>(compressed);

    if (type == kPageDictionary) {
      const ThriftValue* h = header->Field(7);
      auto raw = Decompress(chunk.codec, body, static_cast<size_t>(uncompressed));
      if (!raw.ok()) return Corrupt(raw.status().message());
      ColumnValues scratch;
      size_t n = h ? static_cast<size_t>(h->Int(1)) : 0;
      if (col.type != PhysicalType::kByteArray) return Corrupt("dictionaries are read for BYTE_ARRAY columns only");
      dictionary.clear();
      FHIRLAKE_RETURN_IF_ERROR(DecodePlain(col.type, *raw, n, scratch, &dictionary));
      continue;
    }
    if (type != kPageData && type != kPageDataV2) continue;  // index pages and the like

    size_t num_values;
    int64_t encoding;
    std::string levels_and_values;
    std::string_view def_bytes, values;
    if (type == kPageData) {
      const ThriftValue* h = header->Field(5);
      if (!h) return Corrupt("a data page has no header");
      num_values = static_cast<size_t>(h->Int(1));
      encoding = h->Int(2);
      auto raw = Decompress(chunk.codec, body, static_cast<size_t>(uncompressed));
      if (!raw.ok()) return Corrupt(raw.status().message());
      levels_and_values = std::move(raw.value());
      std::string_view rest = levels_and_values;
      if (col.max_def > 0) {
        if (rest.size() < 4) return Corrupt("definition levels end early");
        uint32_t len;
        std::memcpy(&len, rest.data(), 4);
        if (len > rest.size() - 4) return Corrupt("definition levels end early");
        def_bytes = rest.substr(4, len);
        rest.remove_prefix(4 + len);
      }
      values = rest;
    } else {
      const ThriftValue* h = header->Field(8);
      if (!h) return Corrupt("a data page v2 has no header");
      num_values = static_cast<size_t>(h->Int(1));
      encoding = h->Int(4);
      size_t def_len = static_cast<size_t>(h->Int(5)), rep_len = static_cast<size_t>(h->Int(6));
      if (def_len + rep_len > body.size()) return Corrupt("levels end early");
      def_bytes = body.substr(rep_len, def_len);
      std::string_view rest = body.substr(rep_len + def_len);
      if (h->Int(7, 1) != 0) {
        auto raw = Decompress(chunk.codec, rest, static_cast<size_t>(uncompressed) - def_len - rep_len);
        if (!raw.ok()) return Corrupt(raw.status().message());
        levels_and_values = std::move(raw.value());
        values = levels_and_values;
      } else {
        values = rest;
      }
    }

    if (col.max_def > 0) {
      Status s = DecodeRleHybrid(def_bytes, def_width, num_values, defs);
      if (!s.ok()) return Corrupt(s.message());
    } else {
      defs.assign(num_values, 0);
    }
    size_t present = 0;
    for (uint32_t d : defs) present += d == static_cast<uint32_t>(col.max_def);

    ColumnValues page;
    if (encoding == kEncodingPlain) {
      FHIRLAKE_RETURN_IF_ERROR(DecodePlain(col.type, values, present, page, nullptr));
    } else if (encoding == kEncodingRleDictionary || encoding == kEncodingPlainDictionary) {
      if (values.empty()) {
        if (present > 0) return Corrupt("dictionary indices are missing");
      } else {
        Status s = DecodeRleHybrid(values.substr(1), static_cast<uint8_t>(values[0]), present, indices);
        if (!s.ok()) return Corrupt(s.message());
        for (uint32_t i : indices) {
          if (i >= dictionary.size()) return Corrupt("a dictionary index is out of range");
          page.strings.push_back(dictionary[i]);
        }
      }
    } else {
      return Corrupt("encoding " + std::to_string(encoding) + " of column " + col.path + " is not supported");
    }

    size_t next = 0;
    for (uint32_t d : defs) {
      bool here = d == static_cast<uint32_t>(col.max_def);
      out.present.push_back(here);
      if (col.type == PhysicalType::kByteArray) {
        out.strings.push_back(here ? std::move(page.strings[next]) : std::string());
      } else {
        out.ints.push_back(here ? page.ints[next] : 0);
      }
      next += here;
    }
  }
  if (static_cast<int64_t>(out.size()) != chunk.num_values) {
    return Corrupt("column " + col.path + " has " + std::to_string(out.size()) + " values, its metadata says " +
                   std::to_string(chunk.num_values));
  }
  return out;
}

}  // namespace fhirlake::parquet
