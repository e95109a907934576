// load::Loader: export directory → warehouse. For each resource type, its <Type>.*.ndjson
// files are streamed through the JsonShredder into a new Parquet data file under
// WAREHOUSE/<Type>/, which one Delta commit then makes visible (or not at all). Lines that are
// not valid resources of the file's type go to WAREHOUSE/_errors/ as OperationOutcomes naming
// the file and line; the load goes on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// Pathling's save modes. kMerge is not available yet (it needs the Parquet reader).
enum class SaveMode { kMerge, kOverwrite, kAppend, kIgnore, kError };
Result<SaveMode> ParseSaveMode(std::string_view text);

struct LoadOptions {
  std::filesystem::path export_dir;
  std::filesystem::path warehouse;
  SaveMode mode = SaveMode::kMerge;
  std::vector<std::string> types;        // empty: every type in the export
  TableSchemaOptions schema;
  parquet::WriterOptions writer;
  int commit_attempts = 5;               // tries when another writer commits first
  size_t max_line_bytes = 256u << 20;    // longer lines are reported as bad and skipped (>= 1 MiB)
};

struct TableResult {
  std::string type;
  uint64_t rows = 0;
  uint64_t bad_lines = 0;
  int64_t version = -1;                  // committed version; -1 when skipped
  bool skipped = false;                  // mode ignore and the table existed
};

struct LoadSummary {
  std::vector<TableResult> tables;
  uint64_t bad_lines = 0;
  std::vector<std::filesystem::path> error_files;
};

// Loads the export. Fails (with nothing committed for that type) when a table cannot be
// written: mode error and the table exists, I/O, unsupported Delta features, lost races after
// every attempt. Bad lines do not fail the load; the summary counts them.
Result<LoadSummary> Load(const LoadOptions& options);

}  // namespace fhirlake::load
