#include "tests/support/duckdb.h"

#include <filesystem>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {

nlohmann::json DuckDb(const std::string& sql, const std::map<std::string, std::filesystem::path>& tables) {
  const std::string script = FHIRLAKE_DUCKDB_QUERY;
  if (!std::filesystem::exists(script)) {
    return {{"error", script + " is missing: run scripts/setup to install the DuckDB reader"}};
  }
  TempDir dir;
  std::vector<std::string> argv = {"/usr/bin/env", "node", script, sql};
  for (const auto& [name, path] : tables) argv.push_back(name + "=" + path.string());
  Child node(argv, {}, dir / "out", dir / "err");
  int code = node.Wait();
  if (code != 0) return {{"error", "duckdb: " + ReadFile(dir / "err")}};
  auto rows = nlohmann::json::parse(ReadFile(dir / "out"), nullptr, false);
  if (rows.is_discarded()) return {{"error", "duckdb printed no JSON"}};
  return rows;
}

}  // namespace fhirlake::testing
