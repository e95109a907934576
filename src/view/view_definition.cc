#include "fhirlake/view/view_definition.h"

#include <cctype>
#include <set>

namespace fhirlake::view {

struct ViewDefinition::Selection {
  enum class Iteration { kNone, kForEach, kForEachOrNull, kRepeat };
  struct Column {
    size_t slot;
    bool collection;
    std::string name;
    ParsedPath path;
  };
  Iteration iteration = Iteration::kNone;
  std::vector<ParsedPath> paths;  // forEach / forEachOrNull: one; repeat: one per path
  std::vector<Column> columns;
  std::vector<std::unique_ptr<Selection>> selects;
  std::vector<std::unique_ptr<Selection>> union_all;
  size_t begin = 0, end = 0;  // the slots (column positions) this selection fills
};

namespace {

using Selection = ViewDefinition::Selection;

bool ValidColumnName(const std::string& name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// Reads a constant's value[x] into a FHIRPath value.
Status ConstantValue(const nlohmann::json& constant, const std::string& name, Collection& out) {
  int found = 0;
  for (auto it = constant.begin(); it != constant.end(); ++it) {
    const std::string& key = it.key();
    if (key.size() <= 5 || key.compare(0, 5, "value") != 0) continue;
    std::string type = key.substr(5);
    const nlohmann::json& v = it.value();
    ++found;
    if (type == "Boolean" && v.is_boolean()) {
      out.push_back(Value::Boolean(v.get<bool>()));
    } else if ((type == "Integer" || type == "PositiveInt" || type == "UnsignedInt" || type == "Integer64") &&
               v.is_number_integer()) {
      out.push_back(Value::Integer(v.get<int64_t>()));
    } else if (type == "Decimal" && v.is_number()) {
      out.push_back(Value::Decimal(v.get<double>(), v.dump()));
    } else if (v.is_string()) {
      Value::Kind kind = type == "Date" ? Value::Kind::kDate
                         : (type == "DateTime" || type == "Instant") ? Value::Kind::kDateTime
                         : type == "Time" ? Value::Kind::kTime : Value::Kind::kString;
      out.push_back(Value::String(v.get<std::string>(), kind));
    } else {
      return InvalidArgument("constant '" + name + "': " + key + " has a value of the wrong JSON type");
    }
  }
  if (found != 1)
    return InvalidArgument("constant '" + name + "' must have exactly one value[x] (e.g. valueString), not " +
                           std::to_string(found));
  return Status::Ok();
}

class Compiler {
 public:
  Compiler(std::vector<ViewColumn>& columns, const std::vector<std::string>& constants)
      : columns_(columns), constants_(constants) {}

  Status Path(const nlohmann::json& value, const std::string& where, ParsedPath& out) {
    if (!value.is_string()) return InvalidArgument(where + " must be a FHIRPath string");
    auto parsed = ParsedPath::Parse(value.get<std::string>(), constants_);
    if (!parsed.ok()) return parsed.status().WithContext(where);
    out = std::move(parsed).value();
    return Status::Ok();
  }

  // Compiles a select; its columns take slots from columns_.size() on.
  Status Compile(const nlohmann::json& json, const std::string& where, std::unique_ptr<Selection>& out) {
    if (!json.is_object()) return InvalidArgument(where + " must be an object");
    auto sel = std::make_unique<Selection>();
    sel->begin = columns_.size();
    int iterations = 0;
    for (const char* key : {"forEach", "forEachOrNull"}) {
      if (!json.contains(key)) continue;
      ++iterations;
      sel->iteration = std::string_view(key) == "forEach" ? Selection::Iteration::kForEach
                                                          : Selection::Iteration::kForEachOrNull;
      ParsedPath p = std::move(ParsedPath::Parse("$this", {}).value());
      if (Status s = Path(json[key], where + "." + key, p); !s.ok()) return s;
      sel->paths.push_back(std::move(p));
    }
    if (json.contains("repeat")) {
      ++iterations;
      sel->iteration = Selection::Iteration::kRepeat;
      const nlohmann::json& repeat = json["repeat"];
      if (!repeat.is_array() || repeat.empty()) return InvalidArgument(where + ".repeat must be a non-empty list of paths");
      for (const auto& r : repeat) {
        ParsedPath p = std::move(ParsedPath::Parse("$this", {}).value());
        if (Status s = Path(r, where + ".repeat", p); !s.ok()) return s;
        sel->paths.push_back(std::move(p));
      }
    }
    if (iterations > 1) return InvalidArgument(where + " may have only one of forEach, forEachOrNull and repeat");
    for (auto it = json.begin(); it != json.end(); ++it) {
      static const std::set<std::string> kKnown = {"column", "select", "unionAll", "forEach", "forEachOrNull",
                                                   "repeat", "extension", "modifierExtension", "id"};
      if (!kKnown.count(it.key())) return InvalidArgument(where + " has an unknown element '" + it.key() + "'");
    }
    if (json.contains("column")) {
      const nlohmann::json& cols = json["column"];
      if (!cols.is_array() || cols.empty()) return InvalidArgument(where + ".column must be a non-empty list");
      for (size_t i = 0; i < cols.size(); ++i) {
        const nlohmann::json& c = cols[i];
        std::string at = where + ".column[" + std::to_string(i) + "]";
        if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
          return InvalidArgument(at + " needs a name");
        std::string name = c["name"].get<std::string>();
        if (!ValidColumnName(name))
          return InvalidArgument(at + ": column name '" + name + "' must start with a letter and hold only letters, digits and _");
        if (!c.contains("path")) return InvalidArgument(at + " ('" + name + "') needs a path");
        ParsedPath p = std::move(ParsedPath::Parse("$this", {}).value());
        if (Status s = Path(c["path"], at + " ('" + name + "')", p); !s.ok()) return s;
        ViewColumn column;
        column.name = name;
        column.path = p.text();
        if (c.contains("type")) {
          if (!c["type"].is_string()) return InvalidArgument(at + ".type must be a string");
          column.type = c["type"].get<std::string>();
        }
        if (c.contains("collection")) {
          if (!c["collection"].is_boolean()) return InvalidArgument(at + ".collection must be true or false");
          column.collection = c["collection"].get<bool>();
        }
        sel->columns.push_back(Selection::Column{columns_.size(), column.collection, name, std::move(p)});
        columns_.push_back(std::move(column));
      }
    }
    if (json.contains("select")) {
      const nlohmann::json& selects = json["select"];
      if (!selects.is_array()) return InvalidArgument(where + ".select must be a list");
      for (size_t i = 0; i < selects.size(); ++i) {
        std::unique_ptr<Selection> child;
        if (Status s = Compile(selects[i], where + ".select[" + std::to_string(i) + "]", child); !s.ok()) return s;
        sel->selects.push_back(std::move(child));
      }
    }
    if (json.contains("unionAll")) {
      const nlohmann::json& branches = json["unionAll"];
      if (!branches.is_array() || branches.empty()) return InvalidArgument(where + ".unionAll must be a non-empty list");
      size_t start = columns_.size();
      std::vector<std::string> first_names;
      for (size_t i = 0; i < branches.size(); ++i) {
        // Every branch fills the same slots: compile it, then compare and drop its columns.
        size_t before = columns_.size();
        std::unique_ptr<Selection> child;
        std::string at = where + ".unionAll[" + std::to_string(i) + "]";
        if (i > 0) columns_.resize(start);
        if (Status s = Compile(branches[i], at, child); !s.ok()) return s;
        std::vector<std::string> names;
        for (size_t k = start; k < columns_.size(); ++k) names.push_back(columns_[k].name);
        if (i == 0) {
          first_names = names;
        } else if (names != first_names) {
          return InvalidArgument(at + " has columns (" + Join(names) + ") but unionAll branches must all have (" +
                                 Join(first_names) + ") in that order");
        }
        (void)before;
        sel->union_all.push_back(std::move(child));
      }
    }
    sel->end = columns_.size();
    out = std::move(sel);
    return Status::Ok();
  }

  static std::string Join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }

 private:
  std::vector<ViewColumn>& columns_;
  const std::vector<std::string>& constants_;
};

// Runs selections over one resource.
class Runner {
 public:
  Runner(const JsonTree& tree, const std::map<std::string, Collection, std::less<>>& constants, size_t width)
      : tree_(tree), width_(width) {
    env_.tree = &tree;
    env_.resource = tree.root();
    env_.constants = &constants;
  }

  Status Run(const Selection& sel, const Value& focus, int64_t parent_index, std::vector<Row>& out) {
    Collection foci;
    Collection one{focus};
    switch (sel.iteration) {
      case Selection::Iteration::kNone:
        return Product(sel, &focus, parent_index, out);
      case Selection::Iteration::kForEach:
      case Selection::Iteration::kForEachOrNull:
        env_.row_index = parent_index;
        if (Status s = sel.paths[0].Evaluate(one, env_, foci); !s.ok()) return s;
        break;
      case Selection::Iteration::kRepeat:
        if (Status s = Repeat(sel, focus, parent_index, foci); !s.ok()) return s;
        break;
    }
    if (foci.empty() && sel.iteration == Selection::Iteration::kForEachOrNull) return Product(sel, nullptr, 0, out);
    for (size_t i = 0; i < foci.size(); ++i)
      if (Status s = Product(sel, &foci[i], static_cast<int64_t>(i), out); !s.ok()) return s;
    return Status::Ok();
  }

 private:
  // repeat: every item reached by applying the paths again and again, depth first.
  Status Repeat(const Selection& sel, const Value& node, int64_t parent_index, Collection& out) {
    Collection one{node};
    for (const ParsedPath& path : sel.paths) {
      Collection children;
      env_.row_index = parent_index;
      if (Status s = path.Evaluate(one, env_, children); !s.ok()) return s;
      for (const Value& child : children) {
        out.push_back(child);
        if (Status s = Repeat(sel, child, parent_index, out); !s.ok()) return s;
      }
    }
    return Status::Ok();
  }

  // The rows of `sel` for one focus (nullptr: forEachOrNull found nothing, so its slots are null).
  Status Product(const Selection& sel, const Value* focus, int64_t row_index, std::vector<Row>& out) {
    std::vector<Row> acc(1, Row(width_));
    Collection one;
    if (focus) one.push_back(*focus);
    env_.row_index = row_index;
    for (const Selection::Column& column : sel.columns) {
      Collection values;
      if (Status s = column.path.Evaluate(one, env_, values); !s.ok()) return s;
      Cell& cell = acc[0][column.slot];
      if (column.collection) {
        cell = nlohmann::json::array();
        for (const Value& v : values) cell.push_back(ValueToJson(v, tree_));
      } else if (values.size() > 1) {
        return InvalidArgument("column '" + column.name + "' ('" + column.path.text() + "') gave " +
                               std::to_string(values.size()) +
                               " values for one row; declare it \"collection\": true or narrow the path");
      } else if (values.size() == 1) {
        cell = ValueToJson(values[0], tree_);
      }
    }
    if (!focus) {
      out.insert(out.end(), acc.begin(), acc.end());
      return Status::Ok();
    }
    std::vector<Row> part;
    for (const auto& child : sel.selects) {
      part.clear();
      if (Status s = Run(*child, *focus, row_index, part); !s.ok()) return s;
      Combine(acc, part, child->begin, child->end);
      if (acc.empty()) return Status::Ok();
    }
    if (!sel.union_all.empty()) {
      part.clear();
      for (const auto& branch : sel.union_all)
        if (Status s = Run(*branch, *focus, row_index, part); !s.ok()) return s;
      Combine(acc, part, sel.union_all[0]->begin, sel.union_all[0]->end);
    }
    out.insert(out.end(), std::make_move_iterator(acc.begin()), std::make_move_iterator(acc.end()));
    return Status::Ok();
  }

  // acc := acc × part, taking slots [begin, end) from part.
  static void Combine(std::vector<Row>& acc, const std::vector<Row>& part, size_t begin, size_t end) {
    std::vector<Row> next;
    next.reserve(acc.size() * part.size());
    for (const Row& a : acc) {
      for (const Row& p : part) {
        Row r = a;
        for (size_t i = begin; i < end; ++i) r[i] = p[i];
        next.push_back(std::move(r));
      }
    }
    acc = std::move(next);
  }

  const JsonTree& tree_;
  size_t width_;
  EvalEnvironment env_;
};

}  // namespace

ViewDefinition::ViewDefinition() = default;
ViewDefinition::ViewDefinition(ViewDefinition&&) noexcept = default;
ViewDefinition& ViewDefinition::operator=(ViewDefinition&&) noexcept = default;
ViewDefinition::~ViewDefinition() = default;

Result<ViewDefinition> ViewDefinition::Compile(const nlohmann::json& view) {
  if (!view.is_object()) return InvalidArgument("a ViewDefinition must be a JSON object");
  ViewDefinition def;
  if (!view.contains("resource") || !view["resource"].is_string() || view["resource"].get<std::string>().empty())
    return InvalidArgument("the ViewDefinition has no resource (the FHIR resource type it flattens, e.g. \"Patient\")");
  def.resource_ = view["resource"].get<std::string>();
  if (view.contains("name")) {
    if (!view["name"].is_string()) return InvalidArgument("the ViewDefinition's name must be a string");
    def.name_ = view["name"].get<std::string>();
  }
  std::vector<std::string> constant_names;
  if (view.contains("constant")) {
    if (!view["constant"].is_array()) return InvalidArgument("the ViewDefinition's constant must be a list");
    for (const auto& c : view["constant"]) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
        return InvalidArgument("every constant needs a name");
      std::string name = c["name"].get<std::string>();
      Collection value;
      if (Status s = ConstantValue(c, name, value); !s.ok()) return s;
      constant_names.push_back(name);
      def.constants_[name] = std::move(value);
    }
  }
  if (!view.contains("select") || !view["select"].is_array() || view["select"].empty())
    return InvalidArgument("the ViewDefinition needs a non-empty select list");
  Compiler compiler(def.columns_, constant_names);
  nlohmann::json root = {{"select", view["select"]}};
  if (Status s = compiler.Compile(root, "ViewDefinition", def.root_); !s.ok()) return s;
  std::set<std::string> names;
  for (const ViewColumn& c : def.columns_)
    if (!names.insert(c.name).second)
      return InvalidArgument("the ViewDefinition has two columns named '" + c.name + "'; column names must be unique");
  if (view.contains("where")) {
    if (!view["where"].is_array()) return InvalidArgument("the ViewDefinition's where must be a list");
    for (size_t i = 0; i < view["where"].size(); ++i) {
      const auto& w = view["where"][i];
      if (!w.is_object() || !w.contains("path")) return InvalidArgument("where[" + std::to_string(i) + "] needs a path");
      ParsedPath p = std::move(ParsedPath::Parse("$this", {}).value());
      if (Status s = compiler.Path(w["path"], "where[" + std::to_string(i) + "]", p); !s.ok()) return s;
      def.where_.push_back(std::move(p));
    }
  }
  return def;
}

Status ViewDefinition::Evaluate(const JsonTree& tree, std::vector<Row>& rows) const {
  const JsonNode* root = tree.root();
  if (!root || root->kind != JsonNode::Kind::kObject) return InvalidArgument("a resource must be a JSON object");
  const JsonNode* type = tree.Member(*root, "resourceType");
  if (!type || type->kind != JsonNode::Kind::kString || type->text != resource_) return Status::Ok();
  Value resource = NodeValue(*root);
  Collection focus{resource};
  EvalEnvironment env;
  env.tree = &tree;
  env.resource = root;
  env.constants = &constants_;
  Collection result;
  for (const ParsedPath& where : where_) {
    result.clear();
    if (Status s = where.Evaluate(focus, env, result); !s.ok()) return s;
    if (result.empty()) return Status::Ok();
    if (result.size() > 1 || result[0].kind != Value::Kind::kBoolean)
      return InvalidArgument("where path '" + where.text() + "' must give a boolean, not " +
                             (result.size() > 1 ? "a collection" : "a value of another type"));
    if (!result[0].boolean) return Status::Ok();
  }
  Runner runner(tree, constants_, columns_.size());
  return runner.Run(*root_, resource, 0, rows);
}

}  // namespace fhirlake::view
