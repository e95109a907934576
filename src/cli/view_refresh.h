// Refreshing materialised views from the command line: shared by `fhirlake view materialize`
// and `fhirlake sync --views`.
#pragma once

#include <string>
#include <vector>

namespace fhirlake::cli {

// Refreshes the materialised views of `views` (ViewDefinition files or directories of them) in
// `warehouse`; prints one line per view unless `quiet`. Returns an exit code (kExitUsage for an
// invalid view, kExitFailed when a refresh failed).
int RefreshViews(const std::string& warehouse, const std::vector<std::string>& views, bool quiet);

}  // namespace fhirlake::cli
