// FHIR date, dateTime and instant values (_since, _until, meta.lastUpdated, transactionTime).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhirlake/fhir/date_time.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto t = fhirlake::fhir::ParseFhirTime(text)) (void)fhirlake::fhir::FormatInstant(*t);
  return 0;
}
