// Where a view's rows go: CSV (RFC 4180, a header line), NDJSON (one object per row) or a
// Parquet file with typed columns from the view's `type`s (boolean → BOOLEAN; integer,
// positiveInt, unsignedInt, integer64 → INT64; decimal → DECIMAL(38,18) as the warehouse
// stores FHIR decimals; everything else, and collection columns as JSON arrays, → STRING).
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"
#include "fhirlake/view/view_definition.h"

namespace fhirlake::view {

enum class RowFormat { kCsv, kNdjson, kParquet };

// Parses "csv", "ndjson" or "parquet".
Result<RowFormat> ParseRowFormat(const std::string& name);

class RowSink {
 public:
  virtual ~RowSink() = default;
  // REQUIRES: row.size() == the number of columns the sink was opened with.
  virtual Status Write(const Row& row) = 0;
  // Flushes and closes; a sink that is not finished leaves an incomplete file.
  virtual Status Finish() = 0;
};

// Opens a sink for rows with `columns`, writing to `path` (created or truncated), or to
// standard output when `path` is empty (not for Parquet, which needs a file).
Result<std::unique_ptr<RowSink>> OpenRowSink(RowFormat format, const std::filesystem::path& path,
                                             const std::vector<ViewColumn>& columns);

// Takes a text sink's bytes (a line or more at a time); false when they cannot be taken (the
// reader went away), which fails the Write or Finish that gave them.
using TextOutput = std::function<bool(std::string_view bytes)>;

// A CSV or NDJSON sink writing through `output`, with the same text OpenRowSink writes; CSV
// without its header line when `csv_header` is false. kInvalidArgument for Parquet.
Result<std::unique_ptr<RowSink>> OpenTextRowSink(RowFormat format, TextOutput output,
                                                 const std::vector<ViewColumn>& columns, bool csv_header = true);

}  // namespace fhirlake::view
