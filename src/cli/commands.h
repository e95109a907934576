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

void RegisterExport(CLI::App& app, int& exit_code);
void RegisterServe(CLI::App& app, int& exit_code);
void RegisterGenerate(CLI::App& app, int& exit_code);
void RegisterKeygen(CLI::App& app, int& exit_code);
void RegisterLoad(CLI::App& app, int& exit_code);

}  // namespace fhirlake::cli
