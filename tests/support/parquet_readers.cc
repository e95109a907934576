#include "tests/support/parquet_readers.h"

#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {
size_t files_read = 0;
}

std::vector<std::string> ParquetReaderFailures(const std::filesystem::path& root) {
  files_read = 0;
  const std::string script = FHIRLAKE_PARQUET_READERS;
  if (!std::filesystem::exists(script)) return {script + " is missing: run scripts/setup to install the Parquet readers"};
  if (!std::filesystem::exists(root)) return {};
  TempDir dir;
  Child node({"/usr/bin/env", "node", script, root.string()}, {}, dir / "out", dir / "err");
  if (int code = node.Wait(); code != 0) return {"parquet readers exited with " + std::to_string(code) + ": " + ReadFile(dir / "err")};
  auto files = nlohmann::json::parse(ReadFile(dir / "out"), nullptr, false);
  if (!files.is_array()) return {"parquet readers printed no JSON: " + ReadFile(dir / "err")};
  files_read = files.size();
  std::vector<std::string> failures;
  for (const auto& f : files) {
    if (f.contains("error")) failures.push_back(f.dump());
  }
  return failures;
}

size_t ParquetFilesReadLastCall() { return files_read; }

}  // namespace fhirlake::testing
