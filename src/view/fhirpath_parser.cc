// Recursive-descent parser for FHIRPath (N1 grammar), precedence from lowest to highest:
// implies; or xor; and; in contains; = ~ != !~; < <= > >=; |; is as; + - &; * / div mod;
// unary + -; invocation (.member, .function(), [index]).
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "src/view/expression.h"

namespace fhirlake::view {

namespace {

struct Token {
  enum class Type { kEnd, kIdentifier, kDelimitedIdentifier, kString, kNumber, kDateTime,
                    kVariable, kSpecial, kSymbol };
  Type type = Type::kEnd;
  std::string text;
  size_t position = 0;
};

struct FunctionInfo {
  Function function;
  int min_args;
  int max_args;
};

const std::unordered_map<std::string_view, FunctionInfo>& Functions() {
  static const std::unordered_map<std::string_view, FunctionInfo> kFunctions = {
      {"where", {Function::kWhere, 1, 1}},
      {"select", {Function::kSelect, 1, 1}},
      {"exists", {Function::kExists, 0, 1}},
      {"all", {Function::kAll, 1, 1}},
      {"empty", {Function::kEmpty, 0, 0}},
      {"first", {Function::kFirst, 0, 0}},
      {"last", {Function::kLast, 0, 0}},
      {"tail", {Function::kTail, 0, 0}},
      {"skip", {Function::kSkip, 1, 1}},
      {"take", {Function::kTake, 1, 1}},
      {"count", {Function::kCount, 0, 0}},
      {"single", {Function::kSingle, 0, 0}},
      {"distinct", {Function::kDistinct, 0, 0}},
      {"isDistinct", {Function::kIsDistinct, 0, 0}},
      {"ofType", {Function::kOfType, 1, 1}},
      {"extension", {Function::kExtension, 1, 1}},
      {"join", {Function::kJoin, 0, 1}},
      {"getResourceKey", {Function::kGetResourceKey, 0, 0}},
      {"getReferenceKey", {Function::kGetReferenceKey, 0, 1}},
      {"lowBoundary", {Function::kLowBoundary, 0, 1}},
      {"highBoundary", {Function::kHighBoundary, 0, 1}},
      {"not", {Function::kNot, 0, 0}},
      {"hasValue", {Function::kHasValue, 0, 0}},
      {"toString", {Function::kToString, 0, 0}},
      {"toInteger", {Function::kToInteger, 0, 0}},
      {"toDecimal", {Function::kToDecimal, 0, 0}},
      {"lower", {Function::kLower, 0, 0}},
      {"upper", {Function::kUpper, 0, 0}},
      {"length", {Function::kLength, 0, 0}},
      {"startsWith", {Function::kStartsWith, 1, 1}},
      {"endsWith", {Function::kEndsWith, 1, 1}},
      {"contains", {Function::kContains, 1, 1}},
      {"substring", {Function::kSubstring, 1, 2}},
      {"replace", {Function::kReplace, 2, 2}},
      {"trim", {Function::kTrim, 0, 0}},
      {"iif", {Function::kIif, 2, 3}},
      {"allTrue", {Function::kAllTrue, 0, 0}},
      {"anyTrue", {Function::kAnyTrue, 0, 0}},
      {"allFalse", {Function::kAllFalse, 0, 0}},
      {"anyFalse", {Function::kAnyFalse, 0, 0}},
      {"union", {Function::kUnion, 1, 1}},
      {"combine", {Function::kCombine, 1, 1}},
      {"indexOf", {Function::kIndexOf, 1, 1}},
      {"matches", {Function::kMatches, 1, 1}},
      {"split", {Function::kSplit, 1, 1}},
  };
  return kFunctions;
}

const char* const kBuiltinVariables[] = {"resource", "rootResource", "context", "rowIndex",
                                         "ucum", "sct", "loinc"};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Status Next(Token& token) {
    SkipSpace();
    token = Token();
    token.position = pos_;
    if (pos_ >= text_.size()) return Status::Ok();
    char c = text_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
      token.type = Token::Type::kIdentifier;
      token.text = std::string(text_.substr(start, pos_ - start));
      return Status::Ok();
    }
    if (c == '`' || c == '\'') {
      std::string value;
      if (Status s = Quoted(c, value); !s.ok()) return s;
      token.type = c == '`' ? Token::Type::kDelimitedIdentifier : Token::Type::kString;
      token.text = std::move(value);
      return Status::Ok();
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (pos_ + 1 < text_.size() && text_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
        ++pos_;
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      }
      token.type = Token::Type::kNumber;
      token.text = std::string(text_.substr(start, pos_ - start));
      return Status::Ok();
    }
    if (c == '@') {
      size_t start = ++pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '-' ||
                                     text_[pos_] == ':' || text_[pos_] == '.' || text_[pos_] == '+' ||
                                     text_[pos_] == 'Z'))
        ++pos_;
      if (pos_ == start) return Error(start, "a date, time or dateTime after '@'");
      token.type = Token::Type::kDateTime;
      token.text = std::string(text_.substr(start, pos_ - start));
      return Status::Ok();
    }
    if (c == '%') {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '`' || text_[pos_] == '\'')) {
        std::string value;
        if (Status s = Quoted(text_[pos_], value); !s.ok()) return s;
        token.text = std::move(value);
      } else {
        size_t start = pos_;
        while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
        if (pos_ == start) return Error(start, "a name after '%'");
        token.text = std::string(text_.substr(start, pos_ - start));
      }
      token.type = Token::Type::kVariable;
      return Status::Ok();
    }
    if (c == '$') {
      size_t start = ++pos_;
      while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      token.type = Token::Type::kSpecial;
      token.text = std::string(text_.substr(start, pos_ - start));
      return Status::Ok();
    }
    static const char* const kSymbols[] = {"!=", "!~", "<=", ">=", ".", "(", ")", "[", "]", ",", "=", "~",
                                           "<", ">", "+", "-", "*", "/", "&", "|", "{", "}"};
    for (const char* symbol : kSymbols) {
      std::string_view sv(symbol);
      if (text_.substr(pos_, sv.size()) == sv) {
        pos_ += sv.size();
        token.type = Token::Type::kSymbol;
        token.text = std::string(sv);
        return Status::Ok();
      }
    }
    return Error(pos_, "a valid token");
  }

  Status Error(size_t at, const std::string& expected) const {
    return InvalidArgument("FHIRPath syntax error at position " + std::to_string(at + 1) + " of '" +
                           std::string(text_) + "': expected " + expected);
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size()) {
      if (std::isspace(static_cast<unsigned char>(text_[pos_]))) {
        ++pos_;
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (text_.substr(pos_, 2) == "/*") {
        size_t end = text_.find("*/", pos_ + 2);
        pos_ = end == std::string_view::npos ? text_.size() : end + 2;
      } else {
        break;
      }
    }
  }

  Status Quoted(char quote, std::string& out) {
    size_t start = pos_++;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      char e = text_[pos_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'f': out.push_back('\f'); break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return Error(pos_, "four hex digits after \\u");
          unsigned code = 0;
          auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
          if (ec != std::errc() || end != text_.data() + pos_ + 4) return Error(pos_, "four hex digits after \\u");
          pos_ += 4;
          if (code < 0x80) {
            out.push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default: out.push_back(e);
      }
    }
    if (pos_ >= text_.size()) return Error(start, std::string("a closing ") + quote);
    ++pos_;
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

using ExprPtr = std::unique_ptr<Expression>;

class Parser {
 public:
  Parser(std::string_view text, const std::vector<std::string>& constants)
      : lexer_(text), constants_(constants), text_size_(text.size()) {}

  Status Parse(ExprPtr& out) {
    if (Status s = Advance(); !s.ok()) return s;
    if (text_size_ > kMaxLength) {
      return InvalidArgument("a FHIRPath expression may be " + std::to_string(kMaxLength) + " characters long, this one has " +
                             std::to_string(text_size_));
    }
    if (Status s = ParseBinary(0, out); !s.ok()) return s;
    if (token_.type != Token::Type::kEnd) return lexer_.Error(token_.position, "an operator or the end");
    return Status::Ok();
  }

 private:
  Status Advance() { return lexer_.Next(token_); }

  bool IsSymbol(std::string_view s) const { return token_.type == Token::Type::kSymbol && token_.text == s; }
  bool IsWord(std::string_view s) const { return token_.type == Token::Type::kIdentifier && token_.text == s; }

  // Binary operator at the current token and its level (0 lowest), or -1.
  int OperatorLevel(BinaryOp& op) const {
    struct Entry { std::string_view text; bool word; int level; BinaryOp op; };
    static const Entry kOps[] = {
        {"implies", true, 0, BinaryOp::kImplies}, {"or", true, 1, BinaryOp::kOr},
        {"xor", true, 1, BinaryOp::kXor}, {"and", true, 2, BinaryOp::kAnd},
        {"in", true, 3, BinaryOp::kIn}, {"contains", true, 3, BinaryOp::kContains},
        {"=", false, 4, BinaryOp::kEqual}, {"!=", false, 4, BinaryOp::kNotEqual},
        {"~", false, 4, BinaryOp::kEquivalent}, {"!~", false, 4, BinaryOp::kNotEquivalent},
        {"<", false, 5, BinaryOp::kLess}, {"<=", false, 5, BinaryOp::kLessOrEqual},
        {">", false, 5, BinaryOp::kGreater}, {">=", false, 5, BinaryOp::kGreaterOrEqual},
        {"|", false, 6, BinaryOp::kUnion},
        {"+", false, 8, BinaryOp::kPlus}, {"-", false, 8, BinaryOp::kMinus},
        {"&", false, 8, BinaryOp::kConcat}, {"*", false, 9, BinaryOp::kTimes},
        {"/", false, 9, BinaryOp::kDivide}, {"div", true, 9, BinaryOp::kDiv},
        {"mod", true, 9, BinaryOp::kMod},
    };
    for (const Entry& e : kOps) {
      if (e.word ? IsWord(e.text) : IsSymbol(e.text)) {
        op = e.op;
        return e.level;
      }
    }
    return -1;
  }

  Status ParseBinary(int min_level, ExprPtr& out) {
    if (Status s = ParseUnary(out); !s.ok()) return s;
    for (;;) {
      // Level 7: is / as with a type name.
      if (min_level <= 7 && (IsWord("is") || IsWord("as"))) {
        auto node = std::make_unique<Expression>();
        node->kind = Expression::Kind::kTypeOp;
        node->is_as = IsWord("as");
        if (Status s = Advance(); !s.ok()) return s;
        std::string type;
        if (Status s = TypeName(type); !s.ok()) return s;
        node->name = type;
        node->input = std::move(out);
        out = std::move(node);
        continue;
      }
      BinaryOp op;
      int level = OperatorLevel(op);
      if (level < 0 || level < min_level) return Status::Ok();
      if (Status s = Advance(); !s.ok()) return s;
      ExprPtr rhs;
      if (Status s = ParseBinary(level + 1, rhs); !s.ok()) return s;
      auto node = std::make_unique<Expression>();
      node->kind = Expression::Kind::kBinary;
      node->op = op;
      node->args.push_back(std::move(out));
      node->args.push_back(std::move(rhs));
      out = std::move(node);
    }
  }

  Status TypeName(std::string& out) {
    if (token_.type != Token::Type::kIdentifier && token_.type != Token::Type::kDelimitedIdentifier)
      return lexer_.Error(token_.position, "a type name");
    out = token_.text;
    if (Status s = Advance(); !s.ok()) return s;
    if (IsSymbol(".")) {  // FHIR.Quantity, System.String
      if (Status s = Advance(); !s.ok()) return s;
      if (token_.type != Token::Type::kIdentifier) return lexer_.Error(token_.position, "a type name");
      out = token_.text;
      return Advance();
    }
    return Status::Ok();
  }

  Status ParseUnary(ExprPtr& out) {
    // Every nested operand, parenthesis, argument and index passes here: the parser, the
    // evaluator and the tree's destructor recurse once a level, so the depth is bounded.
    struct Level {
      int& depth;
      explicit Level(int& d) : depth(++d) {}
      ~Level() { --depth; }
    } level(depth_);
    if (depth_ > kMaxDepth) {
      return InvalidArgument("a FHIRPath expression may nest " + std::to_string(kMaxDepth) + " levels deep");
    }
    if (IsSymbol("-") || IsSymbol("+")) {
      bool negate = IsSymbol("-");
      if (Status s = Advance(); !s.ok()) return s;
      ExprPtr operand;
      if (Status s = ParseUnary(operand); !s.ok()) return s;
      if (!negate) {
        out = std::move(operand);
        return Status::Ok();
      }
      out = std::make_unique<Expression>();
      out->kind = Expression::Kind::kNegate;
      out->args.push_back(std::move(operand));
      return Status::Ok();
    }
    if (Status s = ParseTerm(out); !s.ok()) return s;
    return ParseInvocations(out);
  }

  Status ParseInvocations(ExprPtr& out) {
    for (;;) {
      if (IsSymbol(".")) {
        if (Status s = Advance(); !s.ok()) return s;
        ExprPtr next;
        if (Status s = ParseInvocation(next); !s.ok()) return s;
        next->input = std::move(out);
        out = std::move(next);
      } else if (IsSymbol("[")) {
        if (Status s = Advance(); !s.ok()) return s;
        auto node = std::make_unique<Expression>();
        node->kind = Expression::Kind::kIndexer;
        ExprPtr index;
        if (Status s = ParseBinary(0, index); !s.ok()) return s;
        if (!IsSymbol("]")) return lexer_.Error(token_.position, "']'");
        if (Status s = Advance(); !s.ok()) return s;
        node->args.push_back(std::move(index));
        node->input = std::move(out);
        out = std::move(node);
      } else {
        return Status::Ok();
      }
    }
  }

  // A member name or a function call (without its input).
  Status ParseInvocation(ExprPtr& out) {
    if (token_.type == Token::Type::kSpecial) return Special(out);
    if (token_.type != Token::Type::kIdentifier && token_.type != Token::Type::kDelimitedIdentifier)
      return lexer_.Error(token_.position, "a name or function");
    std::string name = token_.text;
    bool delimited = token_.type == Token::Type::kDelimitedIdentifier;
    size_t position = token_.position;
    if (Status s = Advance(); !s.ok()) return s;
    out = std::make_unique<Expression>();
    if (!delimited && IsSymbol("(")) {
      auto it = Functions().find(name);
      if (it == Functions().end())
        return InvalidArgument("FHIRPath function '" + name + "' (position " + std::to_string(position + 1) +
                               ") is not supported");
      out->kind = Expression::Kind::kFunction;
      out->function = it->second.function;
      out->name = name;
      if (Status s = Advance(); !s.ok()) return s;
      while (!IsSymbol(")")) {
        ExprPtr arg;
        if (Status s = ParseBinary(0, arg); !s.ok()) return s;
        out->args.push_back(std::move(arg));
        if (IsSymbol(",")) {
          if (Status s = Advance(); !s.ok()) return s;
        } else if (!IsSymbol(")")) {
          return lexer_.Error(token_.position, "',' or ')'");
        }
      }
      if (Status s = Advance(); !s.ok()) return s;
      int n = static_cast<int>(out->args.size());
      if (n < it->second.min_args || n > it->second.max_args)
        return InvalidArgument("FHIRPath function '" + name + "' takes " + std::to_string(it->second.min_args) +
                               (it->second.max_args != it->second.min_args
                                    ? " to " + std::to_string(it->second.max_args) : std::string()) +
                               " arguments, not " + std::to_string(n));
      return Status::Ok();
    }
    out->kind = Expression::Kind::kMember;
    out->name = std::move(name);
    return Status::Ok();
  }

  Status Special(ExprPtr& out) {
    out = std::make_unique<Expression>();
    if (token_.text == "this") {
      out->kind = Expression::Kind::kThis;
    } else if (token_.text == "index") {
      out->kind = Expression::Kind::kIndex;
    } else {
      return lexer_.Error(token_.position, "$this or $index");
    }
    return Advance();
  }

  Status ParseTerm(ExprPtr& out) {
    switch (token_.type) {
      case Token::Type::kEnd:
        return lexer_.Error(token_.position, "an expression");
      case Token::Type::kString:
        out = std::make_unique<Expression>();
        out->literal = Value::String(token_.text);
        return Advance();
      case Token::Type::kNumber: {
        out = std::make_unique<Expression>();
        int64_t integer = 0;
        if (token_.text.find('.') == std::string::npos &&
            std::from_chars(token_.text.data(), token_.text.data() + token_.text.size(), integer).ec == std::errc()) {
          out->literal = Value::Integer(integer);
        } else {  // a decimal, or an integer too large for 64 bits
          out->literal = Value::Decimal(std::strtod(token_.text.c_str(), nullptr), token_.text);
        }
        return Advance();
      }
      case Token::Type::kDateTime: {
        out = std::make_unique<Expression>();
        std::string text = token_.text;
        if (!text.empty() && text[0] == 'T') {
          out->literal = Value::String(text.substr(1), Value::Kind::kTime);
        } else if (text.find('T') != std::string::npos) {
          if (text.back() == 'T') text.pop_back();
          out->literal = Value::String(text, Value::Kind::kDateTime);
        } else {
          out->literal = Value::String(text, Value::Kind::kDate);
        }
        return Advance();
      }
      case Token::Type::kVariable: {
        bool known = false;
        for (const char* builtin : kBuiltinVariables) known = known || token_.text == builtin;
        for (const std::string& c : constants_) known = known || token_.text == c;
        if (!known)
          return InvalidArgument("FHIRPath expression names %" + token_.text +
                                 ", which is neither a constant of the view nor a built-in variable");
        out = std::make_unique<Expression>();
        out->kind = Expression::Kind::kVariable;
        out->name = token_.text;
        return Advance();
      }
      case Token::Type::kSpecial:
        return Special(out);
      case Token::Type::kSymbol:
        if (IsSymbol("(")) {
          if (Status s = Advance(); !s.ok()) return s;
          if (Status s = ParseBinary(0, out); !s.ok()) return s;
          if (!IsSymbol(")")) return lexer_.Error(token_.position, "')'");
          return Advance();
        }
        if (IsSymbol("{")) {
          if (Status s = Advance(); !s.ok()) return s;
          if (!IsSymbol("}")) return lexer_.Error(token_.position, "'}'");
          out = std::make_unique<Expression>();
          out->kind = Expression::Kind::kEmpty;
          return Advance();
        }
        return lexer_.Error(token_.position, "an expression");
      case Token::Type::kIdentifier:
        if (IsWord("true") || IsWord("false")) {
          out = std::make_unique<Expression>();
          out->literal = Value::Boolean(IsWord("true"));
          return Advance();
        }
        [[fallthrough]];
      case Token::Type::kDelimitedIdentifier:
        return ParseInvocation(out);
    }
    return lexer_.Error(token_.position, "an expression");
  }

  // Far above any real view's expression; an invocation chain (a.b.c...) adds a level of the
  // tree per step, which the length bounds.
  static constexpr size_t kMaxLength = 10000;
  static constexpr int kMaxDepth = 200;

  Lexer lexer_;
  const std::vector<std::string>& constants_;
  size_t text_size_;
  int depth_ = 0;
  Token token_;
};

}  // namespace

ParsedPath::ParsedPath() = default;
ParsedPath::ParsedPath(ParsedPath&&) noexcept = default;
ParsedPath& ParsedPath::operator=(ParsedPath&&) noexcept = default;
ParsedPath::~ParsedPath() = default;

Result<ParsedPath> ParsedPath::Parse(std::string_view text, const std::vector<std::string>& constant_names) {
  ParsedPath path;
  path.text_ = std::string(text);
  Parser parser(path.text_, constant_names);
  if (Status s = parser.Parse(path.root_); !s.ok()) return s;
  return path;
}

}  // namespace fhirlake::view
