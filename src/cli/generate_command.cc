// fhirlake generate OUT_DIR --patients N --seed S: synthetic FHIR R4 NDJSON.
#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "fhirlake/fhir/sample_generator.h"
#include "src/cli/commands.h"
#include "src/cli/progress_display.h"

namespace fhirlake::cli {
namespace {

struct GenerateArgs {
  std::string out_dir;
  uint64_t patients = 100, seed = 1, per_file = 100'000;
  bool quiet = false;
};

int Run(const GenerateArgs& a) {
  auto started = std::chrono::steady_clock::now();
  auto result = fhir::GenerateSample(a.out_dir, {a.patients, a.seed, a.per_file});
  if (!result.ok()) {
    std::fprintf(stderr, "fhirlake generate: %s\n", result.status().message().c_str());
    return kExitFailed;
  }
  if (!a.quiet) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    uint64_t total = 0;
    std::string types;
    for (const auto& [type, n] : result->resources) {
      total += n;
      types += fmt::format("{}{} {}", types.empty() ? "" : ", ", n, type);
    }
    std::fprintf(stderr, "%s\n", fmt::format("generated {} resources ({}) in {} files, {}, in {:.1f} s", total, types,
                                             result->files, FormatBytes(result->bytes), secs).c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterGenerate(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Write synthetic, consistent FHIR R4 NDJSON sample data");
  cmd->add_option("OUT_DIR", args->out_dir, "Directory for <Type>.<nnn>.ndjson files")->required();
  cmd->add_option("--patients", args->patients, "Number of patients (default 100)");
  cmd->add_option("--seed", args->seed, "Random seed; the same seed gives the same data (default 1)");
  cmd->add_option("--resources-per-file", args->per_file, "Resources per file before rolling over (default 100000)");
  cmd->add_flag("-q,--quiet", args->quiet, "Print nothing on success");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
