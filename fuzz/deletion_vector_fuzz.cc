// Delta deletion vectors: the serialized roaring bitmap and the Z85 text of inline vectors.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/delta/deletion_vector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fhirlake::delta;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto rows = DecodeRowBitmap(bytes);
  if (rows.ok()) {
    // What decodes encodes back to the same rows.
    auto again = DecodeRowBitmap(EncodeRowBitmap(rows.value()));
    if (!again.ok() || again.value() != rows.value()) __builtin_trap();
  }
  auto decoded = Z85Decode(bytes);
  if (decoded.ok()) (void)DecodeRowBitmap(decoded.value());
  return 0;
}
