// Options from three places, flags over environment over a JSON config file:
//   --client-id X   >   FHIRLAKE_CLIENT_ID=X   >   {"clientId": "X"} in --config FILE
// A subcommand's long options each get an environment variable (FHIRLAKE_ + the name in
// upper snake case) and a config key (the name in lower camel case). Before parsing, the file's
// values are turned into arguments for options that neither a flag nor the environment set.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::cli {

// Gives every long option of `cmd` without one an environment variable.
void AddEnvironmentNames(CLI::App& cmd);

// "client-id" → "FHIRLAKE_CLIENT_ID".
std::string EnvironmentName(const std::string& long_name);

// "client-id" → "clientId".
std::string ConfigKey(const std::string& long_name);

// When args[0] names a subcommand of `app` and --config FILE (or FHIRLAKE_CONFIG) is given,
// returns args with the file's settings appended; unknown keys and values of the wrong JSON
// type are errors naming the key.
Result<std::vector<std::string>> ApplyConfigFile(const CLI::App& app, std::vector<std::string> args);

// The effective settings of a parsed subcommand as JSON (config keys), secrets masked.
std::string EffectiveConfigJson(const CLI::App& cmd);

}  // namespace fhirlake::cli
