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
  int64_t version = -1;  // the view table's Delta version after the refresh
  uint64_t rows = 0;
  uint64_t resources = 0;
};

// The directory of the view table for `view` (REQUIRES: view.name() is not empty).
std::filesystem::path MaterializedViewPath(const std::filesystem::path& warehouse, const ViewDefinition& view);

// Recomputes the view over WAREHOUSE/<resource>/ and commits the rows as one new data file,
// retiring the previous ones in the same commit (a Delta overwrite: readers see the old rows
// or the new ones, never a mix; a crash before the commit leaves the old version current and
// an unreferenced file). A view without a name is kInvalidArgument; a lost commit race is
// returned as the Delta conflict.
Result<MaterializeStats> MaterializeView(const std::filesystem::path& warehouse, const ViewDefinition& view);

}  // namespace fhirlake::view
