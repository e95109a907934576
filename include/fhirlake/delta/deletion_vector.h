// Delta deletion vectors (PROTOCOL.md, "Deletion Vectors" and "Deletion Vector Format"): the
// rows of a data file that are logically deleted, as a 64-bit RoaringBitmap in the portable
// serialization behind a magic number, kept in a DV file in the table root
// (`deletion_vector_<uuid>.bin`: version byte 1, then per vector a big-endian size, the
// bitmap and its CRC-32) and named from `add` actions by a descriptor (storage type 'u': the
// uuid in Z85). fhirlake writes array and bitmap containers and reads run containers too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"
#include "fhirlake/store/object_store.h"

namespace fhirlake::delta {

struct DeletionVector {
  std::string storage_type = "u";   // 'u' relative (uuid), 'p' absolute path, 'i' inline
  std::string path_or_inline_dv;
  std::optional<int32_t> offset;    // absent for inline vectors
  int32_t size_in_bytes = 0;
  int64_t cardinality = 0;

  // <storageType><pathOrInlineDv>[@offset]: tells two vectors of one data file apart.
  std::string UniqueId() const;
};

// The serialized bitmap (magic number included) of `rows`, which must be sorted and distinct.
std::string EncodeRowBitmap(const std::vector<uint64_t>& rows);
// The rows of a serialized bitmap, ascending.
Result<std::vector<uint64_t>> DecodeRowBitmap(std::string_view bytes);

// Z85 (ZeroMQ RFC 32): 4 bytes ↔ 5 characters. Encoding pads the input with zero bytes to a
// multiple of 4; decoding returns every decoded byte (the caller trims to the known size).
std::string Z85Encode(std::string_view bytes);
Result<std::string> Z85Decode(std::string_view text);

// Writes one new DV file under `table_root` holding a vector per entry of `rows` (each sorted
// and distinct) and returns their descriptors, in order. The file is complete and synced
// before this returns; until a commit names it, it is an orphan no reader looks at.
Result<std::vector<DeletionVector>> WriteDeletionVectors(const std::filesystem::path& table_root,
                                                         const std::vector<std::vector<uint64_t>>& rows);
// The same for the table under `table_key` in `store` (the DV file is one object, put whole).
Result<std::vector<DeletionVector>> WriteDeletionVectors(store::ObjectStore& store, std::string_view table_key,
                                                         const std::vector<std::vector<uint64_t>>& rows);

// The name of a stored 'u' vector's file relative to the table's root.
std::string DeletionVectorRelativePath(const DeletionVector& dv);
// A local path recorded as a path or a file: URI ("file:///a/b", "file:/a/b"), without the
// scheme; other text as it is.
std::string_view WithoutFileScheme(std::string_view path);

// The file a stored ('u' or 'p') vector lives in.
std::filesystem::path DeletionVectorFile(const std::filesystem::path& table_root, const DeletionVector& dv);

// The rows a descriptor names, checking the DV file's version, size and checksum.
Result<std::vector<uint64_t>> ReadDeletionVector(const std::filesystem::path& table_root, const DeletionVector& dv);
// The same for the table under `table_key` in `store`, by ranged reads; a 'p' vector (an
// absolute path) is read from the local filesystem.
Result<std::vector<uint64_t>> ReadDeletionVector(store::ObjectStore& store, std::string_view table_key,
                                                 const DeletionVector& dv);

}  // namespace fhirlake::delta
