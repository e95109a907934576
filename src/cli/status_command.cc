// fhirlake status WAREHOUSE [--json]: per table its live rows, data files, size (and bytes on
// disk or in the object store, old versions and the log included), Delta version
// and the source transactionTime it is current to (its last load, or a later sync of its type
// that found no changes), with the lag behind now; then each sync's last success and last
// error from the state file.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fhirlake/delta/maintenance.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/sync/state.h"
#include "src/cli/commands.h"
#include "src/cli/progress_display.h"

namespace fhirlake::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct StatusArgs {
  std::string warehouse;
  bool json = false;
};

int Run(const StatusArgs& a) {
  std::error_code ec;
  const store::WarehouseLayout layout(a.warehouse);
  if (!layout.is_s3() && !fs::is_directory(a.warehouse, ec)) {
    std::fprintf(stderr, "fhirlake status: %s is not a directory\n", a.warehouse.c_str());
    return kExitUsage;
  }
  auto opened = store::OpenStore(layout.location());
  if (!opened.ok()) {
    std::fprintf(stderr, "fhirlake status: %s\n", opened.status().message().c_str());
    return kExitUsage;
  }
  std::shared_ptr<store::ObjectStore> warehouse = std::move(opened.value());
  auto tables = store::ListWarehouseTables(*warehouse);
  if (!tables.ok()) {
    std::fprintf(stderr, "fhirlake status: %s\n", tables.status().message().c_str());
    return kExitFailed;
  }
  const int64_t now = fhir::NowMicros();
  json out = {{"tables", json::array()}, {"syncs", json::array()}};
  int failures = 0;
  auto state = sync::StateFile(warehouse).Read();
  if (state.ok()) {
    for (const auto& [key, e] : *state) {
      auto tt = fhir::ParseFhirTime(e.transaction_time);
      out["syncs"].push_back({{"source", http::RedactUrl(e.source)}, {"group", e.group}, {"types", e.types},
                              {"transactionTime", e.transaction_time}, {"lastSuccess", e.last_success},
                              {"lagSeconds", tt ? json((now - *tt) / 1'000'000) : json(nullptr)},
                              {"lastError", e.last_error}, {"lastErrorAt", e.last_error_at},
                              {"inFlight", e.in_flight.has_value()}});
    }
  } else {
    std::fprintf(stderr, "fhirlake status: %s\n", state.status().message().c_str());
    ++failures;
  }
  // A table is as fresh as the newest sync that covers its type, even when that sync changed
  // nothing in it.
  auto synced_as_of = [&](const std::string& type, std::string tt) {
    if (!state.ok()) return tt;
    for (const auto& [key, e] : *state) {
      bool covers = e.types.empty() || std::find(e.types.begin(), e.types.end(), type) != e.types.end();
      auto newer = fhir::ParseFhirTime(e.transaction_time), current = fhir::ParseFhirTime(tt);
      if (covers && newer && (!current || *newer > *current)) tt = e.transaction_time;
    }
    return tt;
  };
  for (const std::string& name : *tables) {
    const delta::Table table(warehouse, store::WarehouseLayout::Table(name));
    auto snap = table.Load();
    json t = {{"table", name}};
    if (!snap.ok()) {
      t["error"] = snap.status().message();
      ++failures;
      out["tables"].push_back(t);
      continue;
    }
    int64_t rows = 0, bytes = 0;
    for (const auto& f : snap->files) {
      rows += f.num_records - (f.deletion_vector ? f.deletion_vector->cardinality : 0);
      bytes += f.size;
    }
    t["rows"] = rows;
    t["files"] = snap->files.size();
    t["bytes"] = bytes;
    t["version"] = snap->version;
    if (auto usage = delta::MeasureUsage(table, *snap); usage.ok()) {
      t["liveBytes"] = usage->live_bytes;  // what the current version needs
      t["diskBytes"] = usage->disk_bytes;  // everything under the table: old versions, the log
      t["logFiles"] = usage->log_files;
      t["logFilesRead"] = snap->log_files_read;
      t["logFilesListed"] = snap->log_files_listed;
    } else {
      t["usageError"] = usage.status().message();
    }
    t["transactionTime"] = synced_as_of(name, snap->last_transaction_time);
    auto tt = fhir::ParseFhirTime(t["transactionTime"].get<std::string>());
    t["lagSeconds"] = tt ? json((now - *tt) / 1'000'000) : json(nullptr);
    out["tables"].push_back(t);
  }
  if (out["tables"].empty() && out["syncs"].empty()) {
    std::fprintf(stderr, "fhirlake status: no Delta tables and no sync state in %s: is this the warehouse that sync writes?\n",
                 a.warehouse.c_str());
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return failures ? kExitFailed : kExitOk;
  }
  auto lag = [](const json& v) { return v.is_null() ? std::string("-") : FormatDuration(v.get<double>()); };
  std::printf("%-22s %12s %6s %10s %10s %8s  %-25s %s\n", "table", "rows", "files", "size", "on disk", "version",
              "transactionTime", "lag");
  for (const auto& t : out["tables"]) {
    if (t.contains("error")) {
      std::printf("%-22s error: %s\n", t["table"].get<std::string>().c_str(), t["error"].get<std::string>().c_str());
      continue;
    }
    std::printf("%-22s %12lld %6zu %10s %10s %8lld  %-25s %s\n", t["table"].get<std::string>().c_str(),
                static_cast<long long>(t["rows"].get<int64_t>()), t["files"].get<size_t>(),
                FormatBytes(t["bytes"].get<uint64_t>()).c_str(),
                t.contains("diskBytes") ? FormatBytes(t["diskBytes"].get<uint64_t>()).c_str() : "-",
                static_cast<long long>(t["version"].get<int64_t>()),
                t["transactionTime"].get<std::string>().c_str(), lag(t["lagSeconds"]).c_str());
  }
  for (const auto& s : out["syncs"]) {
    std::printf("\nsync of %s%s: last success %s (transactionTime %s, lag %s)%s\n",
                s["source"].get<std::string>().c_str(),
                s["types"].empty() ? "" : fmt::format(" [{}]", fmt::join(s["types"].get<std::vector<std::string>>(), ",")).c_str(),
                s["lastSuccess"].get<std::string>().empty() ? "never" : s["lastSuccess"].get<std::string>().c_str(),
                s["transactionTime"].get<std::string>().c_str(), lag(s["lagSeconds"]).c_str(),
                s["inFlight"].get<bool>() ? "; an export is in flight" : "");
    if (!s["lastError"].get<std::string>().empty()) {
      std::printf("  last error at %s: %s\n", s["lastErrorAt"].get<std::string>().c_str(),
                  s["lastError"].get<std::string>().c_str());
    }
  }
  return failures ? kExitFailed : kExitOk;
}

}  // namespace

void RegisterStatus(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd = app.add_subcommand("status", "Show the warehouse's tables and syncs (rows, files, version, lag)");
  cmd->add_option("WAREHOUSE", args->warehouse, "Warehouse directory or s3://bucket/prefix")->required();
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli
