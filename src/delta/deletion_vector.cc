#include "fhirlake/delta/deletion_vector.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/warehouse_layout.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kMagic = 1681511377;        // the portable format (little-endian)
constexpr uint32_t kNativeMagic = 1681511376;  // Delta's native format (little-endian too)
constexpr uint32_t kCookieNoRuns = 12346, kCookieRuns = 12347;
constexpr size_t kArrayMax = 4096;  // containers with more values are bitmaps
constexpr char kZ85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

template <typename T>
void PutLe(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
}
void PutBe32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  Status Le(T& v) {
    if (bytes_.size() - pos_ < sizeof(T)) return DataLoss("a deletion vector ends early");
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) x |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += sizeof(T);
    v = static_cast<T>(x);
    return Status::Ok();
  }
  Status Skip(size_t n) {
    if (bytes_.size() - pos_ < n) return DataLoss("a deletion vector ends early");
    pos_ += n;
    return Status::Ok();
  }
  Status Be32(uint32_t& v) {
    if (bytes_.size() - pos_ < 4) return DataLoss("a deletion vector ends early");
    v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_ + i]);
    pos_ += 4;
    return Status::Ok();
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

// One 32-bit RoaringBitmap (portable format) of the low halves in `lows`, sorted.
void EncodeBitmap32(const std::vector<uint32_t>& lows, std::string& out) {
  std::map<uint16_t, std::vector<uint16_t>> containers;
  for (uint32_t v : lows) containers[static_cast<uint16_t>(v >> 16)].push_back(static_cast<uint16_t>(v & 0xFFFF));
  const size_t start = out.size();
  PutLe<uint32_t>(out, kCookieNoRuns);
  PutLe<uint32_t>(out, static_cast<uint32_t>(containers.size()));
  for (const auto& [key, values] : containers) {
    PutLe<uint16_t>(out, key);
    PutLe<uint16_t>(out, static_cast<uint16_t>(values.size() - 1));
  }
  uint32_t offset = static_cast<uint32_t>(out.size() - start + 4 * containers.size());
  for (const auto& [key, values] : containers) {
    PutLe<uint32_t>(out, offset);
    offset += static_cast<uint32_t>(values.size() <= kArrayMax ? 2 * values.size() : 8192);
  }
  for (const auto& [key, values] : containers) {
    if (values.size() <= kArrayMax) {
      for (uint16_t v : values) PutLe<uint16_t>(out, v);
    } else {
      uint64_t words[1024] = {};
      for (uint16_t v : values) words[v / 64] |= uint64_t{1} << (v % 64);
      for (uint64_t w : words) PutLe<uint64_t>(out, w);
    }
  }
}

Status DecodeBitmap32(Cursor& in, uint64_t high, std::vector<uint64_t>& out) {
  uint32_t cookie;
  FHIRLAKE_RETURN_IF_ERROR(in.Le(cookie));
  uint32_t count;
  std::string run_flags;
  bool has_runs = (cookie & 0xFFFF) == kCookieRuns;
  if (has_runs) {
    count = (cookie >> 16) + 1;
    run_flags.resize((count + 7) / 8);
    for (auto& c : run_flags) {
      uint8_t b;
      FHIRLAKE_RETURN_IF_ERROR(in.Le(b));
      c = static_cast<char>(b);
    }
  } else if (cookie == kCookieNoRuns) {
    FHIRLAKE_RETURN_IF_ERROR(in.Le(count));
  } else {
    return DataLoss("a deletion vector has an unknown RoaringBitmap cookie");
  }
  if (count > 65536) return DataLoss("a deletion vector has too many containers");
  std::vector<std::pair<uint16_t, uint32_t>> header(count);  // key, cardinality
  for (auto& [key, card] : header) {
    uint16_t c;
    FHIRLAKE_RETURN_IF_ERROR(in.Le(key));
    FHIRLAKE_RETURN_IF_ERROR(in.Le(c));
    card = uint32_t{c} + 1;
  }
  if (!has_runs || count >= 4) FHIRLAKE_RETURN_IF_ERROR(in.Skip(4 * count));  // offsets: containers follow in order
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t base = (high << 32) | (uint64_t{header[i].first} << 16);
    if (has_runs && (static_cast<uint8_t>(run_flags[i / 8]) >> (i % 8)) & 1) {
      uint16_t runs;
      FHIRLAKE_RETURN_IF_ERROR(in.Le(runs));
      for (uint16_t r = 0; r < runs; ++r) {
        uint16_t first, length;
        FHIRLAKE_RETURN_IF_ERROR(in.Le(first));
        FHIRLAKE_RETURN_IF_ERROR(in.Le(length));
        for (uint32_t v = first; v <= uint32_t{first} + length && v <= 0xFFFF; ++v) out.push_back(base | v);
      }
    } else if (header[i].second <= kArrayMax) {
      for (uint32_t k = 0; k < header[i].second; ++k) {
        uint16_t v;
        FHIRLAKE_RETURN_IF_ERROR(in.Le(v));
        out.push_back(base | v);
      }
    } else {
      for (uint32_t w = 0; w < 1024; ++w) {
        uint64_t word;
        FHIRLAKE_RETURN_IF_ERROR(in.Le(word));
        for (; word; word &= word - 1) out.push_back(base | (w * 64 + static_cast<uint32_t>(__builtin_ctzll(word))));
      }
    }
  }
  return Status::Ok();
}

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace

fs::path DeletionVectorFile(const fs::path& root, const DeletionVector& dv) {
  if (dv.storage_type == "p") return fs::path(WithoutFileScheme(dv.path_or_inline_dv));  // a path or file: URI
  // 'u': an optional random prefix (a directory), then the uuid as 20 Z85 characters.
  const std::string& text = dv.path_or_inline_dv;
  if (text.size() < 20) return root / "deletion_vector_malformed.bin";  // no such file: reading it fails
  auto uuid = Z85Decode(std::string_view(text).substr(text.size() - 20));
  std::string prefix = text.substr(0, text.size() - 20);
  fs::path dir = prefix.empty() ? root : root / prefix;
  return dir / ("deletion_vector_" + store::UuidText(uuid.ok() ? *uuid : std::string(16, '\0')) + ".bin");
}

std::string DeletionVector::UniqueId() const {
  return storage_type + path_or_inline_dv + (offset ? "@" + std::to_string(*offset) : "");
}

std::string EncodeRowBitmap(const std::vector<uint64_t>& rows) {
  std::map<uint32_t, std::vector<uint32_t>> buckets;
  for (uint64_t r : rows) buckets[static_cast<uint32_t>(r >> 32)].push_back(static_cast<uint32_t>(r));
  std::string out;
  PutLe<uint32_t>(out, kMagic);
  PutLe<uint64_t>(out, buckets.size());
  for (const auto& [key, lows] : buckets) {
    PutLe<uint32_t>(out, key);
    EncodeBitmap32(lows, out);
  }
  return out;
}

// Readers look rows up by binary search: a bitmap whose buckets, containers or values are out
// of order (only a corrupt or hostile file has them) is refused rather than misread.
static Result<std::vector<uint64_t>> Ascending(std::vector<uint64_t> rows) {
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i] <= rows[i - 1]) return DataLoss("a deletion vector's rows are not in ascending order");
  }
  return rows;
}

Result<std::vector<uint64_t>> DecodeRowBitmap(std::string_view bytes) {
  Cursor in(bytes);
  std::vector<uint64_t> rows;
  {
    // Delta's native RoaringBitmapArray format (RoaringBitmapArray.scala,
    // NativeRoaringBitmapArraySerializationFormat), written through a little-endian buffer:
    // the magic number, the bitmap count, then per bitmap i (high half i) its size in bytes
    // and the 32-bit RoaringBitmap.
    Cursor native(bytes);
    uint32_t magic = 0, count = 0;
    if (native.Le(magic).ok() && magic == kNativeMagic) {
      FHIRLAKE_RETURN_IF_ERROR(native.Le(count));
      if (count > bytes.size()) return DataLoss("a deletion vector has too many bitmaps");
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t size;
        FHIRLAKE_RETURN_IF_ERROR(native.Le(size));
        if (size > bytes.size()) return DataLoss("a deletion vector's bitmap size is wrong");
        FHIRLAKE_RETURN_IF_ERROR(DecodeBitmap32(native, i, rows));
      }
      if (!native.done()) return DataLoss("a deletion vector has trailing bytes");
      return Ascending(std::move(rows));
    }
  }
  {
    // The inline example of PROTOCOL.md ("JSON Example 3") frames the same content big-endian;
    // Delta itself never writes that, but it is read so the published example decodes.
    Cursor example(bytes);
    uint32_t magic = 0, count = 0;
    if (example.Be32(magic).ok() && magic == kNativeMagic) {
      FHIRLAKE_RETURN_IF_ERROR(example.Be32(count));
      if (count > bytes.size()) return DataLoss("a deletion vector has too many bitmaps");
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t size;
        FHIRLAKE_RETURN_IF_ERROR(example.Be32(size));
        FHIRLAKE_RETURN_IF_ERROR(DecodeBitmap32(example, i, rows));
      }
      if (!example.done()) return DataLoss("a deletion vector has trailing bytes");
      return rows;
    }
  }
  uint32_t magic;
  FHIRLAKE_RETURN_IF_ERROR(in.Le(magic));
  if (magic != kMagic) return DataLoss("a deletion vector has an unknown magic number");
  uint64_t buckets;
  FHIRLAKE_RETURN_IF_ERROR(in.Le(buckets));
  if (buckets > bytes.size()) return DataLoss("a deletion vector has too many buckets");
  for (uint64_t b = 0; b < buckets; ++b) {
    uint32_t key;
    FHIRLAKE_RETURN_IF_ERROR(in.Le(key));
    FHIRLAKE_RETURN_IF_ERROR(DecodeBitmap32(in, key, rows));
  }
  if (!in.done()) return DataLoss("a deletion vector has trailing bytes");
  return Ascending(std::move(rows));
}

std::string Z85Encode(std::string_view bytes) {
  std::string padded(bytes);
  padded.resize((padded.size() + 3) / 4 * 4, '\0');
  std::string out;
  for (size_t i = 0; i < padded.size(); i += 4) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<uint8_t>(padded[i + k]);
    char chunk[5];
    for (int k = 4; k >= 0; --k) {
      chunk[k] = kZ85[v % 85];
      v /= 85;
    }
    out.append(chunk, 5);
  }
  return out;
}

Result<std::string> Z85Decode(std::string_view text) {
  if (text.size() % 5 != 0) return InvalidArgument("Z85 text must be a multiple of 5 characters");
  int8_t value[256];
  std::memset(value, -1, sizeof value);
  for (int i = 0; i < 85; ++i) value[static_cast<uint8_t>(kZ85[i])] = static_cast<int8_t>(i);
  std::string out;
  for (size_t i = 0; i < text.size(); i += 5) {
    uint64_t v = 0;
    for (size_t k = 0; k < 5; ++k) {
      int8_t d = value[static_cast<uint8_t>(text[i + k])];
      if (d < 0) return InvalidArgument("not a Z85 character: '" + std::string(1, text[i + k]) + "'");
      v = v * 85 + static_cast<uint64_t>(d);
    }
    if (v > 0xFFFFFFFFull) return InvalidArgument("Z85 group out of range");
    for (int k = 3; k >= 0; --k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  }
  return out;
}

namespace {

// The DV file holding `rows` (one vector each) and the descriptors naming it.
std::pair<std::string, std::vector<DeletionVector>> BuildDeletionVectorFile(
    const std::string& uuid, const std::vector<std::vector<uint64_t>>& rows) {
  std::string file(1, '\x01');  // format version
  std::vector<DeletionVector> out;
  for (const auto& r : rows) {
    std::string bitmap = EncodeRowBitmap(r);
    DeletionVector dv;
    dv.storage_type = "u";
    dv.path_or_inline_dv = Z85Encode(uuid);
    dv.offset = static_cast<int32_t>(file.size());
    dv.size_in_bytes = static_cast<int32_t>(bitmap.size());
    dv.cardinality = static_cast<int64_t>(r.size());
    PutBe32(file, static_cast<uint32_t>(bitmap.size()));
    file += bitmap;
    PutBe32(file, Crc32(bitmap));
    out.push_back(std::move(dv));
  }
  return {std::move(file), std::move(out)};
}

uint32_t GetBe32(std::string_view bytes) {
  const auto b = [&](size_t i) { return uint32_t{static_cast<unsigned char>(bytes[i])}; };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// The bitmap of a stored vector: the object `key` of `store` (named `name` in messages) holds
// the format version byte, then at the descriptor's offset the size, the bitmap and its CRC-32.
Result<std::string> ReadStoredBitmap(store::ObjectStore& store, const std::string& key, const std::string& name,
                                     const DeletionVector& dv) {
  auto version = store.GetRange(key, 0, 1);
  if (!version.ok()) return IoError("cannot open deletion vector file " + name + ": " + version.status().message());
  if (*version != std::string(1, '\x01')) return DataLoss(name + " has an unknown format version");
  const size_t size = static_cast<size_t>(std::max<int32_t>(0, dv.size_in_bytes));
  auto chunk = store.GetRange(key, static_cast<uint64_t>(dv.offset.value_or(1)), 4 + size + 4);
  if (!chunk.ok()) return chunk.status().WithContext("reading deletion vector file " + name);
  if (chunk->size() < 4 || GetBe32(*chunk) != static_cast<uint32_t>(dv.size_in_bytes)) {
    return DataLoss(name + ": the vector's size differs from its descriptor");
  }
  if (chunk->size() < 4 + size + 4) return DataLoss(name + " ends early");
  std::string bitmap = chunk->substr(4, size);
  if (GetBe32(std::string_view(*chunk).substr(4 + size)) != Crc32(bitmap)) return DataLoss(name + ": checksum mismatch");
  return bitmap;
}

// The rows of `dv`, reading a stored 'u' vector with `read_u` (the bitmap of its file).
Result<std::vector<uint64_t>> ReadVector(const DeletionVector& dv,
                                         const std::function<Result<std::string>()>& read_u) {
  std::string bitmap;
  if (dv.storage_type == "i") {
    auto decoded = Z85Decode(dv.path_or_inline_dv);
    if (!decoded.ok()) return DataLoss("an inline deletion vector is not Z85: " + decoded.status().message());
    if (decoded->size() < static_cast<size_t>(dv.size_in_bytes)) return DataLoss("an inline deletion vector is short");
    bitmap = decoded->substr(0, static_cast<size_t>(dv.size_in_bytes));
  } else if (dv.storage_type == "u") {
    if (dv.path_or_inline_dv.size() < 20) return DataLoss("a deletion vector path is too short");
    auto read = read_u();
    if (!read.ok()) return read.status();
    bitmap = std::move(read.value());
  } else if (dv.storage_type == "p") {
    // An absolute path or a file: URI (as Delta writes it): read where it lies.
    if (dv.path_or_inline_dv.find("://") != std::string::npos && !dv.path_or_inline_dv.starts_with("file:")) {
      return InvalidArgument("the deletion vector " + dv.path_or_inline_dv +
                             " lies in another store; fhirlake reads absolute deletion vector paths on this machine only");
    }
    const fs::path path = DeletionVectorFile(fs::path(), dv);
    auto local = store::NewLocalStore(path.parent_path().string());
    auto read = ReadStoredBitmap(*local, path.filename().string(), path.string(), dv);
    if (!read.ok()) return read.status();
    bitmap = std::move(read.value());
  } else {
    return InvalidArgument("unknown deletion vector storage type '" + dv.storage_type + "'");
  }
  auto rows = DecodeRowBitmap(bitmap);
  if (!rows.ok()) return rows.status();
  if (static_cast<int64_t>(rows->size()) != dv.cardinality) {
    return DataLoss("a deletion vector holds " + std::to_string(rows->size()) + " rows, its descriptor says " +
                    std::to_string(dv.cardinality));
  }
  return rows;
}

}  // namespace

std::string_view WithoutFileScheme(std::string_view path) {
  if (path.rfind("file://", 0) == 0) return path.substr(7);
  if (path.rfind("file:", 0) == 0) return path.substr(5);
  return path;
}

std::string DeletionVectorRelativePath(const DeletionVector& dv) { return DeletionVectorFile(fs::path(), dv).generic_string(); }

Result<std::vector<DeletionVector>> WriteDeletionVectors(const fs::path& root, const std::vector<std::vector<uint64_t>>& rows) {
  const std::string uuid = store::NewUuidBytes();
  auto [file, out] = BuildDeletionVectorFile(uuid, rows);
  FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(root / ("deletion_vector_" + store::UuidText(uuid) + ".bin"), file));
  return out;
}

Result<std::vector<DeletionVector>> WriteDeletionVectors(store::ObjectStore& store, std::string_view table_key,
                                                         const std::vector<std::vector<uint64_t>>& rows) {
  const std::string uuid = store::NewUuidBytes();
  auto [file, out] = BuildDeletionVectorFile(uuid, rows);
  const std::string key = store::WarehouseLayout::Join(table_key, "deletion_vector_" + store::UuidText(uuid) + ".bin");
  FHIRLAKE_RETURN_IF_ERROR(store.Put(key, file));
  return out;
}

Result<std::vector<uint64_t>> ReadDeletionVector(const fs::path& root, const DeletionVector& dv) {
  return ReadVector(dv, [&]() -> Result<std::string> {
    const fs::path path = DeletionVectorFile(root, dv);
    auto local = store::NewLocalStore(path.parent_path().string());
    return ReadStoredBitmap(*local, path.filename().string(), path.string(), dv);
  });
}

Result<std::vector<uint64_t>> ReadDeletionVector(store::ObjectStore& store, std::string_view table_key,
                                                 const DeletionVector& dv) {
  return ReadVector(dv, [&]() -> Result<std::string> {
    const std::string key = store::WarehouseLayout::Join(table_key, DeletionVectorRelativePath(dv));
    return ReadStoredBitmap(store, key, store.Describe() + "/" + key, dv);
  });
}

}  // namespace fhirlake::delta
