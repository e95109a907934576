// A view materialised in the warehouse: the rows of a ViewDefinition over the warehouse's
// table of its resource type, kept as a Delta table at WAREHOUSE/_views/<name>/ with the typed
// columns of row_sink.h, so any Delta reader queries the flat table directly.
#pragma once

#include <cstdint>
#include <filesystem>

#include "fhirlake/status.h"
#include "fhirlake/view/view_definition.h"

namespace fhirlake::view {

struct MaterializeStats {
  int64_t version = -1;          // the view table's Delta version after the refresh
  uint64_t rows = 0;             // rows written by this refresh
  uint64_t resources = 0;        // resources read by this refresh
  size_t source_files = 0;       // live data files of the source table
  size_t recomputed_files = 0;   // of those, the ones whose rows were (re)computed
  size_t retired_files = 0;      // view files dropped because their source file changed or went
};

// The directory of the view table for `view` (REQUIRES: view.name() is not empty).
std::filesystem::path MaterializedViewPath(const std::filesystem::path& warehouse, const ViewDefinition& view);

// Brings the view table up to date with WAREHOUSE/<resource>/, incrementally. The view table
// holds one data file per live data file of the source table (with its deletion vector),
// named after it: a view's rows depend on each resource alone, so the rows of an unchanged
// source file never change. A refresh computes rows only for source files that are new (a
// load's appends, a merge's rewritten files, a changed deletion vector) and retires the view
// files of source files that are gone, in one Delta commit: readers see the old rows or the
// new ones, never a mix, and a crash before the commit leaves the previous version current.
// Updated and deleted resources are thereby replaced without recomputing the whole view; the
// result equals a full recompute. The first refresh, or a change of the view's columns,
// computes everything. A view without a name is kInvalidArgument; a lost commit race is
// returned as the Delta conflict (run the refresh again).
Result<MaterializeStats> MaterializeView(const std::filesystem::path& warehouse, const ViewDefinition& view);

}  // namespace fhirlake::view
