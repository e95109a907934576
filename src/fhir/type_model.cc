#include "fhirlake/fhir/type_model.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "src/fhir/r4_model_data.h"

namespace fhirlake::fhir {

const TypeModel& TypeModel::R4() {
  static const TypeModel model = [] {
    std::string text;
    for (size_t i = 0; i < kR4ModelChunkCount; ++i) text += kR4ModelChunks[i];
    auto doc = nlohmann::json::parse(text);
    TypeModel m;
    for (auto& [name, elements] : doc["types"].items()) {
      auto& list = m.types_[name];
      for (const auto& e : elements) list.push_back({e[0].get<std::string>(), e[1].get<std::string>(), e[2].get<int>() != 0});
    }
    for (auto& [name, kind] : doc["primitives"].items()) m.primitives_[name] = kind.get<std::string>();
    m.resources_ = doc["resources"].get<std::vector<std::string>>();
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

}  // namespace fhirlake::fhir
