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
  // The script runs from this source tree, beside a link to the readers scripts/setup installed
  // (node resolves packages from the script's own folder).
  const std::filesystem::path installed = std::filesystem::path(FHIRLAKE_PARQUET_READERS).parent_path() / "node_modules";
  if (!std::filesystem::exists(installed)) return {installed.string() + " is missing: run scripts/setup to install the Parquet readers"};
  if (!std::filesystem::exists(root)) return {};
  TempDir dir;
  std::error_code ec;
  std::filesystem::create_directory_symlink(installed, dir / "node_modules", ec);
  if (!ec) std::filesystem::copy_file(std::string(FHIRLAKE_TEST_SUPPORT) + "/parquet_readers.mjs", dir / "read.mjs", ec);
  if (ec) return {"cannot stage the Parquet readers script: " + ec.message()};
  Child node({"/usr/bin/env", "node", (dir / "read.mjs").string(), root.string()}, {}, dir / "out", dir / "err");
  if (int code = node.Wait(); code != 0) return {"parquet readers exited with " + std::to_string(code) + ": " + ReadFile(dir / "err")};
  auto files = nlohmann::json::parse(ReadFile(dir / "out"), nullptr, false);
  if (!files.is_array()) return {"parquet readers printed no JSON: " + ReadFile(dir / "err")};
  std::vector<std::string> failures;
  for (const auto& f : files) {
    if (f.contains("file")) ++files_read;
    if (f.contains("error")) failures.push_back(f.dump());
  }
  return failures;
}

size_t ParquetFilesReadLastCall() { return files_read; }

}  // namespace fhirlake::testing
