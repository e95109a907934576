#include "fhirlake/load/file_stats.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fhirlake/fhir/date_time.h"

namespace fhirlake::load {
namespace {

using nlohmann::json;
using parquet::ColumnStats;
using parquet::LogicalType;
using parquet::PhysicalType;
using parquet::SchemaNode;

// The code point starting at s[i] and its length in bytes; a sequence cut short by the end of
// `s` gives length 0.
std::pair<uint32_t, size_t> CodePoint(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  if (i + len > s.size()) return {0, 0};
  uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return {cp, len};
}

int Units(uint32_t cp) { return cp >= 0x10000 ? 2 : 1; }  // UTF-16 code units, as Java counts

// Bytes of the shortest prefix with at least `prefix` UTF-16 units (a surrogate pair is never
// split), its unit count, and whether that is all of `s`.
size_t PrefixBytes(std::string_view s, int prefix, int* units) {
  size_t i = 0;
  int u = 0;
  while (i < s.size() && u < prefix) {
    auto [cp, len] = CodePoint(s, i);
    if (len == 0) break;
    u += Units(cp);
    i += len;
  }
  if (units) *units = u;
  return i;
}

int64_t Le64(const std::string& plain) {
  int64_t v;
  std::memcpy(&v, plain.data(), 8);
  return v;
}
int32_t Le32(const std::string& plain) {
  int32_t v;
  std::memcpy(&v, plain.data(), 4);
  return v;
}
double LeDouble(const std::string& plain) {
  double v;
  std::memcpy(&v, plain.data(), 8);
  return v;
}

// Milliseconds, rounded down (also before 1970).
int64_t FloorMillisAsMicros(int64_t micros) {
  int64_t ms = micros / 1000;
  if (micros % 1000 < 0) --ms;
  return ms * 1000;
}

// A DECIMAL value (16 bytes, big-endian unscaled) as a JSON number. Stats are doubles here:
// exact when the decimal has at most 15 significant digits, else moved one step outwards
// (`direction` -1 for a min, +1 for a max) so that it stays a bound.
double DecimalBound(const std::string& be, int scale, int direction) {
  unsigned __int128 u = 0;
  for (unsigned char c : be) u = (u << 8) | c;
  const bool negative = static_cast<unsigned char>(be[0]) & 0x80;
  if (negative) u = ~u + 1;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  } while (u != 0);
  while (static_cast<int>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
  std::string text = (negative ? "-" : "") + digits.substr(0, digits.size() - static_cast<size_t>(scale)) + "." +
                     digits.substr(digits.size() - static_cast<size_t>(scale));
  const double d = std::strtod(text.c_str(), nullptr);
  const size_t first = digits.find_first_not_of('0'), last = digits.find_last_not_of('0');
  if (first == std::string::npos || last - first + 1 <= 15) return d;  // significant digits
  return std::nextafter(d, direction < 0 ? -HUGE_VAL : HUGE_VAL);
}

std::string Dotted(const SchemaNode& n) {
  std::string out;
  for (const auto& p : n.path) out += (out.empty() ? "" : ".") + p;
  return out;
}

class Builder {
 public:
  Builder(const parquet::FileWriter& writer, const FileStatsOptions& o) : writer_(writer), o_(o) {}

  // Adds the statistics of `n`'s columns below `min`, `max`, `nulls` (objects of n's parent).
  void Node(const SchemaNode& n, json& min, json& max, json& nulls) {
    if (!n.is_leaf && !n.is_list()) {
      json cmin = json::object(), cmax = json::object(), cnulls = json::object();
      for (const auto& c : n.children) Node(*c, cmin, cmax, cnulls);
      if (!cmin.empty()) min[n.name] = std::move(cmin);
      if (!cmax.empty()) max[n.name] = std::move(cmax);
      if (!cnulls.empty()) nulls[n.name] = std::move(cnulls);
      return;
    }
    const bool indexed = o_.num_indexed_cols < 0 || columns_ < o_.num_indexed_cols ||
                         std::find(o_.always.begin(), o_.always.end(), Dotted(n)) != o_.always.end();
    ++columns_;
    if (!indexed) return;
    if (n.is_list()) {
      // The rows where the list itself is null, from the levels of its first leaf.
      const ColumnStats& s = writer_.column(static_cast<size_t>(n.leaves.front())).stats();
      int64_t count = 0;
      for (size_t d = 0; d < s.rows_by_def.size() && d < static_cast<size_t>(n.max_def); ++d) count += s.rows_by_def[d];
      nulls[n.name] = count;
      return;
    }
    const ColumnStats& s = writer_.column(static_cast<size_t>(n.leaf_index)).stats();
    nulls[n.name] = s.nulls;
    if (!s.has_bounds) return;
    switch (n.type) {
      case PhysicalType::kBoolean: return;  // Delta keeps no bounds for booleans
      case PhysicalType::kInt32:
        min[n.name] = Le32(s.min);
        max[n.name] = Le32(s.max);
        return;
      case PhysicalType::kInt64:
        if (n.logical == LogicalType::kTimestampMicrosUtc) {
          min[n.name] = fhir::FormatInstant(FloorMillisAsMicros(Le64(s.min)));
          max[n.name] = fhir::FormatInstant(FloorMillisAsMicros(Le64(s.max)));
        } else {
          min[n.name] = Le64(s.min);
          max[n.name] = Le64(s.max);
        }
        return;
      case PhysicalType::kDouble: {
        const double lo = LeDouble(s.min), hi = LeDouble(s.max);
        if (std::isfinite(lo) && std::isfinite(hi)) {
          min[n.name] = lo;
          max[n.name] = hi;
        }
        return;
      }
      case PhysicalType::kFixedLenByteArray: {
        if (n.logical != LogicalType::kDecimal || s.min.size() != 16 || s.max.size() != 16) return;
        min[n.name] = DecimalBound(s.min, n.scale, -1);
        max[n.name] = DecimalBound(s.max, n.scale, +1);
        return;
      }
      case PhysicalType::kByteArray: {
        if (n.logical != LogicalType::kString) return;
        min[n.name] = TruncateMinString(s.min, o_.string_prefix);
        std::string upper;
        if (TruncateMaxString(s.max, s.max_cut, o_.string_prefix, upper)) max[n.name] = std::move(upper);
        return;
      }
    }
  }

 private:
  const parquet::FileWriter& writer_;
  const FileStatsOptions& o_;
  int columns_ = 0;
};

}  // namespace

std::string TruncateMinString(std::string_view value, int prefix) {
  return std::string(value.substr(0, PrefixBytes(value, prefix, nullptr)));
}

bool TruncateMaxString(std::string_view value, bool continues, int prefix, std::string& out) {
  int units = 0;
  size_t at = PrefixBytes(value, prefix, &units);
  if (at >= value.size() && !continues) {
    out.assign(value);
    return true;
  }
  // Extend the prefix past characters the tie-breaker would not exceed (Delta: up to twice
  // the prefix length), then append the tie-breaker.
  while (units <= 2 * prefix) {
    if (at >= value.size()) {
      if (continues) return false;  // the rest of the value was not kept
      out.assign(value);
      return true;
    }
    auto [cp, len] = CodePoint(value, at);
    if (len == 0) return false;
    if (cp == 0x10FFFF) {
      at += len;
      units += 2;
    } else if (cp < 0x7F) {
      out.assign(value.substr(0, at));
      out.push_back('\x7F');
      return true;
    } else {
      out.assign(value.substr(0, at));
      out.append("\xF4\x8F\xBF\xBF");
      return true;
    }
  }
  return false;
}

std::string DeltaFileStats(const parquet::Schema& schema, const parquet::FileWriter& writer,
                           const FileStatsOptions& options) {
  json min = json::object(), max = json::object(), nulls = json::object();
  Builder builder(writer, options);
  for (const auto& column : schema.root().children) builder.Node(*column, min, max, nulls);
  json stats = {{"numRecords", writer.rows()}, {"minValues", std::move(min)}, {"maxValues", std::move(max)},
                {"nullCount", std::move(nulls)}};
  return stats.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string WithTightBounds(std::string_view stats_json, bool tight) {
  json stats = json::parse(stats_json, nullptr, false);
  if (!stats.is_object()) return std::string(stats_json);
  stats["tightBounds"] = tight;
  return stats.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace fhirlake::load
