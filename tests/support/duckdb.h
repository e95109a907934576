// DuckDB as the independent reader of what fhirlake writes: one SQL statement, rows as JSON.
// Runs node with @duckdb/node-api as installed by scripts/setup into build/duckdb-node.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fhirlake::testing {

// The rows of `sql` as a JSON array of objects; on failure, a JSON object {"error": text}.
nlohmann::json DuckDb(const std::string& sql);

}  // namespace fhirlake::testing
