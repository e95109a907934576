// FHIR `Parameters` resources: the body of POST kick-offs and of the import operations.
// Values are kept as text whatever their value[x] type, which is what operation handlers want
// (`_since` as valueInstant or valueDateTime, `mode` as valueCode, valueCoding or valueString).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::fhir {

struct Parameter {
  std::string name;
  std::string value;       // the value[x] as text; a Coding's code, a Reference's reference
  std::string value_type;  // "String", "Instant", "Coding", "Reference", ...; "" for parts only
  std::vector<Parameter> parts;
};

class Parameters {
 public:
  // Parses a Parameters resource. kInvalidArgument names what is wrong (not JSON, not a
  // Parameters resource, a parameter without a name).
  static Result<Parameters> Parse(std::string_view json);

  void Add(std::string name, std::string value_type, std::string value);
  std::string ToJson() const;

  const std::vector<Parameter>& items() const { return items_; }
  // All values of parameters named `name`, in order.
  std::vector<std::string> Values(std::string_view name) const;
  std::optional<std::string> First(std::string_view name) const;

 private:
  std::vector<Parameter> items_;
};

}  // namespace fhirlake::fhir
