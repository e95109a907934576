// FHIR date, dateTime and instant values as points in time, for `_since`/`_until` filtering
// and transactionTime. Partial values ("2020", "2020-03", "2020-03-04") mean their first
// instant in UTC; a time without a zone is read as UTC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fhirlake::fhir {

// Microseconds since 1970-01-01T00:00:00Z, or nullopt when `text` is not a FHIR date/dateTime/
// instant.
std::optional<int64_t> ParseFhirTime(std::string_view text);

// Formats as an instant "YYYY-MM-DDThh:mm:ss.sssZ" (milliseconds, UTC).
std::string FormatInstant(int64_t micros_since_epoch);

// Formats as an HTTP-date (IMF-fixdate, RFC 9110): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string FormatHttpDate(int64_t micros_since_epoch);

// The current time as micros since the epoch.
int64_t NowMicros();

}  // namespace fhirlake::fhir
