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

// Nesting deeper than this in a document from outside is refused: nlohmann parses and frees
// any depth without recursion, but copying, printing (dump) and the readers here walk a value
// recursively, so a request body of a few hundred kilobytes nested 20,000 deep would overflow a
// thread's stack. FHIR resources stay far below it.
inline constexpr int kMaxJsonDepth = 128;

// json::parse(text, nullptr, false) for a document that came from outside (a request body, a
// server's answer, a file): a discarded value when the text is not JSON or is nested deeper than
// `max_depth`. Nothing deeper than the limit is ever built.
inline nlohmann::json ParseJsonFromOutside(std::string_view text, int max_depth = kMaxJsonDepth) {
  bool too_deep = false;
  nlohmann::json doc = nlohmann::json::parse(
      text,
      [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
        const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                           event == nlohmann::json::parse_event_t::array_start;
        if (opens && depth >= max_depth) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  return too_deep ? nlohmann::json(nlohmann::json::value_t::discarded) : doc;
}

}  // namespace fhirlake
