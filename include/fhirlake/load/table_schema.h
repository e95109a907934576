// The column schema of a resource type's table, derived from the FHIR R4 type model:
//   id, then every element as a typed nested column, then `_json` (the resource as received).
//
// Types: boolean → BOOLEAN; integer, positiveInt, unsignedInt → INT32; instant (so
// meta.lastUpdated) → TIMESTAMP(MICROS, UTC); decimal → STRING holding the exact JSON text
// (no precision is lost and no scale is imposed); date, dateTime, time and every other
// primitive → STRING. Repeating elements are 3-level LISTs, choice elements keep their
// expanded names (valueQuantity, valueString, ...).
//
// What is cut (and so only in `_json`): complex types nested deeper than `max_depth`;
// `contained` resources; extensions below the resource root. At the root, `extension`,
// `modifierExtension` and primitive extensions (`_birthDate`) are typed with a reduced
// Extension: url, the primitive value[x] plus valueCoding, valueCodeableConcept,
// valueReference, valueQuantity, valuePeriod, valueIdentifier, and (for `extension` and
// `modifierExtension`, not for primitive extensions) one level of nested extensions, enough
// for US Core race and ethnicity. Typing extensions everywhere would give
// tens of thousands of columns per table (Patient: 11,555 leaves at depth 3).
#pragma once

#include <string_view>

#include "fhirlake/parquet/schema.h"

namespace fhirlake::load {

struct TableSchemaOptions {
  int max_depth = 3;  // complex-type nesting below the resource
};

// The table schema for `resource_type`; a type the model does not know gets id, meta, _json.
parquet::Schema BuildTableSchema(std::string_view resource_type, const TableSchemaOptions& options = {});

}  // namespace fhirlake::load
