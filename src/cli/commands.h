// The subcommands of the `fhirlake` binary. Each Register* adds its subcommand to the app and
// arranges for the command to run when it is chosen; the command's exit code is stored in
// `exit_code`. Commands only parse, call the library and print.
#pragma once

#include <CLI/CLI.hpp>

namespace fhirlake::cli {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;   // the work failed (server, network, data)
inline constexpr int kExitUsage = 2;    // bad arguments or configuration
inline constexpr int kExitSource = 3;   // sync: the source failed (auth, export, download)
inline constexpr int kExitLoad = 4;     // sync: the warehouse could not be written
inline constexpr int kExitStaging = 4;  // handoff: the staging store could not be written
inline constexpr int kExitTarget = 5;   // handoff: the import target failed
inline constexpr int kExitInProgress = 75;  // handoff: the job is still running (EX_TEMPFAIL)

void RegisterExport(CLI::App& app, int& exit_code);
void RegisterServe(CLI::App& app, int& exit_code);
void RegisterGenerate(CLI::App& app, int& exit_code);
void RegisterKeygen(CLI::App& app, int& exit_code);
void RegisterLoad(CLI::App& app, int& exit_code);
void RegisterSync(CLI::App& app, int& exit_code);  // also `fhirlake config --show`
void RegisterStatus(CLI::App& app, int& exit_code);
void RegisterMaintain(CLI::App& app, int& exit_code);
void RegisterView(CLI::App& app, int& exit_code);  // view run, view test, view materialize
void RegisterHandoff(CLI::App& app, int& exit_code);  // handoff export|export-status|transfer|import|import-status|run

}  // namespace fhirlake::cli
