// Delta's per-file statistics (PROTOCOL.md, "Per-file Statistics") for a data file that
// parquet::FileWriter wrote: the `stats` of its `add` action, built from the exact column
// statistics the writer collected, so engines can skip the file for `WHERE id = …` or
// `meta.lastUpdated > …` without opening it.
//
// Conventions followed (those of Delta's own writer):
// - `numRecords`; `minValues`, `maxValues` and `nullCount` nested as the schema is, for the
//   first `num_indexed_cols` leaf columns in schema order (structs are walked into; an array
//   counts as one column and gets only a `nullCount`, the rows where it is null), plus the
//   `always` columns wherever they are.
// - No min/max for booleans; strings cut to a prefix of 32 UTF-16 code units: the min is the
//   prefix, the max the prefix plus a tie-breaker (U+007F, or U+10FFFF when the next character
//   is not ASCII) so it stays an upper bound; no max when that takes more than 64 units.
// - Timestamps as "YYYY-MM-DDThh:mm:ss.sssZ", cut to milliseconds (Delta readers widen the
//   max by a millisecond for this); non-finite doubles get no min/max.
// - `tightBounds` only on tables with deletion vectors (WithTightBounds).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/parquet/file_writer.h"

namespace fhirlake::load {

struct FileStatsOptions {
  int num_indexed_cols = 32;  // Delta's `delta.dataSkippingNumIndexedCols`; -1: every column
  std::vector<std::string> always = {"id", "meta.lastUpdated"};  // dotted paths
  int string_prefix = 32;
};

// The `stats` JSON of the file `writer` wrote. REQUIRES: writer.Close() succeeded and `schema`
// is the schema it wrote.
std::string DeltaFileStats(const parquet::Schema& schema, const parquet::FileWriter& writer,
                           const FileStatsOptions& options = {});

// `stats_json` with `tightBounds` set: true for a file written whole, false once a deletion
// vector hides some of its rows (the bounds may then be wider than the live rows). An empty
// or unreadable `stats_json` is returned unchanged.
std::string WithTightBounds(std::string_view stats_json, bool tight);

// Delta's string truncation, exposed for tests: the min prefix, and the max upper bound
// (empty optional-like: `ok` false when no bound fits in 2 × prefix units).
std::string TruncateMinString(std::string_view value, int prefix);
bool TruncateMaxString(std::string_view value, bool continues, int prefix, std::string& out);

}  // namespace fhirlake::load
