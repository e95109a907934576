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

void RegisterExport(CLI::App& app, int& exit_code);
void RegisterServe(CLI::App& app, int& exit_code);
void RegisterGenerate(CLI::App& app, int& exit_code);
void RegisterKeygen(CLI::App& app, int& exit_code);
void RegisterLoad(CLI::App& app, int& exit_code);
void RegisterSync(CLI::App& app, int& exit_code);  // also `fhirlake config --show`
void RegisterStatus(CLI::App& app, int& exit_code);
void RegisterMaintain(CLI::App& app, int& exit_code);
void RegisterView(CLI::App& app, int& exit_code);  // view run, view test, view materialize

}  // namespace fhirlake::cli
