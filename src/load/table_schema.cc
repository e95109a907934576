#include "fhirlake/load/table_schema.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <set>

#include "fhirlake/fhir/type_model.h"
#include "fhirlake/json_field.h"

namespace fhirlake::load {
namespace {

using parquet::LogicalType;
using parquet::PhysicalType;
using parquet::SchemaNode;
using NodePtr = std::unique_ptr<SchemaNode>;

constexpr std::array<std::string_view, 6> kExtensionComplexValues = {"Coding", "CodeableConcept", "Reference",
                                                                      "Quantity", "Period", "Identifier"};

class Builder {
 public:
  Builder(const fhir::TypeModel& model, const TableSchemaOptions& options) : model_(model), options_(options) {}

  NodePtr Primitive(const std::string& name, const std::string& type) {
    if (type == "boolean") return parquet::Leaf(name, PhysicalType::kBoolean);
    if (type == "integer" || type == "positiveInt" || type == "unsignedInt") return parquet::Leaf(name, PhysicalType::kInt32);
    if (type == "instant") return parquet::Leaf(name, PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc);
    if (type == "decimal") {
      return options_.decimals_as_text ? parquet::DecimalText(name)
                                       : parquet::Decimal(name, kDecimalPrecision, kDecimalScale);
    }
    return parquet::Leaf(name, PhysicalType::kByteArray, LogicalType::kString);
  }

  // The elements of a complex type or backbone at `depth` (1 = directly below the resource).
  std::vector<NodePtr> Members(const std::string& type, int depth) {
    std::vector<NodePtr> out;
    const auto* elements = model_.Elements(type);
    if (!elements) return out;
    for (const auto& e : *elements) {
      if (e.type == "Extension" || e.type == "Element" || e.type == "Resource") continue;  // only in _json
      if (NodePtr n = Element(e, depth)) out.push_back(std::move(n));
    }
    return out;
  }

  NodePtr Element(const fhir::ElementDef& e, int depth) {
    NodePtr node;
    if (model_.IsPrimitive(e.type)) {
      node = Primitive(e.name, e.type);
    } else {
      if (depth + 1 > options_.max_depth) return nullptr;
      auto members = Members(e.type, depth + 1);
      if (members.empty()) return nullptr;
      node = parquet::Group(e.name, std::move(members));
    }
    return e.multiple ? parquet::List(e.name, std::move(node)) : std::move(node);
  }

  // The reduced Extension (see the header); `nested` adds one level of child extensions.
  NodePtr ReducedExtension(const std::string& name, bool nested) {
    std::vector<NodePtr> members;
    members.push_back(parquet::Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
    if (nested) members.push_back(parquet::List("extension", ReducedExtension("element", false)));
    for (const auto& e : *model_.Elements("Extension")) {
      if (e.name == "url") {
        members.push_back(Primitive(e.name, e.type));
      } else if (e.name.starts_with("value")) {
        if (model_.IsPrimitive(e.type)) {
          members.push_back(Primitive(e.name, e.type));
        } else if (std::find(kExtensionComplexValues.begin(), kExtensionComplexValues.end(), e.type) !=
                   kExtensionComplexValues.end()) {
          // Budget the value like an element one level below the root.
          if (NodePtr n = Element(e, options_.max_depth - 2)) members.push_back(std::move(n));
        }
      }
    }
    return parquet::Group(name, std::move(members));
  }

  std::vector<NodePtr> Root(std::string_view resource_type) {
    std::vector<NodePtr> out;
    for (const auto& e : *model_.Elements(resource_type)) {
      if (e.type == "Resource") continue;  // contained: in _json
      if (e.type == "Extension") {
        out.push_back(parquet::List(e.name, ReducedExtension("element", true)));
      } else if (e.type == "Element") {
        std::vector<NodePtr> members;
        members.push_back(parquet::Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
        members.push_back(parquet::List("extension", ReducedExtension("element", false)));
        out.push_back(parquet::Group(e.name, std::move(members)));
      } else if (NodePtr n = Element(e, 0)) {
        out.push_back(std::move(n));
      }
    }
    return out;
  }

 private:
  const fhir::TypeModel& model_;
  const TableSchemaOptions& options_;
};

}  // namespace

bool HasTextDecimals(std::string_view schema_string) {
  return !schema_string.empty() && schema_string.find("\"decimal(") == std::string_view::npos;
}

namespace {

// Every column path under the Spark type `type` (a struct's fields, an array's or a map's
// values), prefixed with `prefix`.
void CollectColumnPaths(const nlohmann::json& type, const std::string& prefix, std::set<std::string>& out) {
  if (!type.is_object()) return;
  const std::string kind = FieldOr(type, "type", "");
  if (kind == "struct") {
    for (const auto& field : FieldOr(type, "fields", nlohmann::json::array())) {
      const std::string path = prefix + (prefix.empty() ? "" : ".") + FieldOr(field, "name", "");
      out.insert(path);
      CollectColumnPaths(FieldOr(field, "type", nlohmann::json()), path, out);
    }
  } else if (kind == "array") {
    CollectColumnPaths(FieldOr(type, "elementType", nlohmann::json()), prefix, out);
  } else if (kind == "map") {
    CollectColumnPaths(FieldOr(type, "valueType", nlohmann::json()), prefix, out);
  }
}

}  // namespace

std::vector<std::string> ColumnsMissingFrom(std::string_view table_schema, std::string_view load_schema) {
  const nlohmann::json table = ParseJsonFromOutside(table_schema), load = ParseJsonFromOutside(load_schema);
  if (table.is_discarded() || load.is_discarded()) return {};
  std::set<std::string> have, want;
  CollectColumnPaths(table, "", have);
  CollectColumnPaths(load, "", want);
  std::vector<std::string> missing;
  std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(missing));
  return missing;
}

parquet::Schema BuildTableSchema(std::string_view resource_type, const TableSchemaOptions& options) {
  const auto& model = fhir::TypeModel::R4();
  Builder builder(model, options);
  std::vector<NodePtr> columns;
  if (model.IsResource(resource_type)) {
    columns = builder.Root(resource_type);
  } else {
    columns.push_back(parquet::Leaf("id", PhysicalType::kByteArray, LogicalType::kString));
    fhir::ElementDef meta{"meta", "Meta", false};
    columns.push_back(builder.Element(meta, 0));
  }
  columns.push_back(parquet::Leaf("_json", PhysicalType::kByteArray, LogicalType::kString));
  return parquet::Schema(std::move(columns));
}

}  // namespace fhirlake::load
