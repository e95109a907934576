// The FHIR R4 type model: for each resource, complex type and backbone element, its elements
// in order (choice elements expanded, primitive extensions as `_name` of type Element).
// Derived at development time from the HL7 definitions (tools/derive_fhir_model.py) and
// compiled in; parsed once on first use.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <optional>
#include <vector>

namespace fhirlake::fhir {

// Whether `name` has the form of a resource type name (a capital letter, then letters and
// digits): what a file named after a type (Type.000.ndjson) may be made of, nothing a path
// could be. Says nothing of whether R4 defines it (TypeModel::IsResource).
bool IsResourceTypeName(std::string_view name);

// The type and id of a resource URL, relative ("Patient/123") or absolute
// ("https://ehr/fhir/Patient/123"), as a deletion entry's request.url gives it; trailing
// slashes are ignored. Nothing when it has no "Type/id" at its end (the type may be empty
// for "/123").
struct TypeAndId {
  std::string_view type, id;
};
std::optional<TypeAndId> SplitTypeAndId(std::string_view url);

struct ElementDef {
  std::string name;
  std::string type;  // a primitive, complex type, resource or backbone ("Patient.contact")
  bool multiple = false;
};

class TypeModel {
 public:
  // The compiled-in R4 model. Thread-safe.
  static const TypeModel& R4();

  // Elements of a resource, complex type or backbone element; nullptr for anything else.
  const std::vector<ElementDef>* Elements(std::string_view type) const;
  bool IsPrimitive(std::string_view type) const;
  bool IsResource(std::string_view type) const;

 private:
  std::map<std::string, std::vector<ElementDef>, std::less<>> types_;
  std::map<std::string, std::string, std::less<>> primitives_;
  std::vector<std::string> resources_;
};

}  // namespace fhirlake::fhir
