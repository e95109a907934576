// JsonTree: one FHIR resource parsed once into a compact, read-only tree that the FHIRPath
// evaluator walks. Built with simdjson's ondemand parser; strings point into the parser's
// buffer and numbers keep their exact source text (FHIR decimals carry their precision, which
// lowBoundary()/highBoundary() need). A tree is reused from resource to resource: Parse()
// clears it and keeps its capacity, so a view run allocates nothing per row once warm.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "fhirlake/status.h"

namespace fhirlake::view {

class JsonTree;

struct JsonNode {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kObject, kArray };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string_view text;  // kString: the unescaped value; kNumber: the number as written
  uint32_t first = 0;     // kObject/kArray: index of the first member in the tree's links
  uint32_t count = 0;     // kObject/kArray: number of members
};

class JsonTree {
 public:
  struct Link {
    std::string_view key;  // empty for array items
    const JsonNode* node;
  };

  JsonTree();
  ~JsonTree();
  JsonTree(const JsonTree&) = delete;
  JsonTree& operator=(const JsonTree&) = delete;

  // Parses one JSON document (an object or array at the root). The tree and every view into
  // it stay valid until the next Parse() or the tree's destruction. A malformed document is
  // kInvalidArgument.
  Status Parse(std::string_view json);

  // REQUIRES: a successful Parse().
  const JsonNode* root() const { return root_; }

  // The members of an object or the items of an array (empty for other kinds).
  const Link* begin(const JsonNode& node) const { return links_.data() + node.first; }
  const Link* end(const JsonNode& node) const { return links_.data() + node.first + node.count; }

  // The member `key` of an object, or nullptr.
  const JsonNode* Member(const JsonNode& node, std::string_view key) const;

  // The node as an nlohmann value (for output of complex values and tests).
  nlohmann::json ToJson(const JsonNode& node) const;

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
  std::vector<JsonNode> nodes_;
  std::vector<Link> links_;
  std::vector<std::pair<std::string_view, uint32_t>> scratch_;
  std::vector<std::pair<std::string_view, uint32_t>> runs_;
  const JsonNode* root_ = nullptr;
};

}  // namespace fhirlake::view
