// fhirlake: keeps an analytics copy of a FHIR server in sync.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "src/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"fhirlake: FHIR Bulk Data export, serving and sync to Delta Lake tables"};
  app.set_version_flag("--version", "fhirlake 0.1.0");
  app.require_subcommand(1);
  int exit_code = fhirlake::cli::kExitOk;
  fhirlake::cli::RegisterExport(app, exit_code);
  fhirlake::cli::RegisterServe(app, exit_code);
  fhirlake::cli::RegisterGenerate(app, exit_code);
  fhirlake::cli::RegisterKeygen(app, exit_code);
  fhirlake::cli::RegisterLoad(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : fhirlake::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fhirlake: internal error: %s\n", e.what());
    return fhirlake::cli::kExitFailed;
  }
  return exit_code;
}
