// The Parquet schema as a tree (Parquet format: "Nested Encoding"): groups, standard 3-level
// LISTs and primitive leaves with their logical types. Finalize() numbers the leaves in
// depth-first order and computes each node's maximum definition and repetition level, which
// the column writers and a record shredder need.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fhirlake::parquet {

class ThriftCompactWriter;

enum class PhysicalType : int32_t {
  kBoolean = 0, kInt32 = 1, kInt64 = 2, kDouble = 5, kByteArray = 6, kFixedLenByteArray = 7
};
enum class Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum class LogicalType { kNone, kString, kTimestampMicrosUtc, kList, kDecimal, kMap };

struct SchemaNode {
  std::string name;
  Repetition repetition = Repetition::kOptional;
  bool is_leaf = false;
  PhysicalType type = PhysicalType::kByteArray;  // leaves
  LogicalType logical = LogicalType::kNone;
  bool number_as_text = false;  // a STRING leaf holding JSON numbers as their exact text (decimal)
  int type_length = 0;          // FIXED_LEN_BYTE_ARRAY leaves: bytes per value
  int precision = 0, scale = 0; // DECIMAL leaves
  std::vector<std::unique_ptr<SchemaNode>> children;

  // Set by Schema::Finalize.
  int max_def = 0;
  int max_rep = 0;
  int leaf_index = -1;                 // leaves: column number
  int group_index = -1;                // groups below the root: their number, depth-first from 0
  std::vector<int> leaves;             // groups: every leaf below, in order
  std::vector<std::string> path;       // names from the root's children down

  bool is_list() const { return logical == LogicalType::kList; }
  // For a LIST node: the element (list.element).
  const SchemaNode& list_element() const { return *children[0]->children[0]; }
};

// Builders.
std::unique_ptr<SchemaNode> Leaf(std::string name, PhysicalType type, LogicalType logical = LogicalType::kNone,
                                 Repetition repetition = Repetition::kOptional);
std::unique_ptr<SchemaNode> Group(std::string name, std::vector<std::unique_ptr<SchemaNode>> children,
                                  Repetition repetition = Repetition::kOptional);
// An optional STRING leaf that keeps JSON numbers as their exact source text (FHIR decimal).
std::unique_ptr<SchemaNode> DecimalText(std::string name);
// An optional DECIMAL(precision, scale) leaf stored as FIXED_LEN_BYTE_ARRAY(16): the unscaled
// value as a big-endian two's-complement integer (Parquet "DECIMAL"). REQUIRES: precision ≤ 38.
std::unique_ptr<SchemaNode> Decimal(std::string name, int precision, int scale);
// optional group <name> (LIST) { repeated group list { <element named "element"> } }
std::unique_ptr<SchemaNode> List(std::string name, std::unique_ptr<SchemaNode> element);
// optional group <name> (MAP) { repeated group key_value { required binary key (STRING);
// optional binary value (STRING); } }: a map of strings, as Delta checkpoints hold them.
std::unique_ptr<SchemaNode> StringMap(std::string name);

class Schema {
 public:
  explicit Schema(std::vector<std::unique_ptr<SchemaNode>> columns);
  Schema(Schema&&) = default;

  const SchemaNode& root() const { return *root_; }
  const std::vector<const SchemaNode*>& leaves() const { return leaves_; }
  // Groups below the root (SchemaNode::group_index is below this).
  int group_count() const { return groups_; }

  // Writes the flattened list<SchemaElement> as FileMetaData field 2.
  void WriteThrift(ThriftCompactWriter& w) const;

 private:
  std::unique_ptr<SchemaNode> root_;
  std::vector<const SchemaNode*> leaves_;
  int groups_ = 0;
};

}  // namespace fhirlake::parquet
