// The column schema of a resource type's table, derived from the FHIR R4 type model:
//   id, then every element as a typed nested column, then `_json` (the resource as received).
//
// Types: boolean → BOOLEAN; integer, positiveInt, unsignedInt → INT32; instant (so
// meta.lastUpdated) → TIMESTAMP(MICROS, UTC); decimal → DECIMAL(38, 18) (FHIR requires 18
// significant digits: this holds every value below 10^20 with 18 fractional digits; digits
// beyond the 18th fractional one are rounded, larger values are null; the exact text is always
// in `_json`); date, dateTime, time and every other primitive → STRING (dates may be partial).
//
// Tables written before decimals were typed hold them as STRING (the exact JSON text). Such a
// table keeps that type for merges and appends (its files must agree with its schema) and gets
// DECIMAL columns when it is overwritten (`--mode overwrite`, `sync --full-refresh`); see
// HasTextDecimals. Repeating elements are 3-level LISTs, choice elements keep their
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
#include <vector>

#include "fhirlake/parquet/schema.h"

namespace fhirlake::load {

struct TableSchemaOptions {
  int max_depth = 3;  // complex-type nesting below the resource
  bool decimals_as_text = false;  // decimal as STRING with the exact text (tables written before DECIMAL)
};

constexpr int kDecimalPrecision = 38, kDecimalScale = 18;

// Whether a table whose Delta schemaString is `schema_string` stores FHIR decimals as text
// (it has a schema and no decimal column).
bool HasTextDecimals(std::string_view schema_string);

// The columns (dotted paths, arrays looked through) of the Delta schemaString `table_schema`
// that `load_schema` lacks: what a write with `load_schema` would drop from the table. Empty
// when either does not parse.
std::vector<std::string> ColumnsMissingFrom(std::string_view table_schema, std::string_view load_schema);

// The table schema for `resource_type`; a type the model does not know gets id, meta, _json.
parquet::Schema BuildTableSchema(std::string_view resource_type, const TableSchemaOptions& options = {});

}  // namespace fhirlake::load
