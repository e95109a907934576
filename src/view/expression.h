// The FHIRPath syntax tree shared by the parser (fhirpath_parser.cc) and the evaluator
// (fhirpath_evaluator.cc). Names are resolved to enums when parsed, so evaluation never
// compares function or operator names.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fhirlake/view/fhirpath.h"

namespace fhirlake::view {

enum class Function : uint8_t {
  kWhere, kSelect, kExists, kAll, kEmpty, kFirst, kLast, kTail, kSkip, kTake, kCount, kSingle,
  kDistinct, kOfType, kExtension, kJoin, kGetResourceKey, kGetReferenceKey, kLowBoundary,
  kHighBoundary, kNot, kHasValue, kToString, kToInteger, kToDecimal, kLower, kUpper, kLength,
  kStartsWith, kEndsWith, kContains, kSubstring, kReplace, kTrim, kIif, kAllTrue, kAnyTrue,
  kAllFalse, kAnyFalse, kUnion, kCombine, kIsDistinct, kIndexOf, kMatches, kSplit,
};

enum class BinaryOp : uint8_t {
  kImplies, kOr, kXor, kAnd, kIn, kContains, kEqual, kNotEqual, kEquivalent, kNotEquivalent,
  kLess, kLessOrEqual, kGreater, kGreaterOrEqual, kUnion, kPlus, kMinus, kConcat, kTimes,
  kDivide, kDiv, kMod,
};

struct Expression {
  enum class Kind : uint8_t {
    kLiteral,      // literal
    kEmpty,        // {}
    kThis,         // $this
    kIndex,        // $index
    kVariable,     // %name (name)
    kMember,       // input.name (input null: the focus)
    kFunction,     // input.function(args) (input null: the focus)
    kIndexer,      // input[args[0]]
    kBinary,       // args[0] op args[1]
    kNegate,       // -args[0]
    kTypeOp,       // input is/as name
  };
  Kind kind = Kind::kLiteral;
  std::string name;
  Function function = Function::kWhere;
  BinaryOp op = BinaryOp::kEqual;
  bool is_as = false;  // kTypeOp: `as` (else `is`)
  Value literal;
  std::unique_ptr<Expression> input;
  std::vector<std::unique_ptr<Expression>> args;
};

}  // namespace fhirlake::view
