#include "fhirlake/fhir/type_model.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdlib>

#include "src/fhir/r4_model_data.h"

namespace fhirlake::fhir {

// Read once per process from the embedded JSON (with simdjson: this runs before every load).
const TypeModel& TypeModel::R4() {
  static const TypeModel model = [] {
    std::string text;
    for (size_t i = 0; i < kR4ModelChunkCount; ++i) text += kR4ModelChunks[i];
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::object types, primitives;
    simdjson::dom::array resources;
    // Embedded and tested: a failure here is a broken build.
    if (parser.parse(text).get(doc) || doc["types"].get(types) || doc["primitives"].get(primitives) ||
        doc["resources"].get(resources)) {
      std::abort();
    }
    TypeModel m;
    for (simdjson::dom::key_value_pair type : types) {
      auto& list = m.types_[std::string(type.key)];
      simdjson::dom::array elements;
      if (type.value.get(elements)) std::abort();
      for (simdjson::dom::element e : elements) {
        std::string_view name, element_type;
        int64_t many;
        if (e.at(0).get(name) || e.at(1).get(element_type) || e.at(2).get(many)) std::abort();
        list.push_back({std::string(name), std::string(element_type), many != 0});
      }
    }
    for (simdjson::dom::key_value_pair p : primitives) {
      std::string_view kind;
      if (p.value.get(kind)) std::abort();
      m.primitives_[std::string(p.key)] = std::string(kind);
    }
    for (simdjson::dom::element r : resources) {
      std::string_view name;
      if (r.get(name)) std::abort();
      m.resources_.emplace_back(name);
    }
    std::sort(m.resources_.begin(), m.resources_.end());
    return m;
  }();
  return model;
}

const std::vector<ElementDef>* TypeModel::Elements(std::string_view type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second;
}

bool TypeModel::IsPrimitive(std::string_view type) const { return primitives_.count(type) > 0; }

bool TypeModel::IsResource(std::string_view type) const {
  return std::binary_search(resources_.begin(), resources_.end(), type);
}

bool IsResourceTypeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'A' || name[0] > 'Z') return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

std::optional<TypeAndId> SplitTypeAndId(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  const size_t slash = url.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == url.size()) return std::nullopt;
  const size_t before = slash == 0 ? std::string_view::npos : url.rfind('/', slash - 1);
  const size_t type_start = before == std::string_view::npos ? 0 : before + 1;
  return TypeAndId{url.substr(type_start, slash - type_start), url.substr(slash + 1)};
}

}  // namespace fhirlake::fhir
