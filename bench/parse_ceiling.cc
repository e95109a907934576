// The parse-only ceiling of a load: every line of the given NDJSON files read through
// fhir::NdjsonReader and parsed by simdjson (DOM, fully validated), nothing written.
// Prints MB/s and the number of resources.
//   parse_ceiling FILE...
#include <simdjson.h>

#include <chrono>
#include <cstdio>

#include "fhirlake/fhir/ndjson_reader.h"

int main(int argc, char** argv) {
  simdjson::dom::parser parser;
  uint64_t bytes = 0, lines = 0, bad = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i < argc; ++i) {
    auto reader = fhirlake::fhir::NdjsonReader::Open(argv[i]);
    if (!reader.ok()) {
      std::fprintf(stderr, "%s\n", reader.status().message().c_str());
      return 1;
    }
    std::string_view line;
    while (reader->Next(line)) {
      bytes += line.size() + 1;
      if (line.empty()) continue;
      simdjson::dom::element doc;
      if (parser.parse(line.data(), line.size(), false).get(doc)) ++bad;
      ++lines;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.1f MB/s  %.2f s  %llu resources  %llu unparsable  (simdjson %s kernel)\n", bytes / 1048576.0 / secs, secs,
              static_cast<unsigned long long>(lines), static_cast<unsigned long long>(bad),
              simdjson::get_active_implementation()->name().c_str());
  return 0;
}
