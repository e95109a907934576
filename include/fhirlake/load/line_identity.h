// load::ReadIdentity: what a load's first pass needs of an NDJSON line — its resourceType, id
// and meta.lastUpdated — without reading the rest of the line. The shredder checks the whole
// line later; a line it refuses is taken out of the first pass's index (see the loader).
#pragma once

#include <optional>
#include <string_view>

#include <simdjson.h>

namespace fhirlake::load {

struct LineIdentity {
  std::string_view resource_type;  // empty: none, or not a string
  std::string_view id;
  std::string_view last_updated;  // empty: none, or not a string
};

// The line's identity as the shredder reads it: its top-level keys unescaped, `resourceType`
// when a string, a string `id` (nullopt without one, or with two), and `meta.lastUpdated` when
// a string. Views point into the line or into `parser`'s buffers (valid until its next use).
// `line` must be followed by simdjson::SIMDJSON_PADDING readable bytes.
std::optional<LineIdentity> ReadIdentity(simdjson::ondemand::parser& parser, std::string_view line);

// The same read from the front of the line alone, byte by byte, for the common shape: plain
// (unescaped) keys and identity strings. Stops once resourceType, id and meta were read.
// nullopt: the line needs the full reader (anything unusual, including invalid JSON), not
// that it has no identity. A line with a key twice may read differently here than in full:
// the shredder refuses such a line.
std::optional<LineIdentity> ScanIdentity(std::string_view line);

}  // namespace fhirlake::load
