// A Parquet file: the footer, the column chunks' page headers, pages and encodings.
#include <cstddef>
#include <cstdint>

#include "fhirlake/parquet/file_reader.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fhirlake::fuzz::WriteInput("input.parquet", data, size);
  auto reader = fhirlake::parquet::FileReader::Open(path);
  if (!reader.ok()) return 0;
  for (size_t g = 0; g < reader.value()->row_group_count() && g < 16; ++g) {
    for (int c = 0; c < 256; ++c) {
      auto values = reader.value()->ReadColumn(g, c);
      if (!values.ok() && values.status().message() == "no such row group or column") break;
    }
  }
  return 0;
}
