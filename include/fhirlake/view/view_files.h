// ViewDefinitions kept as files: how `view materialize`, `sync --views` and `serve --views`
// find and compile the views they keep materialised, and refresh them after a load.
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "fhirlake/status.h"
#include "fhirlake/view/materialized_view.h"
#include "fhirlake/view/view_definition.h"

namespace fhirlake::view {

// Reads and compiles one ViewDefinition JSON file. A missing file is kNotFound; a file that is
// not JSON or not a valid view is kInvalidArgument naming the file.
Result<ViewDefinition> ReadViewDefinition(const std::filesystem::path& file);

// Reads the views named by `paths`: files, or directories whose *.json files are read in name
// order. The first file that cannot be read or compiled is the error.
Result<std::vector<ViewDefinition>> ReadViewDefinitions(const std::vector<std::filesystem::path>& paths);

// Hears the outcome of each view's refresh.
using ViewRefreshed = std::function<void(const ViewDefinition& view, const Result<MaterializeStats>& result)>;

// Refreshes the materialised `views` of `warehouse` one after another (MaterializeView: only
// the source files that changed since the last refresh are read). A view that fails does not
// stop the others; the first failure is returned. `refreshed` (optional) hears every view.
Status RefreshViews(const std::filesystem::path& warehouse, const std::vector<const ViewDefinition*>& views,
                    const ViewRefreshed& refreshed = {});

}  // namespace fhirlake::view
