// Reading a table's rows back: the `_json` of each row of a data file that a deletion (a
// deletion vector, or a merge's plan) does not drop. Merges copy kept rows with it; unload
// writes the live rows as NDJSON.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "fhirlake/delta/table.h"
#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// Calls `row` with the `_json` of each row of the data file `path` that `gone` (row numbers,
// ascending) does not drop, in file order, one row group in memory at a time. A row without
// `_json` is kDataLoss; an error from `row` ends the walk and is returned. `stop`, when set, is
// polled between row groups (true: kCancelled).
Status ForEachStoredJson(const std::filesystem::path& path, const std::vector<uint64_t>& gone,
                         const std::function<Status(std::string_view json)>& row,
                         const std::function<bool()>& stop = {});
// The same, reading the data file from `source` (a local file or an object, by ranged reads).
Status ForEachStoredJson(std::unique_ptr<parquet::InputSource> source, const std::vector<uint64_t>& gone,
                         const std::function<Status(std::string_view json)>& row,
                         const std::function<bool()>& stop = {});
// The same, with each row's meta.lastUpdated as stored (microseconds; nullopt when the row or
// the file has none).
Status ForEachStoredRow(std::unique_ptr<parquet::InputSource> source, const std::vector<uint64_t>& gone,
                        const std::function<Status(std::string_view json, std::optional<int64_t> last_updated)>& row,
                        const std::function<bool()>& stop = {});
// The rows of the data file `add` that its deletion vector drops, ascending (none without one).
Result<std::vector<uint64_t>> DeletedRowsOf(const delta::Table& table, const delta::AddFile& add);
// The same for the live rows of the data file `add` of `table` (a directory or an object store):
// the rows its deletion vector, if any, does not drop; both read by ranged reads.
Status ForEachLiveJson(const delta::Table& table, const delta::AddFile& add,
                       const std::function<Status(std::string_view json)>& row,
                       const std::function<bool()>& stop = {});

}  // namespace fhirlake::load
