// NDJSON files as a source sends them: line splitting, long lines, and the line count.
#include <cstddef>
#include <cstdint>

#include "fhirlake/fhir/ndjson_reader.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fhirlake::fuzz::WriteInput("input.ndjson", data, size);
  auto reader = fhirlake::fhir::NdjsonReader::Open(path, /*max_line_bytes=*/1u << 20);
  if (reader.ok()) {
    std::string_view line;
    while (true) {
      if (reader->Next(line)) continue;
      if (reader->line_too_long()) {
        if (!reader->SkipLongLine().ok()) break;
        continue;
      }
      break;
    }
  }
  (void)fhirlake::fhir::CountLines(path);
  return 0;
}
