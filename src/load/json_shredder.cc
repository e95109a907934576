#include "fhirlake/load/json_shredder.h"

#include <simdjson.h>

#include <algorithm>
#include <unordered_map>

#include "fhirlake/fhir/date_time.h"

namespace fhirlake::load {

using parquet::LogicalType;
using parquet::PhysicalType;
using parquet::Repetition;
using parquet::SchemaNode;
namespace od = simdjson::ondemand;

enum Kind : uint8_t { kNull = 0, kBool = 1, kInt = 2, kDouble = 3, kBytes = 4, kDecimal = 5, kGroupNull = 6 };

bool IsJsonNumber(std::string_view text) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;  // a leading zero stands alone
  } else if (!digits()) {
    return false;
  }
  if (i < text.size() && text[i] == '.' && (++i, !digits())) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

bool ParseDecimal(std::string_view text, int precision, int scale, __int128& unscaled) {
  size_t i = 0;
  const bool negative = i < text.size() && text[i] == '-';
  if (negative) ++i;
  // The digits without the point, and where the point goes among them.
  std::string digits;
  long point = 0;
  bool seen_point = false, any = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (digits.empty() && c == '0') {  // leading zeros carry no digits
        if (seen_point) --point;
        continue;
      }
      digits.push_back(c);
      if (!seen_point) ++point;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!any) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = i < text.size() && text[i] == '-';
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    long exp = 0;
    bool exp_any = false;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      exp_any = true;
      if (exp < 100000) exp = exp * 10 + (text[i] - '0');
    }
    if (!exp_any) return false;
    point += exp_negative ? -exp : exp;
  }
  if (i != text.size()) return false;
  // value = 0.digits × 10^point; unscaled = value × 10^scale, rounded.
  const long keep = point + scale;  // digits that stay left of the scaled point
  if (keep > precision) {
    return digits.empty() ? (unscaled = 0, true) : false;
  }
  unsigned __int128 v = 0;
  for (long k = 0; k < keep; ++k) {
    v = v * 10 + (k < static_cast<long>(digits.size()) ? static_cast<unsigned>(digits[static_cast<size_t>(k)] - '0') : 0u);
  }
  if (keep >= 0 && keep < static_cast<long>(digits.size()) && digits[static_cast<size_t>(keep)] >= '5') ++v;
  unsigned __int128 limit = 1;
  for (int k = 0; k < precision; ++k) limit *= 10;
  if (v >= limit) return false;
  unscaled = negative ? -static_cast<__int128>(v) : static_cast<__int128>(v);
  return true;
}

struct JsonShredder::Impl {
  od::parser parser;
  // Child lookup per group node, by element name: the child and its index among the children.
  // Resources of one type list their elements in much the same order, so each member also
  // remembers which member's key followed it last time: the next key is compared with that
  // guess before it is hashed.
  struct Member {
    const SchemaNode* node;
    uint32_t index;
    Member* next = nullptr;
  };
  struct Members {
    std::unordered_map<std::string_view, Member> by_name;
    Member* first = nullptr;  // the member whose key came first last time
  };
  std::unordered_map<const SchemaNode*, Members> children;
  // Which children of the objects being shredded were seen, a slice per nesting level (no
  // allocation per object once it has grown).
  std::vector<uint8_t> seen;
  JsonShredder* self = nullptr;
  std::string resource_type, id;  // of the row being shredded
  bool has_resource_type = false;  // the row's top level had the key (of any type)
  std::string duplicate_key;       // a key the row has twice in one object, when it has one

  void Index(const SchemaNode& n) {
    if (n.is_leaf) return;
    auto& members = children[&n].by_name;
    for (size_t i = 0; i < n.children.size(); ++i) {
      members.emplace(n.children[i]->name, Member{n.children[i].get(), static_cast<uint32_t>(i)});
      Index(*n.children[i]);
    }
  }

  void Stage(const SchemaNode& leaf, uint16_t rep, uint16_t def, uint8_t kind, int64_t i = 0, double d = 0,
             std::string_view s = {}) {
    self->staged_.push_back({static_cast<uint32_t>(leaf.leaf_index), rep, def, kind, i, d, s});
  }

  // Every leaf below `n` is null. A group's nulls are one entry, not one per leaf: the column
  // writers expand them (parquet::FileWriter::AddGroupNull).
  void NullAll(const SchemaNode& n, uint16_t rep, uint16_t def) {
    if (rep == 0 && def == 0) return;  // a top-level element absent: the column writers fill it in
    if (n.is_leaf) return Stage(n, rep, def, kNull);
    if (n.leaves.empty()) return;
    self->staged_.push_back({0, rep, def, kGroupNull, 0, 0, {}});
    self->staged_.back().group = &n;
  }

  // `def` is the definition level of the node's parent.
  simdjson::error_code Value(const SchemaNode& n, od::value v, uint16_t rep, uint16_t def) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::null) {
      if (auto e = Check(v, type, 0)) return e;
      NullAll(n, rep, def);
      return simdjson::SUCCESS;
    }
    const uint16_t here = static_cast<uint16_t>(def + (n.repetition == Repetition::kRequired ? 0 : 1));
    if (n.is_list()) {
      if (type != od::json_type::array) return Skip(n, v, rep, def);
      od::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      const SchemaNode& repeated = *n.children[0];
      const SchemaNode& element = n.list_element();
      size_t i = 0;
      for (auto item : arr) {
        od::value ev;
        if (auto e = item.get(ev)) return e;
        uint16_t r = i == 0 ? rep : static_cast<uint16_t>(repeated.max_rep);
        if (auto e = Value(element, ev, r, static_cast<uint16_t>(here + 1))) return e;
        ++i;
      }
      if (i == 0) NullAll(n, rep, here);
      return simdjson::SUCCESS;
    }
    if (!n.is_leaf) {
      if (type != od::json_type::object) return Skip(n, v, rep, def);
      od::object obj;
      if (auto e = v.get_object().get(obj)) return e;
      return Object(n, obj, rep, here);
    }
    switch (n.type) {
      case PhysicalType::kByteArray: {
        if (n.logical == LogicalType::kString && type == od::json_type::string) {
          std::string_view s;
          if (auto e = v.get_string().get(s)) return e;
          Stage(n, rep, here, kBytes, 0, 0, s);
        } else if (n.number_as_text && type == od::json_type::number) {
          const std::string_view text = TrimmedToken(v);
          if (!IsJsonNumber(text)) return simdjson::NUMBER_ERROR;
          Stage(n, rep, here, kBytes, 0, 0, text);  // exact source text, e.g. "72.50"
        } else {
          return Skip(n, v, rep, def);
        }
        return simdjson::SUCCESS;
      }
      case PhysicalType::kFixedLenByteArray: {
        __int128 unscaled = 0;
        const std::string_view text = type == od::json_type::number ? TrimmedToken(v) : std::string_view();
        if (n.logical != LogicalType::kDecimal || type != od::json_type::number || !IsJsonNumber(text) ||
            !ParseDecimal(text, n.precision, n.scale, unscaled)) {
          return Skip(n, v, rep, def);  // out of range: the exact text is in `_json`
        }
        Stage(n, rep, here, kDecimal, static_cast<int64_t>(static_cast<unsigned __int128>(unscaled)));
        self->staged_.back().high = static_cast<int64_t>(unscaled >> 64);
        return simdjson::SUCCESS;
      }
      case PhysicalType::kInt32:
      case PhysicalType::kInt64: {
        if (n.logical == LogicalType::kTimestampMicrosUtc) {
          std::string_view s;
          if (type != od::json_type::string) return Skip(n, v, rep, def);
          if (auto e = v.get_string().get(s)) return e;
          auto t = fhir::ParseFhirTime(s);
          if (!t) {
            NullAll(n, rep, def);
            return simdjson::SUCCESS;
          }
          Stage(n, rep, here, kInt, *t);
          return simdjson::SUCCESS;
        }
        int64_t i;
        if (type != od::json_type::number || v.get_int64().get(i) != simdjson::SUCCESS ||
            (n.type == PhysicalType::kInt32 && (i < INT32_MIN || i > INT32_MAX))) {
          return Skip(n, v, rep, def);
        }
        Stage(n, rep, here, kInt, i);
        return simdjson::SUCCESS;
      }
      case PhysicalType::kDouble: {
        double d;
        if (type != od::json_type::number || v.get_double().get(d) != simdjson::SUCCESS) return Skip(n, v, rep, def);
        Stage(n, rep, here, kDouble, 0, d);
        return simdjson::SUCCESS;
      }
      case PhysicalType::kBoolean: {
        bool b;
        if (type != od::json_type::boolean) return Skip(n, v, rep, def);
        if (auto e = v.get_bool().get(b)) return e;
        Stage(n, rep, here, kBool, b);
        return simdjson::SUCCESS;
      }
    }
    return simdjson::SUCCESS;
  }

  // A number's source text.
  static std::string_view TrimmedToken(od::value& v) {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
      raw.remove_suffix(1);
    return raw;
  }

  // A value of the wrong JSON type (or out of the column's range): null in the typed columns;
  // the `_json` column keeps it, so it must still be JSON.
  simdjson::error_code Skip(const SchemaNode& n, od::value v, uint16_t rep, uint16_t def) {
    if (auto e = Check(v)) return e;
    NullAll(n, rep, def);
    return simdjson::SUCCESS;
  }

  // Whether a value the schema does not read is JSON: on-demand parsing checks only what is
  // read, and a row's `_json` must be JSON for every reader. Nesting deeper than half simdjson's
  // depth limit is refused: the recursion stays bounded, and the parser's own depth (the
  // schema's levels above plus these) stays below its limit, which it does not check itself.
  static constexpr int kMaxCheckDepth = static_cast<int>(simdjson::DEFAULT_MAX_DEPTH / 2);
  simdjson::error_code Check(od::value v, int depth = 0) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    return Check(v, type, depth);
  }
  simdjson::error_code Check(od::value v, od::json_type type, int depth) {
    switch (type) {
      case od::json_type::object: {
        if (depth >= kMaxCheckDepth) return simdjson::DEPTH_ERROR;
        od::object obj;
        if (auto e = v.get_object().get(obj)) return e;
        for (auto field : obj) {
          std::string_view key;
          od::value member;
          if (auto e = field.unescaped_key().get(key)) return e;
          if (auto e = field.value().get(member)) return e;
          if (auto e = Check(member, depth + 1)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        if (depth >= kMaxCheckDepth) return simdjson::DEPTH_ERROR;
        od::array arr;
        if (auto e = v.get_array().get(arr)) return e;
        for (auto item : arr) {
          od::value element;
          if (auto e = item.get(element)) return e;
          if (auto e = Check(element, depth + 1)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view text;
        return v.get_string().get(text);
      }
      case od::json_type::number:  // JSON has no limit on a number's size, simdjson has
        return IsJsonNumber(TrimmedToken(v)) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
      case od::json_type::boolean: {
        bool b;
        return v.get_bool().get(b) ? simdjson::T_ATOM_ERROR : simdjson::SUCCESS;
      }
      case od::json_type::null: {
        bool is_null = false;
        return v.is_null().get(is_null) || !is_null ? simdjson::N_ATOM_ERROR : simdjson::SUCCESS;
      }
    }
    return simdjson::TAPE_ERROR;
  }

  // `def` is the definition level of the object's own node (already counted).
  simdjson::error_code Object(const SchemaNode& n, od::object obj, uint16_t rep, uint16_t def) {
    Members& members = children.find(&n)->second;
    const bool root = &n == &self->schema_.root();
    const size_t base = seen.size();  // this object's slice: seen[base + child index]
    seen.resize(base + n.children.size(), 0);
    simdjson::error_code error = Fields(members, obj, rep, def, root, base);
    if (!error && !root) {  // absent top-level elements are filled in by the column writers
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (!seen[base + i]) NullAll(*n.children[i], rep, def);
      }
    }
    seen.resize(base);
    return error;
  }

  // The object's fields, each shredded into its child (see Object).
  simdjson::error_code Fields(Members& members, od::object obj, uint16_t rep, uint16_t def, bool root, size_t base) {
    Member** guess = &members.first;  // where the guess for the next key is kept
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return e;
      if (root && key == "resourceType") {
        if (has_resource_type) {  // not a schema column, so not caught below
          duplicate_key.assign(key);
          return simdjson::TAPE_ERROR;
        }
        has_resource_type = true;
        od::value v;
        od::json_type rt_type;
        if (auto e = field.value().get(v)) return e;
        if (auto e = v.type().get(rt_type)) return e;
        if (rt_type != od::json_type::string) {  // ignored, but must be JSON
          if (auto e = Check(v, rt_type, 0)) return e;
          continue;
        }
        std::string_view rt;
        if (auto e = v.get_string().get(rt)) return e;
        resource_type.assign(rt);
        continue;
      }
      Member* member = *guess;
      if (!member || member->node->name != key) {
        auto it = members.by_name.find(key);
        member = it == members.by_name.end() ? nullptr : &it->second;
        if (member) *guess = member;
      }
      if (!member || (root && IsExternal(member->node->name))) {
        od::value skip;
        if (auto e = field.value().get(skip)) return e;
        if (auto e = Check(skip)) return e;
        continue;  // an element the schema does not have
      }
      guess = &member->next;
      const SchemaNode* child = member->node;
      if (seen[base + member->index]) {
        duplicate_key.assign(key);
        return simdjson::TAPE_ERROR;
      }
      seen[base + member->index] = 1;
      od::value v;
      if (auto e = field.value().get(v)) return e;
      if (root && key == "id") {
        std::string_view id_text;
        if (v.get_string().get(id_text) != simdjson::SUCCESS) return simdjson::INCORRECT_TYPE;
        id.assign(id_text);
        Stage(*child, rep, static_cast<uint16_t>(child->max_def), kBytes, 0, 0, id);
        continue;
      }
      if (auto e = Value(*child, v, rep, def)) return e;
    }
    return simdjson::SUCCESS;
  }

  bool IsExternal(const std::string& name) const {
    return std::find(self->external_.begin(), self->external_.end(), name) != self->external_.end();
  }
};

JsonShredder::JsonShredder(const parquet::Schema& schema, parquet::FileWriter& writer, std::vector<std::string> external)
    : schema_(schema), writer_(writer), external_(std::move(external)), impl_(new Impl) {
  impl_->self = this;
  impl_->Index(schema_.root());
}

JsonShredder::~JsonShredder() { delete impl_; }

Status JsonShredder::ShredRow(std::string_view line, RowInfo* check) {
  staged_.clear();
  impl_->resource_type.clear();
  impl_->has_resource_type = false;
  impl_->id.clear();
  impl_->duplicate_key.clear();
  od::document doc;
  auto error = impl_->parser.iterate(line.data(), line.size(), line.size() + simdjson::SIMDJSON_PADDING).get(doc);
  od::object obj;
  if (!error) error = doc.get_object().get(obj);
  if (!error) error = impl_->Object(schema_.root(), obj, 0, 0);
  // Past the object's end there must be nothing (the parser has no token left).
  if (!error && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) error = simdjson::TRAILING_CONTENT;
  if (error) {
    staged_.clear();
    if (error == simdjson::INCORRECT_TYPE && !impl_->resource_type.empty() && impl_->id.empty()) {
      return InvalidArgument("the resource's id is not a string");
    }
    if (!impl_->duplicate_key.empty()) {
      return InvalidArgument("not a valid resource: an object has the key '" + impl_->duplicate_key + "' twice");
    }
    return InvalidArgument(std::string("not a valid JSON object: ") + simdjson::error_message(error));
  }
  if (check) {
    if (impl_->resource_type.empty()) return InvalidArgument("the resource has no resourceType");
    if (impl_->resource_type != check->resource_type) {
      return InvalidArgument("resourceType " + impl_->resource_type + " does not match the file's type " +
                             check->resource_type);
    }
    if (impl_->id.empty()) return InvalidArgument("the resource has no id");
    check->id = impl_->id;
  }
  Commit();
  return Status::Ok();
}

void JsonShredder::Commit() {
  for (const Entry& e : staged_) {
    if (e.kind == kGroupNull) {
      writer_.AddGroupNull(*e.group, e.rep, e.def);
      continue;
    }
    parquet::ColumnWriter& c = writer_.column(e.leaf);
    switch (e.kind) {
      case kNull: c.AddNull(e.rep, e.def); break;
      case kBool: c.AddBool(e.rep, e.i != 0); break;
      case kInt:
        if (c.leaf().type == PhysicalType::kInt32) c.AddInt32(e.rep, static_cast<int32_t>(e.i));
        else c.AddInt64(e.rep, e.i);
        break;
      case kDouble: c.AddDouble(e.rep, e.d); break;
      case kBytes: c.AddBytes(e.rep, e.s); break;
      case kDecimal: {
        char be[16];
        const auto lo = static_cast<uint64_t>(e.i), hi = static_cast<uint64_t>(e.high);
        for (int b = 0; b < 8; ++b) {
          be[b] = static_cast<char>(hi >> (56 - 8 * b));
          be[8 + b] = static_cast<char>(lo >> (56 - 8 * b));
        }
        c.AddFixed(e.rep, std::string_view(be, 16));
        break;
      }
    }
  }
  staged_.clear();
}

}  // namespace fhirlake::load
