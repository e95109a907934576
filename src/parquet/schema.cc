#include "fhirlake/parquet/schema.h"

#include "fhirlake/parquet/thrift_compact.h"

namespace fhirlake::parquet {
namespace {

// Parquet ConvertedType values, written beside the logical type for older readers.
constexpr int32_t kConvertedUtf8 = 0, kConvertedMap = 1, kConvertedList = 3, kConvertedDecimal = 5,
                  kConvertedTimestampMicros = 10;

void Number(SchemaNode& node, int def, int rep, std::vector<std::string> path, std::vector<const SchemaNode*>& leaves,
            int& groups) {
  if (node.repetition != Repetition::kRequired) ++def;
  if (node.repetition == Repetition::kRepeated) ++rep;
  node.max_def = def;
  node.max_rep = rep;
  node.path = path;
  if (node.is_leaf) {
    node.leaf_index = static_cast<int>(leaves.size());
    leaves.push_back(&node);
    return;
  }
  if (!path.empty()) node.group_index = groups++;
  for (auto& child : node.children) {
    auto child_path = path;
    child_path.push_back(child->name);
    Number(*child, def, rep, child_path, leaves, groups);
    if (child->is_leaf) {
      node.leaves.push_back(child->leaf_index);
    } else {
      node.leaves.insert(node.leaves.end(), child->leaves.begin(), child->leaves.end());
    }
  }
}

size_t CountNodes(const SchemaNode& n) {
  size_t c = 1;
  for (const auto& child : n.children) c += CountNodes(*child);
  return c;
}

void WriteElement(const SchemaNode& n, bool is_root, ThriftCompactWriter& w) {
  w.BeginElementStruct();
  if (n.is_leaf) w.I32(1, static_cast<int32_t>(n.type));
  if (n.is_leaf && n.type_length > 0) w.I32(2, n.type_length);
  if (!is_root) w.I32(3, static_cast<int32_t>(n.repetition));
  w.Binary(4, n.name);
  if (!n.is_leaf) w.I32(5, static_cast<int32_t>(n.children.size()));
  switch (n.logical) {
    case LogicalType::kString: w.I32(6, kConvertedUtf8); break;
    case LogicalType::kList: w.I32(6, kConvertedList); break;
    case LogicalType::kMap: w.I32(6, kConvertedMap); break;
    case LogicalType::kTimestampMicrosUtc: w.I32(6, kConvertedTimestampMicros); break;
    case LogicalType::kDecimal:
      w.I32(6, kConvertedDecimal);
      w.I32(7, n.scale);
      w.I32(8, n.precision);
      break;
    case LogicalType::kNone: break;
  }
  if (n.logical != LogicalType::kNone) {
    w.BeginStruct(10);  // LogicalType union
    switch (n.logical) {
      case LogicalType::kString: w.BeginStruct(1); w.EndStruct(); break;
      case LogicalType::kList: w.BeginStruct(3); w.EndStruct(); break;
      case LogicalType::kMap: w.BeginStruct(2); w.EndStruct(); break;
      case LogicalType::kTimestampMicrosUtc:
        w.BeginStruct(8);  // TimestampType
        w.Bool(1, true);   // isAdjustedToUTC
        w.BeginStruct(2);  // unit: TimeUnit union
        w.BeginStruct(2);  // MICROS
        w.EndStruct();
        w.EndStruct();
        w.EndStruct();
        break;
      case LogicalType::kDecimal:
        w.BeginStruct(5);  // DecimalType
        w.I32(1, n.scale);
        w.I32(2, n.precision);
        w.EndStruct();
        break;
      case LogicalType::kNone: break;
    }
    w.EndStruct();
  }
  w.EndStruct();
  for (const auto& child : n.children) WriteElement(*child, false, w);
}

}  // namespace

std::unique_ptr<SchemaNode> Leaf(std::string name, PhysicalType type, LogicalType logical, Repetition repetition) {
  auto n = std::make_unique<SchemaNode>();
  n->name = std::move(name);
  n->is_leaf = true;
  n->type = type;
  n->logical = logical;
  n->repetition = repetition;
  return n;
}

std::unique_ptr<SchemaNode> Group(std::string name, std::vector<std::unique_ptr<SchemaNode>> children, Repetition repetition) {
  auto n = std::make_unique<SchemaNode>();
  n->name = std::move(name);
  n->repetition = repetition;
  n->children = std::move(children);
  return n;
}

std::unique_ptr<SchemaNode> DecimalText(std::string name) {
  auto n = Leaf(std::move(name), PhysicalType::kByteArray, LogicalType::kString);
  n->number_as_text = true;
  return n;
}

std::unique_ptr<SchemaNode> Decimal(std::string name, int precision, int scale) {
  auto n = Leaf(std::move(name), PhysicalType::kFixedLenByteArray, LogicalType::kDecimal);
  n->type_length = 16;
  n->precision = precision;
  n->scale = scale;
  return n;
}

std::unique_ptr<SchemaNode> List(std::string name, std::unique_ptr<SchemaNode> element) {
  element->name = "element";
  std::vector<std::unique_ptr<SchemaNode>> inner;
  inner.push_back(std::move(element));
  std::vector<std::unique_ptr<SchemaNode>> outer;
  outer.push_back(Group("list", std::move(inner), Repetition::kRepeated));
  auto n = Group(std::move(name), std::move(outer), Repetition::kOptional);
  n->logical = LogicalType::kList;
  return n;
}

std::unique_ptr<SchemaNode> StringMap(std::string name) {
  std::vector<std::unique_ptr<SchemaNode>> entry;
  entry.push_back(Leaf("key", PhysicalType::kByteArray, LogicalType::kString, Repetition::kRequired));
  entry.push_back(Leaf("value", PhysicalType::kByteArray, LogicalType::kString));
  std::vector<std::unique_ptr<SchemaNode>> outer;
  outer.push_back(Group("key_value", std::move(entry), Repetition::kRepeated));
  auto n = Group(std::move(name), std::move(outer), Repetition::kOptional);
  n->logical = LogicalType::kMap;
  return n;
}

Schema::Schema(std::vector<std::unique_ptr<SchemaNode>> columns) {
  root_ = Group("schema", std::move(columns), Repetition::kRequired);
  Number(*root_, -0, 0, {}, leaves_, groups_);
  root_->max_def = 0;
}

void Schema::WriteThrift(ThriftCompactWriter& w) const {
  w.BeginList(2, ThriftType::kStruct, CountNodes(*root_));
  WriteElement(*root_, true, w);
}

}  // namespace fhirlake::parquet
