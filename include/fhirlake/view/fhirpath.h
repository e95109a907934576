// FHIRPath for ViewDefinitions: an expression is parsed once (when a view is compiled) into an
// Expression tree, then evaluated for every resource over its JsonTree. Covers what SQL on
// FHIR v2 requires of FHIRPath (the "shareable" subset) and what its test suite exercises:
// paths with choice types (`value` finds `valueQuantity`), indexers, `where`, `select`,
// `exists`, `empty`, `first`/`last`, `ofType`, `extension`, `join`, `getResourceKey`,
// `getReferenceKey`, `lowBoundary`/`highBoundary`, three-valued boolean logic, comparisons,
// arithmetic, `%constants`, `%resource`, `%rowIndex`, `$this` and common string functions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "fhirlake/status.h"
#include "fhirlake/view/json_tree.h"

namespace fhirlake::view {

// One item of a FHIRPath collection: either a node of the resource (objects, and primitives
// read from it) or a value computed by the expression (literals, constants, results).
struct Value {
  enum class Kind : uint8_t { kNode, kBoolean, kInteger, kDecimal, kString, kDate, kDateTime, kTime };
  Kind kind = Kind::kNode;
  const JsonNode* node = nullptr;  // kNode: an object of the resource
  std::string_view type;           // FHIR type when known (choice suffix, e.g. "Quantity", "dateTime")
  bool boolean = false;
  int64_t integer = 0;
  double decimal = 0;
  std::string text;  // kString/kDate/kDateTime/kTime: the value; kDecimal: as written

  static Value Boolean(bool b) { Value v; v.kind = Kind::kBoolean; v.boolean = b; return v; }
  static Value Integer(int64_t i) { Value v; v.kind = Kind::kInteger; v.integer = i; return v; }
  static Value Decimal(double d, std::string text = {});
  static Value String(std::string s, Kind kind = Kind::kString) {
    Value v; v.kind = kind; v.text = std::move(s); return v;
  }
};

using Collection = std::vector<Value>;

// A parsed FHIRPath expression. Immutable and shareable across threads once built.
struct Expression;

// What an evaluation sees besides its focus. The tree must hold the resource being evaluated.
struct EvalEnvironment {
  const JsonTree* tree = nullptr;
  const JsonNode* resource = nullptr;
  const std::map<std::string, Collection, std::less<>>* constants = nullptr;
  int64_t row_index = 0;
};

// Names a parser must accept as %name (the view's constants); anything else but the built-in
// environment variables (%resource, %rootResource, %context, %rowIndex, %ucum, %sct, %loinc)
// is a parse error, so a view that names an undefined constant fails when it is compiled.
class ParsedPath {
 public:
  // Parses `text`. kInvalidArgument says where the syntax went wrong.
  static Result<ParsedPath> Parse(std::string_view text, const std::vector<std::string>& constant_names);

  ParsedPath(ParsedPath&&) noexcept;
  ParsedPath& operator=(ParsedPath&&) noexcept;
  ~ParsedPath();

  // Evaluates over `focus` (usually one node). Errors (a function given a collection of more
  // than one item where it needs one, comparisons of unlike types) are kInvalidArgument.
  Status Evaluate(const Collection& focus, const EvalEnvironment& env, Collection& out) const;

  const std::string& text() const { return text_; }

 private:
  ParsedPath();
  std::string text_;
  std::unique_ptr<Expression> root_;
};

// The FHIR value of one item as JSON: primitives as JSON scalars (decimals as numbers),
// objects as they are in the resource.
nlohmann::json ValueToJson(const Value& value, const JsonTree& tree);

// Reads a node of the resource as a FHIRPath value (primitives become values, objects stay
// nodes; `type` is the FHIR type when the path named it).
Value NodeValue(const JsonNode& node, std::string_view type = {});

}  // namespace fhirlake::view
