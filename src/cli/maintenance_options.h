// The table-maintenance options, defined once for the commands that maintain tables: sync and
// serve (after their loads) and maintain. Each option has its FHIRLAKE_* variable and config
// key like every other option (see config_file.h): --checkpoint-interval,
// FHIRLAKE_CHECKPOINT_INTERVAL, "checkpointInterval".
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "fhirlake/status.h"
#include "fhirlake/sync/maintenance.h"

namespace fhirlake::cli {

struct MaintenanceArgs {
  bool no_maintenance = false;
  int64_t checkpoint_interval = 10;
  std::string retention = "7d";
  bool allow_short_retention = false;
  std::string log_retention;          // "": the table's delta.logRetentionDuration
  bool no_compact = false;
  uint64_t small_file_mb = 32;
  double deleted_fraction = 0.1;
  uint64_t target_file_mb = 256;      // also the size of the files loads write
};

// kAfterLoads: sync and serve, which also get --no-maintenance. kCommand: `fhirlake maintain`,
// whose checkpoint interval defaults to 1 (a checkpoint of the current version).
enum class MaintenanceUse { kAfterLoads, kCommand };

// Adds the maintenance options of `use` to `cmd`, storing into `args` (which must outlive the
// parse), with their environment variables.
void AddMaintenanceOptions(CLI::App& cmd, MaintenanceArgs& args, MaintenanceUse use);

// The policy the parsed options give; kInvalidArgument naming the option for a bad value.
Result<sync::MaintenancePolicy> MakeMaintenancePolicy(const MaintenanceArgs& args);

}  // namespace fhirlake::cli
