// fhirlake: keeps an analytics copy of a FHIR server in sync.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "src/cli/commands.h"
#include "src/cli/config_file.h"
#include "src/cli/huge_pages.h"

int main(int argc, char** argv) {
  fhirlake::cli::RestartWithHugePageMalloc(argv);
  CLI::App app{"fhirlake: FHIR Bulk Data export, serving and sync to Delta Lake tables"};
  app.set_version_flag("--version", "fhirlake 0.1.0");
  app.require_subcommand(1);
  int exit_code = fhirlake::cli::kExitOk;
  fhirlake::cli::RegisterExport(app, exit_code);
  fhirlake::cli::RegisterServe(app, exit_code);
  fhirlake::cli::RegisterGenerate(app, exit_code);
  fhirlake::cli::RegisterKeygen(app, exit_code);
  fhirlake::cli::RegisterLoad(app, exit_code);
  fhirlake::cli::RegisterSync(app, exit_code);
  fhirlake::cli::RegisterStatus(app, exit_code);
  fhirlake::cli::RegisterMaintain(app, exit_code);
  fhirlake::cli::RegisterView(app, exit_code);
  fhirlake::cli::RegisterHandoff(app, exit_code);
  // A --config file's settings become arguments for whatever flags and environment left unset.
  std::vector<std::string> args(argv + 1, argv + argc);
  auto configured = fhirlake::cli::ApplyConfigFile(app, args);
  if (!configured.ok()) {
    std::fprintf(stderr, "fhirlake: %s\n", configured.status().message().c_str());
    return fhirlake::cli::kExitUsage;
  }
  args = configured.value();
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : fhirlake::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fhirlake: internal error: %s\n", e.what());
    return fhirlake::cli::kExitFailed;
  }
  return exit_code;
}
