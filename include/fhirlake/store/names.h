// Names for files and records fhirlake creates: random hex and version-4 UUIDs. They are
// unique, not secret (tokens and keys come from the auth module's OpenSSL generator).
#pragma once

#include <string>
#include <string_view>

namespace fhirlake::store {

// `bytes` random bytes.
std::string RandomBytes(size_t bytes);
// `bytes` random bytes as lower-case hex (2 * bytes characters).
std::string RandomHex(size_t bytes);
// 16 random bytes with the version-4 UUID bits set.
std::string NewUuidBytes();
// The canonical text (8-4-4-4-12 hex digits) of 16 UUID bytes.
std::string UuidText(std::string_view bytes);

}  // namespace fhirlake::store
