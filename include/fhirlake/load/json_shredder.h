// JsonShredder: turns one JSON resource into the repetition/definition levels and values of a
// Parquet schema's leaves (Dremel record shredding), for parquet::FileWriter. Elements the
// schema does not have are skipped (they live on in the `_json` column); values of the wrong
// JSON type become nulls. FHIR decimals become DECIMAL values (see ParseDecimal), or, in a
// schema that keeps them as text, their source text exactly. A row is staged and reaches the
// columns only when the whole line is one JSON object (values the schema does not read are
// checked too: `_json` keeps the line, so it must be JSON), so a malformed line leaves the
// file untouched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// Whether `text` is a number by JSON's grammar (of any size).
bool IsJsonNumber(std::string_view text);

// The JSON number `text` as the unscaled value of a DECIMAL with `scale` fractional digits
// (digits beyond the scale are rounded half away from zero). False when `text` is not a JSON
// number or its value needs more than `precision` digits.
bool ParseDecimal(std::string_view text, int precision, int scale, __int128& unscaled);

class JsonShredder {
 public:
  // Top-level columns named in `external` are filled by the caller (e.g. `_json`, the line as
  // received), not from the JSON.
  JsonShredder(const parquet::Schema& schema, parquet::FileWriter& writer, std::vector<std::string> external = {});
  ~JsonShredder();

  // What a row says about itself, read while shredding.
  struct RowInfo {
    std::string resource_type;
    std::string id;
  };

  // Shreds `line` (followed by at least 64 readable padding bytes) as one row; the caller
  // ends the row. kInvalidArgument when the line is not a JSON object; then nothing was
  // written. With `check`, the row is also refused (nothing written) unless it has a string
  // `id` and its `resourceType` equals check->resource_type; `check` then receives the id.
  Status ShredRow(std::string_view line, RowInfo* check = nullptr);

 private:
  struct Entry {
    uint32_t leaf;
    uint16_t rep, def;
    uint8_t kind;  // 0 null, 1 bool, 2 int64, 3 double, 4 bytes, 5 decimal (i: low, high: high 64 bits),
                   // 6 null of every leaf below `group`
    int64_t i;
    double d;
    std::string_view s;
    int64_t high = 0;
    const parquet::SchemaNode* group = nullptr;
  };
  struct Impl;
  void Commit();

  const parquet::Schema& schema_;
  parquet::FileWriter& writer_;
  std::vector<std::string> external_;
  std::vector<Entry> staged_;
  Impl* impl_;
};

}  // namespace fhirlake::load
