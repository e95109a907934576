#include "fhirlake/view/json_tree.h"

#include <charconv>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace fhirlake::view {

namespace od = simdjson::ondemand;

struct JsonTree::Parser {
  od::parser parser;
  std::string input;  // the document followed by SIMDJSON_PADDING bytes, reused
  od::document doc;
};

namespace {

std::string_view TrimToken(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' ||
                            token.back() == '\t'))
    token.remove_suffix(1);
  return token;
}

}  // namespace

JsonTree::JsonTree() : parser_(std::make_unique<Parser>()) {}
JsonTree::~JsonTree() = default;

// Nodes are appended to nodes_ in pre-order; the members of one object are collected on
// scratch_ while its children are built (children pop their own members first), then moved
// to links_ as one contiguous run. Indices are used while building because nodes_ grows.
namespace {

struct Builder {
  std::vector<JsonNode>& nodes;
  std::vector<std::pair<std::string_view, uint32_t>>& scratch;
  std::vector<std::pair<std::string_view, uint32_t>>& runs;  // links as (key, node index)

  simdjson::error_code Build(od::value value, uint32_t& out) {
    od::json_type type;
    if (auto e = value.type().get(type)) return e;
    out = static_cast<uint32_t>(nodes.size());
    nodes.emplace_back();
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (auto e = value.get_object().get(object)) return e;
        size_t mark = scratch.size();
        for (auto field : object) {
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return e;
          od::value child;
          if (auto e = field.value().get(child)) return e;
          uint32_t index = 0;
          if (auto e = Build(child, index)) return e;
          scratch.emplace_back(key, index);
        }
        Close(out, JsonNode::Kind::kObject, mark);
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array array;
        if (auto e = value.get_array().get(array)) return e;
        size_t mark = scratch.size();
        for (auto item : array) {
          od::value child;
          if (auto e = item.get(child)) return e;
          uint32_t index = 0;
          if (auto e = Build(child, index)) return e;
          scratch.emplace_back(std::string_view(), index);
        }
        Close(out, JsonNode::Kind::kArray, mark);
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view text;
        if (auto e = value.get_string().get(text)) return e;
        nodes[out].kind = JsonNode::Kind::kString;
        nodes[out].text = text;
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        nodes[out].kind = JsonNode::Kind::kNumber;
        nodes[out].text = TrimToken(value.raw_json_token());
        double check;
        return value.get_double().get(check);
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = value.get_bool().get(b)) return e;
        nodes[out].kind = JsonNode::Kind::kBool;
        nodes[out].boolean = b;
        return simdjson::SUCCESS;
      }
      case od::json_type::null:
      default: {
        bool is_null = false;
        if (auto e = value.is_null().get(is_null)) return e;
        if (!is_null) return simdjson::INCORRECT_TYPE;
        return simdjson::SUCCESS;
      }
    }
  }

  void Close(uint32_t index, JsonNode::Kind kind, size_t mark) {
    nodes[index].kind = kind;
    nodes[index].first = static_cast<uint32_t>(runs.size());
    nodes[index].count = static_cast<uint32_t>(scratch.size() - mark);
    runs.insert(runs.end(), scratch.begin() + static_cast<std::ptrdiff_t>(mark), scratch.end());
    scratch.resize(mark);
  }
};

}  // namespace

Status JsonTree::Parse(std::string_view json) {
  nodes_.clear();
  links_.clear();
  scratch_.clear();
  root_ = nullptr;
  parser_->input.assign(json);
  parser_->input.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::padded_string_view padded(parser_->input.data(), json.size(), parser_->input.size());
  if (auto e = parser_->parser.iterate(padded).get(parser_->doc))
    return InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(e));
  od::value value;
  if (auto e = parser_->doc.get_value().get(value))
    return InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(e));
  runs_.clear();
  Builder builder{nodes_, scratch_, runs_};
  uint32_t root = 0;
  if (auto e = builder.Build(value, root))
    return InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(e));
  links_.reserve(runs_.size());
  for (const auto& [key, index] : runs_) links_.push_back(Link{key, &nodes_[index]});
  root_ = &nodes_[root];
  return Status::Ok();
}

const JsonNode* JsonTree::Member(const JsonNode& node, std::string_view key) const {
  if (node.kind != JsonNode::Kind::kObject) return nullptr;
  for (const Link* l = begin(node); l != end(node); ++l)
    if (l->key == key) return l->node;
  return nullptr;
}

nlohmann::json JsonTree::ToJson(const JsonNode& node) const {
  switch (node.kind) {
    case JsonNode::Kind::kNull: return nullptr;
    case JsonNode::Kind::kBool: return node.boolean;
    case JsonNode::Kind::kString: return std::string(node.text);
    case JsonNode::Kind::kNumber: {
      if (node.text.find_first_of(".eE") == std::string_view::npos) {
        int64_t i = 0;
        auto [p, ec] = std::from_chars(node.text.data(), node.text.data() + node.text.size(), i);
        if (ec == std::errc()) return i;
      }
      return std::strtod(std::string(node.text).c_str(), nullptr);
    }
    case JsonNode::Kind::kObject: {
      nlohmann::json out = nlohmann::json::object();
      for (const Link* l = begin(node); l != end(node); ++l) out[std::string(l->key)] = ToJson(*l->node);
      return out;
    }
    case JsonNode::Kind::kArray: {
      nlohmann::json out = nlohmann::json::array();
      for (const Link* l = begin(node); l != end(node); ++l) out.push_back(ToJson(*l->node));
      return out;
    }
  }
  return nullptr;
}

}  // namespace fhirlake::view
