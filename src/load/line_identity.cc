#include "fhirlake/load/line_identity.h"

namespace fhirlake::load {
namespace {

// A cursor over one line for ScanIdentity. Every step checks the end: the line may stop
// anywhere.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool Take(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  // A string without escapes, after its opening quote was taken.
  bool PlainString(std::string_view& out) {
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      if (*p_ == '\\' || static_cast<unsigned char>(*p_) < 0x20) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }
  // Skips a value of any kind (not checked: the shredder checks it).
  bool SkipValue() {
    SkipSpace();
    if (p_ == end_) return false;
    if (*p_ == '"') {
      ++p_;
      return SkipStringRest();
    }
    if (*p_ == '{' || *p_ == '[') {
      int depth = 0;
      while (p_ != end_) {
        const char c = *p_++;
        if (c == '"') {
          if (!SkipStringRest()) return false;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (--depth == 0) return true;
        }
      }
      return false;
    }
    const char* start = p_;
    while (p_ != end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && !IsSpace(*p_)) ++p_;
    return p_ != start;
  }
  // After a member: true with `more` set when a ',' or '}' follows.
  bool NextMember(bool& more) {
    SkipSpace();
    if (p_ == end_) return false;
    if (*p_ == ',') {
      ++p_;
      more = true;
      return true;
    }
    if (*p_ == '}') {
      ++p_;
      more = false;
      return true;
    }
    return false;
  }
  bool AtQuote() {
    SkipSpace();
    return p_ != end_ && *p_ == '"';
  }

 private:
  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void SkipSpace() {
    while (p_ != end_ && IsSpace(*p_)) ++p_;
  }
  bool SkipStringRest() {
    while (p_ != end_) {
      const char c = *p_++;
      if (c == '\\') {
        if (p_ == end_) return false;
        ++p_;
      } else if (c == '"') {
        return true;
      }
    }
    return false;
  }

  const char* p_;
  const char* end_;
};

// A member's key, after the ',' or '{' before it; then its ':'.
bool Key(Cursor& c, std::string_view& key) { return c.Take('"') && c.PlainString(key) && c.Take(':'); }

// meta's members, after its '{': lastUpdated when a plain string.
bool ScanMeta(Cursor& c, std::string_view& last_updated) {
  if (c.Take('}')) return true;
  for (bool more = true; more;) {
    std::string_view key;
    if (!Key(c, key)) return false;
    if (key == "lastUpdated" && c.AtQuote()) {
      if (!c.Take('"') || !c.PlainString(last_updated)) return false;
    } else if (!c.SkipValue()) {
      return false;
    }
    if (!c.NextMember(more)) return false;
  }
  return true;
}

}  // namespace

std::optional<LineIdentity> ScanIdentity(std::string_view line) {
  Cursor c(line);
  if (!c.Take('{')) return std::nullopt;
  LineIdentity out;
  bool rt = false, id = false, meta = false;
  if (c.Take('}')) return std::nullopt;  // no id: the full reader says so
  for (bool more = true; more;) {
    std::string_view key;
    if (!Key(c, key)) return std::nullopt;
    if (key == "resourceType" || key == "id") {
      // Not a plain string: the full reader decides (an id that is not a string, escapes).
      std::string_view value;
      if (!c.Take('"') || !c.PlainString(value)) return std::nullopt;
      (key == "id" ? out.id : out.resource_type) = value;
      (key == "id" ? id : rt) = true;
    } else if (key == "meta") {
      if (!c.Take('{') || !ScanMeta(c, out.last_updated)) return std::nullopt;
      meta = true;
    } else if (!c.SkipValue()) {
      return std::nullopt;
    }
    if (rt && id && meta) return out;
    if (!c.NextMember(more)) return std::nullopt;
  }
  if (!id) return std::nullopt;
  return out;
}

std::optional<LineIdentity> ReadIdentity(simdjson::ondemand::parser& parser, std::string_view line) {
  if (auto fast = ScanIdentity(line)) return fast;
  namespace od = simdjson::ondemand;
  od::document doc;
  od::object obj;
  if (parser.iterate(line.data(), line.size(), line.size() + simdjson::SIMDJSON_PADDING).get(doc) ||
      doc.get_object().get(obj)) {
    return std::nullopt;
  }
  LineIdentity out;
  bool has_id = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key == "resourceType") {
      std::string_view rt;
      if (field.value().get_string().get(rt) == simdjson::SUCCESS) out.resource_type = rt;
    } else if (key == "id") {
      if (has_id || field.value().get_string().get(out.id)) return std::nullopt;  // the shredder refuses both
      has_id = true;
    } else if (key == "meta") {
      od::object meta;
      if (field.value().get_object().get(meta)) continue;
      for (auto m : meta) {
        std::string_view meta_key;
        if (m.unescaped_key().get(meta_key)) return std::nullopt;
        if (meta_key == "lastUpdated" && m.value().get_string().get(out.last_updated)) out.last_updated = {};
      }
    }
  }
  if (!has_id) return std::nullopt;
  return out;
}

}  // namespace fhirlake::load
