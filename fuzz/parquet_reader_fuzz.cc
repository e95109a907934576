// A Parquet file: the footer, the column chunks' page headers, pages and encodings.
#include <cstddef>
#include <cstdint>

#include "fhirlake/parquet/file_reader.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fhirlake::fuzz::WriteInput("input.parquet", data, size);
  // Smaller claims than the product allows, so one input cannot make a single read take
  // gigabytes (an allocation the fuzzer counts as a crash); the checks are the same.
  fhirlake::parquet::ReadLimits limits;
  limits.max_chunk_values = int64_t{1} << 22;
  limits.max_page_bytes = int64_t{64} << 20;
  auto reader = fhirlake::parquet::FileReader::Open(path, limits);
  if (!reader.ok()) return 0;
  for (size_t g = 0; g < reader.value()->row_group_count() && g < 16; ++g) {
    for (int c = 0; c < 256; ++c) {
      auto values = reader.value()->ReadColumn(g, c);
      if (!values.ok() && values.status().message() == "no such row group or column") break;
    }
  }
  return 0;
}
