// fhirlake view: SQL on FHIR v2 ViewDefinitions.
//   view run VIEW.json (--warehouse W | --ndjson PATH) [--format csv|ndjson|parquet] [--out PATH]
//   view test DIR [--report results.json]   (the conformance suite's file format)
//   view materialize VIEW.json|DIR... --warehouse W   (Delta tables at W/_views/<name>/)
#include <cstdio>
#include <vector>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "fhirlake/view/materialized_view.h"
#include "fhirlake/view/resource_source.h"
#include "fhirlake/view/row_sink.h"
#include "fhirlake/view/test_suite.h"
#include "fhirlake/view/view_definition.h"
#include "fhirlake/view/view_files.h"
#include "fhirlake/view/view_runner.h"
#include "src/cli/commands.h"
#include "src/cli/view_refresh.h"

namespace fhirlake::cli {
namespace {

struct ViewRunArgs {
  std::string view_file;
  std::string warehouse;
  std::string ndjson;
  std::string format = "csv";
  std::string out;
};

struct ViewMaterializeArgs {
  std::vector<std::string> views;
  std::string warehouse;
};

struct ViewTestArgs {
  std::string dir;
  std::string report;
};

int Run(const ViewRunArgs& a) {
  if (a.warehouse.empty() == a.ndjson.empty()) {
    std::fprintf(stderr, "fhirlake view run: give exactly one of --warehouse and --ndjson\n");
    return kExitUsage;
  }
  auto view = view::ReadViewDefinition(a.view_file);
  if (!view.ok()) {
    std::fprintf(stderr, "fhirlake view run: %s\n", view.status().message().c_str());
    return kExitUsage;
  }
  auto format = view::ParseRowFormat(a.format);
  if (!format.ok()) {
    std::fprintf(stderr, "fhirlake view run: %s\n", format.status().message().c_str());
    return kExitUsage;
  }
  auto sink = view::OpenRowSink(*format, a.out, view->columns());
  if (!sink.ok()) {
    std::fprintf(stderr, "fhirlake view run: %s\n", sink.status().message().c_str());
    return kExitUsage;
  }
  const std::string type = view->resource();
  view::ResourceSource source = [&](const view::ResourceCallback& cb) {
    return a.ndjson.empty() ? view::ForEachWarehouseResource(a.warehouse, type, cb)
                            : view::ForEachNdjsonResource(a.ndjson, type, cb);
  };
  auto stats = view::RunView(*view, source, **sink);
  if (!stats.ok()) {
    std::fprintf(stderr, "fhirlake view run: %s\n", stats.status().message().c_str());
    return kExitFailed;
  }
  std::fprintf(stderr, "fhirlake view run: %llu rows from %llu resources\n",
               static_cast<unsigned long long>(stats->rows), static_cast<unsigned long long>(stats->resources));
  return kExitOk;
}

}  // namespace

int RefreshViews(const std::string& warehouse, const std::vector<std::string>& view_paths, bool quiet) {
  auto views = view::ReadViewDefinitions(std::vector<std::filesystem::path>(view_paths.begin(), view_paths.end()));
  if (!views.ok()) {
    std::fprintf(stderr, "fhirlake: view %s\n", views.status().message().c_str());
    return kExitUsage;
  }
  std::vector<const view::ViewDefinition*> all;
  for (const auto& v : *views) all.push_back(&v);
  int rc = kExitOk;
  Status refreshed = view::RefreshViews(warehouse, all, [&](const view::ViewDefinition& v,
                                                            const Result<view::MaterializeStats>& stats) {
    if (!stats.ok()) {
      std::fprintf(stderr, "fhirlake: refreshing view %s: %s\n", v.name().c_str(), stats.status().message().c_str());
      if (rc == kExitOk) rc = stats.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
      return;
    }
    if (quiet) return;
    std::printf("%s: version %lld; recomputed %zu of %zu source files (%llu rows from %llu resources), retired %zu\n",
                view::MaterializedViewPath(warehouse, v).c_str(), static_cast<long long>(stats->version),
                stats->recomputed_files, stats->source_files, static_cast<unsigned long long>(stats->rows),
                static_cast<unsigned long long>(stats->resources), stats->retired_files);
  });
  return refreshed.ok() ? kExitOk : rc;
}

namespace {

int Test(const ViewTestArgs& a) {
  auto results = view::RunSuiteDirectory(a.dir);
  if (!results.ok()) {
    std::fprintf(stderr, "fhirlake view test: %s\n", results.status().message().c_str());
    return kExitUsage;
  }
  size_t passed = 0, total = 0;
  for (const auto& file : *results) {
    for (const auto& t : file.tests) {
      ++total;
      if (t.passed) {
        ++passed;
      } else {
        std::printf("FAIL %s / %s: %s\n", file.file.c_str(), t.name.c_str(), t.error.c_str());
      }
    }
  }
  std::printf("%zu/%zu passed\n", passed, total);
  if (!a.report.empty()) {
    std::ofstream out(a.report, std::ios::binary);
    out << view::SuiteReport(*results).dump(2) << '\n';
    out.close();
    if (!out) {
      std::fprintf(stderr, "fhirlake view test: cannot write %s\n", a.report.c_str());
      return kExitFailed;
    }
  }
  return passed == total ? kExitOk : kExitFailed;
}

}  // namespace

void RegisterView(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("view", "SQL on FHIR v2 ViewDefinitions: flat tables from FHIR resources");
  cmd->require_subcommand(1);

  auto run = std::make_shared<ViewRunArgs>();
  CLI::App* run_cmd = cmd->add_subcommand("run", "Run a ViewDefinition over a warehouse or NDJSON files");
  run_cmd->add_option("VIEW", run->view_file, "ViewDefinition JSON file")->required();
  run_cmd->add_option("--warehouse", run->warehouse, "Warehouse directory or s3://bucket/prefix (reads WAREHOUSE/<resource>/)");
  run_cmd->add_option("--ndjson", run->ndjson, "NDJSON file, or a directory of <Type>.*.ndjson files");
  run_cmd->add_option("--format", run->format, "csv (default), ndjson or parquet");
  run_cmd->add_option("--out", run->out, "Output file (default: standard output; required for parquet)");
  run_cmd->callback([run, &exit_code] { exit_code = Run(*run); });

  auto mat = std::make_shared<ViewMaterializeArgs>();
  CLI::App* mat_cmd = cmd->add_subcommand(
      "materialize", "Refresh views as Delta tables at WAREHOUSE/_views/<name>/ (incrementally: only changed source files)");
  mat_cmd->add_option("VIEWS", mat->views, "ViewDefinition files, or directories of them")->required();
  mat_cmd->add_option("--warehouse", mat->warehouse, "Warehouse directory or s3://bucket/prefix")->required();
  mat_cmd->callback([mat, &exit_code] { exit_code = RefreshViews(mat->warehouse, mat->views, false); });

  auto test = std::make_shared<ViewTestArgs>();
  CLI::App* test_cmd = cmd->add_subcommand("test", "Run SQL on FHIR conformance test files and report the results");
  test_cmd->add_option("DIR", test->dir, "Directory of test files (e.g. tests/data/sql-on-fhir)")->required();
  test_cmd->add_option("--report", test->report, "Write the results in the SQL on FHIR test-report format");
  test_cmd->callback([test, &exit_code] { exit_code = Test(*test); });
}

}  // namespace fhirlake::cli
