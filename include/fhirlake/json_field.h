// Reading a field of a JSON document that came from outside (a request body, a token, a file on
// disk): nlohmann's `value(key, fallback)` throws when the field exists with another type, and
// `value` on a non-object throws too. FieldOr gives the fallback in both cases, so a document of
// the wrong shape is reported by the caller's own checks ("has no 'url'") instead of escaping as
// an exception.
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace fhirlake {

// `doc[key]` when `doc` is an object holding `key` with a value of T's JSON type, else `fallback`.
// T: std::string (JSON string), bool, an integer type (JSON integer that fits), or nlohmann::json
// (a value whose JSON type equals the fallback's, e.g. an array for an array fallback; any value
// for a null fallback).
template <typename T>
T FieldOr(const nlohmann::json& doc, std::string_view key, T fallback) {
  if (!doc.is_object()) return fallback;
  auto it = doc.find(key);
  if (it == doc.end()) return fallback;
  const nlohmann::json& v = *it;
  if constexpr (std::same_as<T, std::string>) {
    return v.is_string() ? v.get<std::string>() : fallback;
  } else if constexpr (std::same_as<T, bool>) {
    return v.is_boolean() ? v.get<bool>() : fallback;
  } else if constexpr (std::integral<T>) {
    if (v.is_number_unsigned()) {
      const auto u = v.get<uint64_t>();
      return std::in_range<T>(u) ? static_cast<T>(u) : fallback;
    }
    if (v.is_number_integer()) {
      const auto i = v.get<int64_t>();
      return std::in_range<T>(i) ? static_cast<T>(i) : fallback;
    }
    return fallback;
  } else {
    static_assert(std::same_as<T, nlohmann::json>, "FieldOr reads strings, booleans, integers or JSON values");
    return fallback.is_null() || v.type() == fallback.type() ? v : fallback;
  }
}

// The string overload for literals: FieldOr(doc, "id", "") reads a std::string.
inline std::string FieldOr(const nlohmann::json& doc, std::string_view key, const char* fallback) {
  return FieldOr<std::string>(doc, key, std::string(fallback));
}

}  // namespace fhirlake
