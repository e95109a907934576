// The reverse of a load: a warehouse's tables written back as NDJSON in the layout of an
// export directory, so the warehouse can be served as a Bulk Data source:
//   OUT_DIR/<Type>.000.ndjson        the live rows' `_json` (deletion vectors applied)
//   OUT_DIR/deleted/Bundle.000.ndjson one transaction Bundle per resource a merge deleted
//                                      (meta.lastUpdated = the export's transactionTime that
//                                      carried the deletion), from the warehouse's
//                                      tombstones (load/tombstones.h)
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::load {

// Writes the tables of `warehouse` (only `types` when not empty) into `out_dir`. Streams row
// group by row group. `stop`, when set, is polled between row groups. With `deleted_since`
// (micros), only deletions at or after it are written.
Status WriteTablesAsNdjson(const std::filesystem::path& warehouse, const std::vector<std::string>& types,
                           const std::filesystem::path& out_dir, const std::function<bool()>& stop = {},
                           std::optional<int64_t> deleted_since = std::nullopt);

}  // namespace fhirlake::load
