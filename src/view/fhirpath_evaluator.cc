// Evaluation of a parsed FHIRPath expression over one resource. Collections are std::vectors of
// Value; navigation reads the JsonTree in place. Semantics follow FHIRPath N1: empty
// propagates through operators, boolean logic is three-valued, a singleton is required where
// a function or operator needs one item (more is an error).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "src/view/expression.h"

namespace fhirlake::view {

Value Value::Decimal(double d, std::string text) {
  Value v;
  v.kind = Kind::kDecimal;
  v.decimal = d;
  v.text = std::move(text);
  return v;
}

namespace {

// FHIR R4 data types that may end a choice element's name (`value` + `Quantity`).
constexpr std::string_view kChoiceTypes[] = {
    "Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime", "Decimal", "Id", "Instant",
    "Integer", "Integer64", "Markdown", "Oid", "PositiveInt", "String", "Time", "UnsignedInt", "Uri",
    "Url", "Uuid", "Address", "Age", "Annotation", "Attachment", "CodeableConcept", "CodeableReference",
    "Coding", "ContactPoint", "Count", "Distance", "Duration", "HumanName", "Identifier", "Money",
    "Period", "Quantity", "Range", "Ratio", "RatioRange", "Reference", "SampledData", "Signature",
    "Timing", "ContactDetail", "Contributor", "DataRequirement", "Expression", "ParameterDefinition",
    "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage", "Meta",
};

bool IsChoiceType(std::string_view suffix) {
  for (std::string_view t : kChoiceTypes)
    if (t == suffix) return true;
  return false;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool IsNumber(const Value& v) { return v.kind == Value::Kind::kInteger || v.kind == Value::Kind::kDecimal; }
bool IsText(const Value& v) {
  return v.kind == Value::Kind::kString || v.kind == Value::Kind::kDate || v.kind == Value::Kind::kDateTime ||
         v.kind == Value::Kind::kTime;
}
double AsDouble(const Value& v) { return v.kind == Value::Kind::kInteger ? static_cast<double>(v.integer) : v.decimal; }

Status Error(const std::string& message) { return InvalidArgument(message); }

struct Evaluator {
  const EvalEnvironment& env;
  const Collection& root_focus;
  const Value* this_item = nullptr;
  int64_t index = 0;

  Status Eval(const Expression& e, const Collection& focus, Collection& out);

  Status EvalInput(const Expression& e, const Collection& focus, Collection& in) {
    if (e.input) return Eval(*e.input, focus, in);
    in = focus;
    return Status::Ok();
  }

  void Navigate(const Value& item, std::string_view name, Collection& out) const {
    if (item.kind != Value::Kind::kNode || item.node->kind != JsonNode::Kind::kObject) return;
    const JsonTree& tree = *env.tree;
    const JsonNode* child = tree.Member(*item.node, name);
    std::string_view type;
    if (!child) {
      for (const JsonTree::Link* l = tree.begin(*item.node); l != tree.end(*item.node); ++l) {
        if (l->key.size() > name.size() && l->key.substr(0, name.size()) == name &&
            std::isupper(static_cast<unsigned char>(l->key[name.size()])) && IsChoiceType(l->key.substr(name.size()))) {
          child = l->node;
          type = l->key.substr(name.size());
          break;
        }
      }
    }
    if (!child) {
      // `Patient.name`: a leading type name selects the resource itself.
      if (!name.empty() && std::isupper(static_cast<unsigned char>(name[0]))) {
        const JsonNode* rt = tree.Member(*item.node, "resourceType");
        if (rt && rt->kind == JsonNode::Kind::kString && rt->text == name) out.push_back(item);
      }
      return;
    }
    if (child->kind == JsonNode::Kind::kArray) {
      for (const JsonTree::Link* l = tree.begin(*child); l != tree.end(*child); ++l)
        if (l->node->kind != JsonNode::Kind::kNull) out.push_back(NodeValue(*l->node, type));
    } else if (child->kind != JsonNode::Kind::kNull) {
      out.push_back(NodeValue(*child, type));
    }
  }

  // The single item of `c`, or nullptr when empty; more than one is an error.
  Status Single(const Collection& c, const char* what, const Value*& out) const {
    if (c.size() > 1)
      return Error(std::string(what) + " needs a single item but got a collection of " + std::to_string(c.size()));
    out = c.empty() ? nullptr : &c[0];
    return Status::Ok();
  }

  // Boolean of a collection for logic: empty → unknown (-1), true 1, false 0. A single
  // non-boolean item counts as true (FHIRPath singleton evaluation).
  Status Truth(const Collection& c, int& out) const {
    if (c.empty()) { out = -1; return Status::Ok(); }
    if (c.size() > 1) return Error("a boolean operator needs a single item but got " + std::to_string(c.size()));
    out = c[0].kind == Value::Kind::kBoolean ? (c[0].boolean ? 1 : 0) : 1;
    return Status::Ok();
  }

  Status EvalArg(const Expression& e, size_t i, Collection& out) {
    out.clear();
    return Eval(*e.args[i], root_focus, out);
  }

  Status StringArg(const Expression& e, size_t i, std::string& out, bool& present) {
    Collection c;
    if (Status s = EvalArg(e, i, c); !s.ok()) return s;
    const Value* v;
    if (Status s = Single(c, "a string argument", v); !s.ok()) return s;
    present = v != nullptr;
    if (v) out = v->text;
    return Status::Ok();
  }

  Status IntegerArg(const Expression& e, size_t i, int64_t& out) {
    Collection c;
    if (Status s = EvalArg(e, i, c); !s.ok()) return s;
    const Value* v;
    if (Status s = Single(c, "an integer argument", v); !s.ok()) return s;
    if (!v || v->kind != Value::Kind::kInteger) return Error("the argument of " + e.name + "() must be an integer");
    out = v->integer;
    return Status::Ok();
  }

  Status Function(const Expression& e, const Collection& focus, Collection& out);
  Status ForEach(const Expression& e, const Collection& in,
                 const std::function<Status(const Value&, const Collection&)>& body);
  Status IteratingFunction(const Expression& e, const Collection& in, Collection& out);
  Status CollectionFunction(const Expression& e, const Collection& in, Collection& out);
  Status ValueFunction(const Expression& e, const Collection& in, Collection& out);
  Status FhirFunction(const Expression& e, const Collection& in, Collection& out);
  Status StringFunction(const Expression& e, const Collection& in, Collection& out);
  Status Binary(const Expression& e, const Collection& focus, Collection& out);
  Status Logic(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const;
  void Equality(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const;
  Status Comparison(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const;
  Status Arithmetic(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const;
};

std::string_view TypeOf(const Value& v) {
  if (!v.type.empty()) return v.type;
  switch (v.kind) {
    case Value::Kind::kBoolean: return "boolean";
    case Value::Kind::kInteger: return "integer";
    case Value::Kind::kDecimal: return "decimal";
    case Value::Kind::kString: return "string";
    case Value::Kind::kDate: return "date";
    case Value::Kind::kDateTime: return "dateTime";
    case Value::Kind::kTime: return "time";
    case Value::Kind::kNode: return "";
  }
  return "";
}

// The type name an ofType()/is/as argument names (`Quantity`, `FHIR.string`).
std::string_view TypeArgument(const Expression& arg) {
  if (arg.kind == Expression::Kind::kMember) return arg.name;
  return {};
}

bool NodesEqual(const JsonTree& tree, const JsonNode& a, const JsonNode& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case JsonNode::Kind::kNull: return true;
    case JsonNode::Kind::kBool: return a.boolean == b.boolean;
    case JsonNode::Kind::kNumber: return std::stod(std::string(a.text)) == std::stod(std::string(b.text));
    case JsonNode::Kind::kString: return a.text == b.text;
    case JsonNode::Kind::kArray:
    case JsonNode::Kind::kObject: {
      if (a.count != b.count) return false;
      const JsonTree::Link* lb = tree.begin(b);
      for (const JsonTree::Link* la = tree.begin(a); la != tree.end(a); ++la, ++lb) {
        if (la->key != lb->key || !NodesEqual(tree, *la->node, *lb->node)) return false;
      }
      return true;
    }
  }
  return false;
}

// Equality of two items: 1 equal, 0 not, -1 not comparable (different precisions of a date).
int ItemsEqual(const JsonTree& tree, const Value& a, const Value& b, bool equivalent) {
  if (IsNumber(a) && IsNumber(b)) {
    if (a.kind == Value::Kind::kInteger && b.kind == Value::Kind::kInteger) return a.integer == b.integer;
    return AsDouble(a) == AsDouble(b);
  }
  if (IsText(a) && IsText(b)) {
    if (equivalent) return EqualsIgnoreCase(a.text, b.text);
    return a.text == b.text;
  }
  if (a.kind == Value::Kind::kBoolean && b.kind == Value::Kind::kBoolean) return a.boolean == b.boolean;
  if (a.kind == Value::Kind::kNode && b.kind == Value::Kind::kNode) return NodesEqual(tree, *a.node, *b.node);
  return 0;
}

// Boundaries (FHIRPath 3.0 lowBoundary/highBoundary) of decimals, dates, dateTimes and times.
int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
  return kDays[(month - 1) % 12];
}

bool Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = pos; i < pos + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// Fills a partial date "YYYY[-MM[-DD]]" to a full date.
bool BoundDate(std::string_view date, bool high, std::string& out) {
  if (!Digits(date, 0, 4)) return false;
  int year = std::stoi(std::string(date.substr(0, 4)));
  int month = high ? 12 : 1;
  if (date.size() >= 7) {
    if (date[4] != '-' || !Digits(date, 5, 2)) return false;
    month = std::stoi(std::string(date.substr(5, 2)));
  }
  int day = high ? DaysInMonth(year, month) : 1;
  if (date.size() >= 10) {
    if (date[7] != '-' || !Digits(date, 8, 2)) return false;
    day = std::stoi(std::string(date.substr(8, 2)));
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  out = buf;
  return true;
}

// Fills a partial time "hh[:mm[:ss[.fff]]]" to milliseconds.
bool BoundTime(std::string_view time, bool high, std::string& out) {
  if (!Digits(time, 0, 2)) return false;
  std::string hh(time.substr(0, 2));
  std::string mm = high ? "59" : "00", ss = high ? "59" : "00", frac = high ? "999" : "000";
  if (time.size() >= 5) mm = std::string(time.substr(3, 2));
  if (time.size() >= 8) ss = std::string(time.substr(6, 2));
  if (time.size() > 9 && time[8] == '.') {
    std::string f(time.substr(9));
    while (f.size() < 3) f.push_back(high ? '9' : '0');
    frac = f.substr(0, 3);
  }
  out = hh + ":" + mm + ":" + ss + "." + frac;
  return true;
}

bool BoundDateTime(std::string_view text, bool high, std::string& out) {
  size_t t = text.find('T');
  std::string date;
  if (!BoundDate(text.substr(0, t), high, date)) return false;
  std::string time, zone;
  if (t == std::string_view::npos) {
    if (!BoundTime(high ? "23" : "00", high, time)) return false;
  } else {
    std::string_view rest = text.substr(t + 1);
    size_t z = rest.find_first_of("Z+-");
    if (z != std::string_view::npos) zone = std::string(rest.substr(z));
    if (!BoundTime(rest.substr(0, z), high, time)) return false;
  }
  if (zone.empty()) zone = high ? "-12:00" : "+14:00";
  out = date + "T" + time + zone;
  return true;
}

Status Boundary(const Value& v, bool high, Collection& out) {
  if (IsNumber(v)) {
    std::string text = v.kind == Value::Kind::kInteger ? std::to_string(v.integer) : v.text;
    size_t dot = text.find('.');
    int precision = dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
    double half = 0.5 * std::pow(10.0, -precision);
    double value = AsDouble(v) + (high ? half : -half);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", precision + 1, value);
    out.push_back(Value::Decimal(std::stod(buf), buf));
    return Status::Ok();
  }
  if (!IsText(v)) return Status::Ok();
  std::string_view type = TypeOf(v);
  std::string result;
  bool is_time = EqualsIgnoreCase(type, "time") ||
                 (v.kind == Value::Kind::kString && type == "string" && v.text.size() >= 5 && v.text[2] == ':');
  bool is_datetime = EqualsIgnoreCase(type, "dateTime") || EqualsIgnoreCase(type, "instant") ||
                     v.text.find('T') != std::string::npos;
  if (is_time) {
    if (BoundTime(v.text, high, result)) out.push_back(Value::String(result, Value::Kind::kTime));
  } else if (is_datetime) {
    if (BoundDateTime(v.text, high, result)) out.push_back(Value::String(result, Value::Kind::kDateTime));
  } else if (BoundDate(v.text, high, result)) {
    out.push_back(Value::String(result, Value::Kind::kDate));
  }
  return Status::Ok();
}

// The id part of a reference "Type/id", "http://base/Type/id" or "Type/id/_history/v".
bool ReferenceKey(std::string_view reference, std::string_view want_type, std::string& key) {
  size_t history = reference.find("/_history/");
  if (history != std::string_view::npos) reference = reference.substr(0, history);
  size_t slash = reference.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view id = reference.substr(slash + 1);
  std::string_view head = reference.substr(0, slash);
  size_t type_start = head.rfind('/');
  std::string_view type = type_start == std::string_view::npos ? head : head.substr(type_start + 1);
  if (!want_type.empty() && type != want_type) return false;
  key = std::string(id);
  return !id.empty();
}

std::string ToText(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kBoolean: return v.boolean ? "true" : "false";
    case Value::Kind::kInteger: return std::to_string(v.integer);
    case Value::Kind::kDecimal: {
      if (!v.text.empty()) return v.text;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.15g", v.decimal);
      return buf;
    }
    case Value::Kind::kNode: return "";
    default: return v.text;
  }
}

Status Evaluator::Eval(const Expression& e, const Collection& focus, Collection& out) {
  switch (e.kind) {
    case Expression::Kind::kLiteral:
      out.push_back(e.literal);
      return Status::Ok();
    case Expression::Kind::kEmpty:
      return Status::Ok();
    case Expression::Kind::kThis:
      if (this_item) out.push_back(*this_item);
      else out.insert(out.end(), focus.begin(), focus.end());
      return Status::Ok();
    case Expression::Kind::kIndex:
      out.push_back(Value::Integer(index));
      return Status::Ok();
    case Expression::Kind::kVariable: {
      if (e.name == "resource" || e.name == "rootResource" || e.name == "context") {
        Value v;
        v.node = env.resource;
        out.push_back(v);
      } else if (e.name == "rowIndex") {
        out.push_back(Value::Integer(env.row_index));
      } else if (e.name == "ucum") {
        out.push_back(Value::String("http://unitsofmeasure.org"));
      } else if (e.name == "sct") {
        out.push_back(Value::String("http://snomed.info/sct"));
      } else if (e.name == "loinc") {
        out.push_back(Value::String("http://loinc.org"));
      } else if (env.constants) {
        auto it = env.constants->find(e.name);
        if (it == env.constants->end()) return Error("undefined constant %" + e.name);
        out.insert(out.end(), it->second.begin(), it->second.end());
      } else {
        return Error("undefined constant %" + e.name);
      }
      return Status::Ok();
    }
    case Expression::Kind::kMember: {
      if (!e.input) {
        for (const Value& item : focus) Navigate(item, e.name, out);
        return Status::Ok();
      }
      Collection in;
      if (Status s = Eval(*e.input, focus, in); !s.ok()) return s;
      for (const Value& item : in) Navigate(item, e.name, out);
      return Status::Ok();
    }
    case Expression::Kind::kFunction:
      return Function(e, focus, out);
    case Expression::Kind::kIndexer: {
      Collection in, index_value;
      if (Status s = EvalInput(e, focus, in); !s.ok()) return s;
      if (Status s = Eval(*e.args[0], root_focus, index_value); !s.ok()) return s;
      const Value* i;
      if (Status s = Single(index_value, "an indexer", i); !s.ok()) return s;
      if (!i) return Status::Ok();
      if (i->kind != Value::Kind::kInteger) return Error("an indexer must be an integer");
      if (i->integer >= 0 && static_cast<size_t>(i->integer) < in.size()) out.push_back(in[static_cast<size_t>(i->integer)]);
      return Status::Ok();
    }
    case Expression::Kind::kBinary:
      return Binary(e, focus, out);
    case Expression::Kind::kNegate: {
      Collection in;
      if (Status s = Eval(*e.args[0], focus, in); !s.ok()) return s;
      const Value* v;
      if (Status s = Single(in, "unary minus", v); !s.ok()) return s;
      if (!v) return Status::Ok();
      if (v->kind == Value::Kind::kInteger) out.push_back(Value::Integer(-v->integer));
      else if (v->kind == Value::Kind::kDecimal)
        out.push_back(Value::Decimal(-v->decimal, v->text.empty() ? std::string() : "-" + v->text));
      else return Error("unary minus needs a number");
      return Status::Ok();
    }
    case Expression::Kind::kTypeOp: {
      Collection in;
      if (Status s = Eval(*e.input, focus, in); !s.ok()) return s;
      if (e.is_as) {
        for (const Value& v : in)
          if (EqualsIgnoreCase(TypeOf(v), e.name)) out.push_back(v);
        return Status::Ok();
      }
      const Value* v;
      if (Status s = Single(in, "'is'", v); !s.ok()) return s;
      if (v) out.push_back(Value::Boolean(EqualsIgnoreCase(TypeOf(*v), e.name)));
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status Evaluator::Function(const Expression& e, const Collection& focus, Collection& out) {
  Collection in;
  if (Status s = EvalInput(e, focus, in); !s.ok()) return s;
  using F = fhirlake::view::Function;
  switch (e.function) {
    case F::kWhere:
    case F::kSelect:
    case F::kExists:
    case F::kAll:
      return IteratingFunction(e, in, out);
    case F::kEmpty:
    case F::kFirst:
    case F::kLast:
    case F::kTail:
    case F::kSkip:
    case F::kTake:
    case F::kCount:
    case F::kSingle:
    case F::kDistinct:
    case F::kIsDistinct:
    case F::kOfType:
    case F::kUnion:
    case F::kCombine:
    case F::kAllTrue:
    case F::kAnyTrue:
    case F::kAllFalse:
    case F::kAnyFalse:
      return CollectionFunction(e, in, out);
    case F::kNot:
    case F::kHasValue:
    case F::kToString:
    case F::kToInteger:
    case F::kToDecimal:
    case F::kLowBoundary:
    case F::kHighBoundary:
      return ValueFunction(e, in, out);
    case F::kExtension:
    case F::kJoin:
    case F::kGetResourceKey:
    case F::kGetReferenceKey:
      return FhirFunction(e, in, out);
    case F::kLower:
    case F::kUpper:
    case F::kLength:
    case F::kTrim:
    case F::kStartsWith:
    case F::kEndsWith:
    case F::kContains:
    case F::kIndexOf:
    case F::kMatches:
    case F::kSplit:
    case F::kSubstring:
    case F::kReplace:
      return StringFunction(e, in, out);
    case F::kIif: {
      Collection condition;
      if (Status s = Eval(*e.args[0], in.empty() ? focus : in, condition); !s.ok()) return s;
      int truth;
      if (Status s = Truth(condition, truth); !s.ok()) return s;
      if (truth == 1) return Eval(*e.args[1], in.empty() ? focus : in, out);
      if (e.args.size() > 2) return Eval(*e.args[2], in.empty() ? focus : in, out);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// Evaluates the function's argument once per item of `in`, with the item as $this and its
// position as $index, and passes each result to `body`.
Status Evaluator::ForEach(const Expression& e, const Collection& in,
                          const std::function<Status(const Value&, const Collection&)>& body) {
  const Value* saved_this = this_item;
  const int64_t saved_index = index;
  Collection one(1);
  Collection result;
  Status status;
  for (size_t i = 0; i < in.size() && status.ok(); ++i) {
    one[0] = in[i];
    this_item = &one[0];
    index = static_cast<int64_t>(i);
    result.clear();
    status = Eval(*e.args[0], one, result);
    if (status.ok()) status = body(in[i], result);
  }
  this_item = saved_this;
  index = saved_index;
  return status;
}

// where(), select(), exists(criteria), all(criteria): the argument per item.
Status Evaluator::IteratingFunction(const Expression& e, const Collection& in, Collection& out) {
  using F = fhirlake::view::Function;
  switch (e.function) {
    case F::kWhere:
      return ForEach(e, in, [&](const Value& item, const Collection& r) {
        int truth;
        if (Status s = Truth(r, truth); !s.ok()) return s;
        if (truth == 1) out.push_back(item);
        return Status::Ok();
      });
    case F::kSelect:
      return ForEach(e, in, [&](const Value&, const Collection& r) {
        out.insert(out.end(), r.begin(), r.end());
        return Status::Ok();
      });
    case F::kExists:
    case F::kAll: {
      if (e.function == F::kExists && e.args.empty()) {
        out.push_back(Value::Boolean(!in.empty()));
        return Status::Ok();
      }
      const bool all = e.function == F::kAll;
      bool result = all;  // all(): no item failed; exists(): some item passed
      if (Status s = ForEach(e, in, [&](const Value&, const Collection& r) {
            int truth;
            if (Status s2 = Truth(r, truth); !s2.ok()) return s2;
            result = all ? result && truth == 1 : result || truth == 1;
            return Status::Ok();
          });
          !s.ok()) {
        return s;
      }
      out.push_back(Value::Boolean(result));
      return Status::Ok();
    }
    default: return InternalError(e.name + "() is not an iterating function");
  }
}

// The functions of the collection as a whole (FHIRPath §5.1-5.4): existence, subsetting,
// combining, and the boolean aggregates.
Status Evaluator::CollectionFunction(const Expression& e, const Collection& in, Collection& out) {
  using F = fhirlake::view::Function;
  switch (e.function) {
    case F::kEmpty: out.push_back(Value::Boolean(in.empty())); return Status::Ok();
    case F::kFirst: if (!in.empty()) out.push_back(in.front()); return Status::Ok();
    case F::kLast: if (!in.empty()) out.push_back(in.back()); return Status::Ok();
    case F::kTail: if (in.size() > 1) out.insert(out.end(), in.begin() + 1, in.end()); return Status::Ok();
    case F::kSkip:
    case F::kTake: {
      int64_t n;
      if (Status s = IntegerArg(e, 0, n); !s.ok()) return s;
      size_t k = static_cast<size_t>(std::clamp<int64_t>(n, 0, static_cast<int64_t>(in.size())));
      if (e.function == F::kSkip) out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(k), in.end());
      else out.insert(out.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(k));
      return Status::Ok();
    }
    case F::kCount: out.push_back(Value::Integer(static_cast<int64_t>(in.size()))); return Status::Ok();
    case F::kSingle: {
      const Value* v;
      if (Status s = Single(in, "single()", v); !s.ok()) return s;
      if (v) out.push_back(*v);
      return Status::Ok();
    }
    case F::kDistinct:
    case F::kIsDistinct: {
      Collection unique;
      for (const Value& v : in) {
        bool seen = false;
        for (const Value& u : unique) seen = seen || ItemsEqual(*env.tree, v, u, false) == 1;
        if (!seen) unique.push_back(v);
      }
      if (e.function == F::kDistinct) out.insert(out.end(), unique.begin(), unique.end());
      else out.push_back(Value::Boolean(unique.size() == in.size()));
      return Status::Ok();
    }
    case F::kOfType: {
      std::string_view type = TypeArgument(*e.args[0]);
      if (type.empty()) return Error("ofType() needs a type name");
      for (const Value& v : in)
        if (EqualsIgnoreCase(TypeOf(v), type)) out.push_back(v);
      return Status::Ok();
    }
    case F::kUnion:
    case F::kCombine: {
      Collection other;
      if (Status s = EvalArg(e, 0, other); !s.ok()) return s;
      Collection all = in;
      all.insert(all.end(), other.begin(), other.end());
      if (e.function == F::kCombine) {
        out.insert(out.end(), all.begin(), all.end());
        return Status::Ok();
      }
      for (const Value& v : all) {
        bool seen = false;
        for (size_t i = 0; i < out.size() && !seen; ++i) seen = ItemsEqual(*env.tree, v, out[i], false) == 1;
        if (!seen) out.push_back(v);
      }
      return Status::Ok();
    }
    case F::kAllTrue:
    case F::kAnyTrue:
    case F::kAllFalse:
    case F::kAnyFalse: {
      bool want = e.function == F::kAllTrue || e.function == F::kAnyTrue;
      bool all = e.function == F::kAllTrue || e.function == F::kAllFalse;
      bool result = all;
      for (const Value& v : in) {
        bool match = v.kind == Value::Kind::kBoolean && v.boolean == want;
        result = all ? (result && match) : (result || match);
      }
      out.push_back(Value::Boolean(result));
      return Status::Ok();
    }
    default: return InternalError(e.name + "() is not a collection function");
  }
}

// Functions of a single value: logic, conversions, boundaries (FHIRPath §5.5, §6.5).
Status Evaluator::ValueFunction(const Expression& e, const Collection& in, Collection& out) {
  using F = fhirlake::view::Function;
  switch (e.function) {
    case F::kNot: {
      int truth;
      if (Status s = Truth(in, truth); !s.ok()) return s;
      if (truth >= 0) out.push_back(Value::Boolean(truth == 0));
      return Status::Ok();
    }
    case F::kHasValue: {
      out.push_back(Value::Boolean(in.size() == 1 && in[0].kind != Value::Kind::kNode));
      return Status::Ok();
    }
    case F::kToString: {
      const Value* v;
      if (Status s = Single(in, "toString()", v); !s.ok()) return s;
      if (v && v->kind != Value::Kind::kNode) out.push_back(Value::String(ToText(*v)));
      return Status::Ok();
    }
    case F::kToInteger:
    case F::kToDecimal: {
      const Value* v;
      if (Status s = Single(in, e.name.c_str(), v); !s.ok()) return s;
      if (!v) return Status::Ok();
      if (v->kind == Value::Kind::kInteger) {
        out.push_back(e.function == F::kToInteger ? *v : Value::Decimal(static_cast<double>(v->integer)));
      } else if (v->kind == Value::Kind::kDecimal) {
        if (e.function == F::kToDecimal) out.push_back(*v);
      } else if (v->kind == Value::Kind::kBoolean) {
        out.push_back(e.function == F::kToInteger ? Value::Integer(v->boolean) : Value::Decimal(v->boolean));
      } else if (v->kind == Value::Kind::kString) {
        const std::string& t = v->text;
        if (e.function == F::kToInteger) {
          int64_t i;
          auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), i);
          if (ec == std::errc() && p == t.data() + t.size()) out.push_back(Value::Integer(i));
        } else {
          static const std::regex kDecimal("[+-]?[0-9]+(\\.[0-9]+)?");
          if (std::regex_match(t, kDecimal)) out.push_back(Value::Decimal(std::stod(t), t));
        }
      }
      return Status::Ok();
    }
    case F::kLowBoundary:
    case F::kHighBoundary: {
      const Value* v;
      if (Status s = Single(in, e.name.c_str(), v); !s.ok()) return s;
      if (v) return Boundary(*v, e.function == F::kHighBoundary, out);
      return Status::Ok();
    }
    default: return InternalError(e.name + "() is not a value function");
  }
}

// The functions SQL on FHIR adds (extension(), join(), getResourceKey(), getReferenceKey()).
Status Evaluator::FhirFunction(const Expression& e, const Collection& in, Collection& out) {
  using F = fhirlake::view::Function;
  switch (e.function) {
    case F::kExtension: {
      std::string url;
      bool present;
      if (Status s = StringArg(e, 0, url, present); !s.ok()) return s;
      if (!present) return Status::Ok();
      Collection extensions;
      for (const Value& item : in) Navigate(item, "extension", extensions);
      for (const Value& x : extensions) {
        if (x.kind != Value::Kind::kNode) continue;
        const JsonNode* u = env.tree->Member(*x.node, "url");
        if (u && u->kind == JsonNode::Kind::kString && u->text == url) out.push_back(x);
      }
      return Status::Ok();
    }
    case F::kJoin: {
      std::string separator;
      bool present = false;
      if (!e.args.empty())
        if (Status s = StringArg(e, 0, separator, present); !s.ok()) return s;
      std::string joined;
      for (size_t i = 0; i < in.size(); ++i) {
        if (i) joined += separator;
        joined += ToText(in[i]);
      }
      out.push_back(Value::String(std::move(joined)));
      return Status::Ok();
    }
    case F::kGetResourceKey: {
      for (const Value& item : in) {
        if (item.kind != Value::Kind::kNode) continue;
        const JsonNode* id = env.tree->Member(*item.node, "id");
        if (id && id->kind == JsonNode::Kind::kString) out.push_back(Value::String(std::string(id->text)));
      }
      return Status::Ok();
    }
    case F::kGetReferenceKey: {
      std::string_view type = e.args.empty() ? std::string_view() : TypeArgument(*e.args[0]);
      for (const Value& item : in) {
        if (item.kind != Value::Kind::kNode) continue;
        const JsonNode* ref = env.tree->Member(*item.node, "reference");
        std::string key;
        if (ref && ref->kind == JsonNode::Kind::kString && ReferenceKey(ref->text, type, key))
          out.push_back(Value::String(std::move(key)));
      }
      return Status::Ok();
    }
    default: return InternalError(e.name + "() is not a SQL on FHIR function");
  }
}

// The string functions (FHIRPath §5.6): a single string input, empty in → empty out.
Status Evaluator::StringFunction(const Expression& e, const Collection& in, Collection& out) {
  using F = fhirlake::view::Function;
  switch (e.function) {
    case F::kLower:
    case F::kUpper:
    case F::kLength:
    case F::kTrim: {
      const Value* v;
      if (Status s = Single(in, e.name.c_str(), v); !s.ok()) return s;
      if (!v || !IsText(*v)) return Status::Ok();
      std::string t = v->text;
      if (e.function == F::kLength) {
        out.push_back(Value::Integer(static_cast<int64_t>(t.size())));
        return Status::Ok();
      }
      if (e.function == F::kTrim) {
        size_t b = t.find_first_not_of(" \t\r\n");
        size_t en = t.find_last_not_of(" \t\r\n");
        t = b == std::string::npos ? std::string() : t.substr(b, en - b + 1);
      } else {
        for (char& c : t)
          c = static_cast<char>(e.function == F::kLower ? std::tolower(static_cast<unsigned char>(c))
                                                        : std::toupper(static_cast<unsigned char>(c)));
      }
      out.push_back(Value::String(std::move(t)));
      return Status::Ok();
    }
    case F::kStartsWith:
    case F::kEndsWith:
    case F::kContains:
    case F::kIndexOf:
    case F::kMatches:
    case F::kSplit: {
      const Value* v;
      if (Status s = Single(in, e.name.c_str(), v); !s.ok()) return s;
      std::string arg;
      bool present;
      if (Status s = StringArg(e, 0, arg, present); !s.ok()) return s;
      if (!v || !present || !IsText(*v)) return Status::Ok();
      const std::string& t = v->text;
      switch (e.function) {
        case F::kStartsWith: out.push_back(Value::Boolean(t.compare(0, arg.size(), arg) == 0)); break;
        case F::kEndsWith:
          out.push_back(Value::Boolean(t.size() >= arg.size() && t.compare(t.size() - arg.size(), arg.size(), arg) == 0));
          break;
        case F::kContains: out.push_back(Value::Boolean(t.find(arg) != std::string::npos)); break;
        case F::kIndexOf: {
          size_t p = t.find(arg);
          out.push_back(Value::Integer(p == std::string::npos ? -1 : static_cast<int64_t>(p)));
          break;
        }
        case F::kMatches: {
          std::regex re(arg, std::regex::ECMAScript);
          out.push_back(Value::Boolean(std::regex_search(t, re)));
          break;
        }
        default: {
          size_t start = 0;
          for (;;) {
            size_t p = arg.empty() ? std::string::npos : t.find(arg, start);
            out.push_back(Value::String(t.substr(start, p == std::string::npos ? std::string::npos : p - start)));
            if (p == std::string::npos) break;
            start = p + arg.size();
          }
        }
      }
      return Status::Ok();
    }
    case F::kSubstring: {
      const Value* v;
      if (Status s = Single(in, "substring()", v); !s.ok()) return s;
      int64_t start, length = -1;
      if (Status s = IntegerArg(e, 0, start); !s.ok()) return s;
      if (e.args.size() > 1)
        if (Status s = IntegerArg(e, 1, length); !s.ok()) return s;
      if (!v || !IsText(*v) || start < 0 || static_cast<size_t>(start) >= v->text.size()) return Status::Ok();
      out.push_back(Value::String(v->text.substr(static_cast<size_t>(start),
                                                 length < 0 ? std::string::npos : static_cast<size_t>(length))));
      return Status::Ok();
    }
    case F::kReplace: {
      const Value* v;
      if (Status s = Single(in, "replace()", v); !s.ok()) return s;
      std::string pattern, substitution;
      bool p1, p2;
      if (Status s = StringArg(e, 0, pattern, p1); !s.ok()) return s;
      if (Status s = StringArg(e, 1, substitution, p2); !s.ok()) return s;
      if (!v || !p1 || !p2 || !IsText(*v)) return Status::Ok();
      std::string t = v->text, result;
      if (pattern.empty()) {
        for (char c : t) result += substitution + c;
        result += substitution;
      } else {
        size_t start = 0, p;
        while ((p = t.find(pattern, start)) != std::string::npos) {
          result += t.substr(start, p - start) + substitution;
          start = p + pattern.size();
        }
        result += t.substr(start);
      }
      out.push_back(Value::String(std::move(result)));
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

Status Evaluator::Binary(const Expression& e, const Collection& focus, Collection& out) {
  Collection left, right;
  if (Status s = Eval(*e.args[0], focus, left); !s.ok()) return s;
  if (Status s = Eval(*e.args[1], focus, right); !s.ok()) return s;
  switch (e.op) {
    case BinaryOp::kAnd:
    case BinaryOp::kOr:
    case BinaryOp::kXor:
    case BinaryOp::kImplies:
      return Logic(e.op, left, right, out);
    case BinaryOp::kEqual:
    case BinaryOp::kNotEqual:
    case BinaryOp::kEquivalent:
    case BinaryOp::kNotEquivalent:
      Equality(e.op, left, right, out);
      return Status::Ok();
    case BinaryOp::kLess:
    case BinaryOp::kLessOrEqual:
    case BinaryOp::kGreater:
    case BinaryOp::kGreaterOrEqual:
      return Comparison(e.op, left, right, out);
    case BinaryOp::kUnion: {
      Collection all = left;
      all.insert(all.end(), right.begin(), right.end());
      for (const Value& v : all) {
        bool seen = false;
        for (size_t i = 0; i < out.size() && !seen; ++i) seen = ItemsEqual(*env.tree, v, out[i], false) == 1;
        if (!seen) out.push_back(v);
      }
      return Status::Ok();
    }
    case BinaryOp::kIn:
    case BinaryOp::kContains: {
      const Collection& items = e.op == BinaryOp::kIn ? left : right;
      const Collection& set = e.op == BinaryOp::kIn ? right : left;
      const Value* v;
      if (Status s = Single(items, "in/contains", v); !s.ok()) return s;
      if (!v) return Status::Ok();
      bool found = false;
      for (const Value& x : set) found = found || ItemsEqual(*env.tree, *v, x, false) == 1;
      out.push_back(Value::Boolean(found));
      return Status::Ok();
    }
    case BinaryOp::kConcat: {
      const Value *a, *b;
      if (Status s = Single(left, "&", a); !s.ok()) return s;
      if (Status s = Single(right, "&", b); !s.ok()) return s;
      out.push_back(Value::String((a ? ToText(*a) : "") + (b ? ToText(*b) : "")));
      return Status::Ok();
    }
    case BinaryOp::kPlus:
    case BinaryOp::kMinus:
    case BinaryOp::kTimes:
    case BinaryOp::kDivide:
    case BinaryOp::kDiv:
    case BinaryOp::kMod:
      return Arithmetic(e.op, left, right, out);
  }
  return Status::Ok();
}

// and, or, xor, implies in three-valued logic (empty is unknown).
Status Evaluator::Logic(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const {
  int a, b;
  if (Status s = Truth(left, a); !s.ok()) return s;
  if (Status s = Truth(right, b); !s.ok()) return s;
  int r = -1;
  if (op == BinaryOp::kAnd) r = (a == 0 || b == 0) ? 0 : (a == 1 && b == 1) ? 1 : -1;
  else if (op == BinaryOp::kOr) r = (a == 1 || b == 1) ? 1 : (a == 0 && b == 0) ? 0 : -1;
  else if (op == BinaryOp::kXor) r = (a < 0 || b < 0) ? -1 : (a != b);
  else r = a == 0 ? 1 : a == 1 ? b : (b == 1 ? 1 : -1);
  if (r >= 0) out.push_back(Value::Boolean(r == 1));
  return Status::Ok();
}

// =, !=, ~, !~: item by item, in order; = with an empty side is empty, ~ is not.
void Evaluator::Equality(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const {
  const bool equivalent = op == BinaryOp::kEquivalent || op == BinaryOp::kNotEquivalent;
  const bool negate = op == BinaryOp::kNotEqual || op == BinaryOp::kNotEquivalent;
  if (left.empty() || right.empty()) {
    if (equivalent) out.push_back(Value::Boolean((left.empty() && right.empty()) != negate));
    return;
  }
  bool equal = left.size() == right.size();
  for (size_t i = 0; equal && i < left.size(); ++i) {
    int r = ItemsEqual(*env.tree, left[i], right[i], equivalent);
    if (r < 0) return;
    equal = r == 1;
  }
  out.push_back(Value::Boolean(equal != negate));
}

// <, <=, >, >= of two numbers or two texts (strings, dates and times compare as text).
Status Evaluator::Comparison(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const {
  const Value *a, *b;
  if (Status s = Single(left, "a comparison", a); !s.ok()) return s;
  if (Status s = Single(right, "a comparison", b); !s.ok()) return s;
  if (!a || !b) return Status::Ok();
  int cmp;
  if (IsNumber(*a) && IsNumber(*b)) {
    double x = AsDouble(*a), y = AsDouble(*b);
    cmp = x < y ? -1 : x > y ? 1 : 0;
  } else if (IsText(*a) && IsText(*b)) {
    cmp = a->text.compare(b->text);
  } else {
    return Error("cannot compare " + std::string(TypeOf(*a)) + " with " + std::string(TypeOf(*b)));
  }
  bool r = op == BinaryOp::kLess ? cmp < 0 : op == BinaryOp::kLessOrEqual ? cmp <= 0
         : op == BinaryOp::kGreater ? cmp > 0 : cmp >= 0;
  out.push_back(Value::Boolean(r));
  return Status::Ok();
}

// +, -, *, /, div, mod of two numbers (+ also of two strings). Integer results stay integers;
// division by zero, and an integer result past 64 bits, are empty (FHIRPath §6.6).
Status Evaluator::Arithmetic(BinaryOp op, const Collection& left, const Collection& right, Collection& out) const {
  const Value *a, *b;
  if (Status s = Single(left, "arithmetic", a); !s.ok()) return s;
  if (Status s = Single(right, "arithmetic", b); !s.ok()) return s;
  if (!a || !b) return Status::Ok();
  if (op == BinaryOp::kPlus && IsText(*a) && IsText(*b)) {
    out.push_back(Value::String(a->text + b->text));
    return Status::Ok();
  }
  if (!IsNumber(*a) || !IsNumber(*b)) return Error("arithmetic needs numbers");
  const bool integers = a->kind == Value::Kind::kInteger && b->kind == Value::Kind::kInteger;
  const double x = AsDouble(*a), y = AsDouble(*b);
  int64_t n;
  switch (op) {
    case BinaryOp::kPlus:
      if (!integers) out.push_back(Value::Decimal(x + y));
      else if (!__builtin_add_overflow(a->integer, b->integer, &n)) out.push_back(Value::Integer(n));
      break;
    case BinaryOp::kMinus:
      if (!integers) out.push_back(Value::Decimal(x - y));
      else if (!__builtin_sub_overflow(a->integer, b->integer, &n)) out.push_back(Value::Integer(n));
      break;
    case BinaryOp::kTimes:
      if (!integers) out.push_back(Value::Decimal(x * y));
      else if (!__builtin_mul_overflow(a->integer, b->integer, &n)) out.push_back(Value::Integer(n));
      break;
    case BinaryOp::kDivide:
      if (y != 0) out.push_back(Value::Decimal(x / y));
      break;
    case BinaryOp::kDiv:
    case BinaryOp::kMod:
      if (y == 0) break;
      if (integers) {
        if (a->integer == INT64_MIN && b->integer == -1) break;  // past 64 bits
        out.push_back(Value::Integer(op == BinaryOp::kDiv ? a->integer / b->integer : a->integer % b->integer));
      } else if (op == BinaryOp::kDiv) {
        const double q = std::trunc(x / y);
        if (q >= -9.2233720368547758e18 && q < 9.2233720368547758e18) out.push_back(Value::Integer(static_cast<int64_t>(q)));
      } else {
        out.push_back(Value::Decimal(std::fmod(x, y)));
      }
      break;
    default: break;
  }
  return Status::Ok();
}

}  // namespace

Value NodeValue(const JsonNode& node, std::string_view type) {
  Value v;
  v.type = type;
  switch (node.kind) {
    case JsonNode::Kind::kBool:
      v.kind = Value::Kind::kBoolean;
      v.boolean = node.boolean;
      break;
    case JsonNode::Kind::kNumber: {
      bool integral = node.text.find_first_of(".eE") == std::string_view::npos;
      int64_t i = 0;
      if (integral) {
        auto [p, ec] = std::from_chars(node.text.data(), node.text.data() + node.text.size(), i);
        integral = ec == std::errc();
      }
      if (integral && !EqualsIgnoreCase(type, "Decimal")) {
        v.kind = Value::Kind::kInteger;
        v.integer = i;
      } else {
        v.kind = Value::Kind::kDecimal;
        v.text = std::string(node.text);
        v.decimal = std::strtod(v.text.c_str(), nullptr);
      }
      break;
    }
    case JsonNode::Kind::kString:
      v.kind = Value::Kind::kString;
      v.text = std::string(node.text);
      break;
    default:
      v.kind = Value::Kind::kNode;
      v.node = &node;
  }
  return v;
}

nlohmann::json ValueToJson(const Value& value, const JsonTree& tree) {
  switch (value.kind) {
    case Value::Kind::kNode: return tree.ToJson(*value.node);
    case Value::Kind::kBoolean: return value.boolean;
    case Value::Kind::kInteger: return value.integer;
    case Value::Kind::kDecimal:
      return value.decimal;  // NodeValue and Boundary set it from the text
    default: return value.text;
  }
}

Status ParsedPath::Evaluate(const Collection& focus, const EvalEnvironment& env, Collection& out) const {
  Evaluator evaluator{env, focus};
  Status s = evaluator.Eval(*root_, focus, out);
  if (!s.ok()) return s.WithContext("evaluating '" + text_ + "'");
  return s;
}

}  // namespace fhirlake::view
