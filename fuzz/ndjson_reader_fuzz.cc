// NDJSON files as a source sends them: line splitting, long lines, and the record count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/http/ndjson_lines.h"
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
  // The record count must not depend on how the bytes arrive: whole, or in two pieces.
  auto counted = fhirlake::http::CountNdjsonRecords(path);
  fhirlake::http::NdjsonLineCounter whole, split;
  whole.Feed(reinterpret_cast<const char*>(data), size);
  size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  split.Feed(reinterpret_cast<const char*>(data), cut);
  split.Feed(reinterpret_cast<const char*>(data) + cut, size - cut);
  if (whole.Records() != split.Records() || whole.last_line_start() != split.last_line_start()) std::abort();
  if (counted.ok() && *counted != whole.Records()) std::abort();
  return 0;
}
