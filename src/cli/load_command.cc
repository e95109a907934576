// fhirlake load EXPORT_DIR WAREHOUSE [--mode ...] [--types ...]: export directory → Delta tables.
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "fhirlake/load/loader.h"
#include "src/cli/commands.h"

namespace fhirlake::cli {
namespace {

struct LoadArgs {
  std::string export_dir, warehouse, mode = "merge";
  std::vector<std::string> types;
  int max_depth = 3;
  int jobs = load::DefaultJobs();
  size_t max_line_bytes = 256u << 20;
  uint64_t target_file_mb = 256, recent_file_mb = 8, row_group_mb = 64;
  bool allow_errors = false, quiet = false, deletion_vectors = false;
};

int Run(const LoadArgs& a) {
  auto mode = load::ParseSaveMode(a.mode);
  if (!mode.ok()) {
    std::fprintf(stderr, "fhirlake load: %s\n", mode.status().message().c_str());
    return kExitUsage;
  }
  if (a.max_depth < 0 || a.max_depth > 10) {
    std::fprintf(stderr, "fhirlake load: --max-depth must be between 0 and 10\n");
    return kExitUsage;
  }
  load::LoadOptions o;
  o.export_dir = a.export_dir;
  o.warehouse = a.warehouse;
  o.mode = *mode;
  o.types = a.types;
  o.schema.max_depth = a.max_depth;
  o.deletion_vectors = a.deletion_vectors;
  o.jobs = std::max(1, a.jobs);
  o.target_file_bytes = a.target_file_mb << 20;
  o.recent_file_bytes = a.recent_file_mb << 20;
  o.writer.row_group_bytes = std::max<uint64_t>(1, a.row_group_mb) << 20;
  o.max_line_bytes = std::max<size_t>(a.max_line_bytes, 1u << 20);
  auto started = std::chrono::steady_clock::now();
  auto result = load::Load(o);
  if (!result.ok()) {
    std::fprintf(stderr, "fhirlake load: %s\n", result.status().message().c_str());
    return result.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  uint64_t rows = 0;
  for (const auto& t : result->tables) {
    rows += t.rows;
    if (!a.quiet) {
      if (t.skipped) {
        std::fprintf(stderr, "%s: %s\n", t.type.c_str(),
                     *mode == load::SaveMode::kIgnore ? "table exists, skipped (mode ignore)" : "nothing to do");
      } else {
        std::string what = *mode == load::SaveMode::kMerge
                               ? fmt::format("{} inserted, {} updated, {} deleted", t.inserted, t.updated, t.deleted)
                               : fmt::format("{} rows", t.rows);
        std::fprintf(stderr, "%s: %s, version %lld%s\n", t.type.c_str(), what.c_str(), static_cast<long long>(t.version),
                     t.bad_lines ? fmt::format(", {} bad lines", t.bad_lines).c_str() : "");
      }
    }
  }
  if (!a.quiet) {
    std::fprintf(stderr, "loaded %llu rows into %zu tables in %.1f s\n", static_cast<unsigned long long>(rows),
                 result->tables.size(), secs);
  }
  if (result->bad_lines > 0) {
    for (const auto& f : result->error_files) std::fprintf(stderr, "bad lines are described in %s\n", f.c_str());
    if (!a.allow_errors) {
      std::fprintf(stderr, "fhirlake load: %llu lines were not loaded; fix them or pass --allow-errors\n",
                   static_cast<unsigned long long>(result->bad_lines));
      return kExitFailed;
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterLoad(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand("load", "Load an export directory into Delta Lake tables (one per resource type)");
  cmd->add_option("EXPORT_DIR", args->export_dir, "Directory of <Type>.*.ndjson files (as fhirlake export writes)")->required();
  cmd->add_option("WAREHOUSE", args->warehouse, "Warehouse directory; tables go to WAREHOUSE/<Type>/")->required();
  cmd->add_option("--mode", args->mode, "merge (default: upsert by id, apply deleted/), overwrite, append, ignore or error");
  cmd->add_option("--types", args->types, "Only these resource types")->delimiter(',');
  cmd->add_option("--jobs", args->jobs, "Threads writing tables: types in parallel, the last ones helped by the rest (default: cores, at most 4)");
  cmd->add_option("--target-file-mb", args->target_file_mb, "Start a new data file after about this many MB (default 256; 0: one file)");
  cmd->add_option("--recent-file-mb", args->recent_file_mb,
                  "Files of recent rows (by meta.lastUpdated) end after about this many MB, so merges rewrite little "
                  "(default 8; 0: no separate recent files)");
  cmd->add_option("--row-group-mb", args->row_group_mb, "Parquet row group size in MB of buffered data, shared by the --jobs writers (default 64)");
  cmd->add_option("--max-depth", args->max_depth, "Nesting depth of typed columns, 0 to 10 (default 3)");
  cmd->add_option("--max-line-bytes", args->max_line_bytes, "Longest line accepted (default 256 MiB, at least 1 MiB)");
  cmd->add_flag("--deletion-vectors", args->deletion_vectors,
                "Merge with Delta deletion vectors instead of rewriting touched files (much faster for small "
                "changes; needs readers with deletion-vector support)");
  cmd->add_flag("--allow-errors", args->allow_errors, "Exit 0 even when some lines could not be loaded");
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
