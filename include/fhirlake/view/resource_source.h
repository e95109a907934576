// Where a view reads its resources from: an export directory of NDJSON files, or a warehouse's
// Delta table of the view's resource type (the `_json` column of its live rows). Both stream:
// one line or one row group in memory at a time.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "fhirlake/status.h"

namespace fhirlake::view {

using ResourceCallback = std::function<Status(std::string_view json)>;

// Calls `resource` for each line of the NDJSON files for `type` in `path`: a single file, or a
// directory whose <Type>.*.ndjson files are read (files that declare another type skipped).
// Empty lines are skipped. An error from `resource` ends the walk and is returned.
Status ForEachNdjsonResource(const std::filesystem::path& path, const std::string& type,
                             const ResourceCallback& resource);

// Calls `resource` with the `_json` of each live row of WAREHOUSE/<type>/ (the latest Delta
// snapshot; rows removed by deletion vectors skipped). A warehouse without that table is
// kNotFound.
Status ForEachWarehouseResource(const std::filesystem::path& warehouse, const std::string& type,
                                const ResourceCallback& resource);

}  // namespace fhirlake::view
