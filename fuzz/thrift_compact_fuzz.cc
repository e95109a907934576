// Thrift compact protocol structs (Parquet FileMetaData, PageHeader).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/parquet/thrift_compact.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t before = pos;
    if (!fhirlake::parquet::ReadThriftStruct(bytes, &pos).ok() || pos <= before) break;
  }
  return 0;
}
