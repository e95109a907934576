// DuckDB as the independent reader of what fhirlake writes: one SQL statement, rows as JSON.
// Runs node with @duckdb/node-api as installed by scripts/setup into build/duckdb-node.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace fhirlake::testing {

// The rows of `sql` as a JSON array of objects; on failure, a JSON object {"error": text}.
// Each entry of `tables` becomes a view of that name over the Delta table in that directory,
// read by the script itself (log replay, deletion vectors), not by fhirlake's code.
nlohmann::json DuckDb(const std::string& sql, const std::map<std::string, std::filesystem::path>& tables = {});

}  // namespace fhirlake::testing
