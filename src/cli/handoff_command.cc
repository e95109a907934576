// fhirlake handoff <step> [INPUT_JSON] and fhirlake handoff run [CONFIG_FILE]: pathling-import's
// five functions (export, export status, transfer to S3, Pathling import, import status) as
// commands with JSON in (argument or stdin) and JSON out (stdout), and the whole sequence as one
// command. Configuration under pathling-import's names: flags (--source-endpoint), FHIRLAKE_*
// variables, the plain variables (SOURCE_ENDPOINT), then a JSON file (sourceEndpoint).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fhirlake/handoff/config.h"
#include "fhirlake/handoff/handoff.h"
#include "fhirlake/http/url.h"
#include "fhirlake/json_field.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/sync/sentry.h"
#include "src/cli/client_auth.h"
#include "src/cli/commands.h"

namespace fhirlake::cli {
namespace {

using nlohmann::json;
using handoff::Stage;

enum class Step { kExport, kExportStatus, kTransfer, kImport, kImportStatus, kRun };

struct HandoffArgs {
  std::map<std::string, std::string> flags;  // setting name → value from a flag or FHIRLAKE_*
  std::string config_file;
  std::string input;
  bool quiet = false, json = false, insecure = false;
  std::string ca_file;
  int retries = 6, parallel = 4;
};

// "SOURCE_ENDPOINT" → "source-endpoint".
std::string FlagName(const std::string& name) {
  std::string out;
  for (char c : name) out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The lookup by setting name: flags and FHIRLAKE_* first, then the plain environment, then the
// JSON file (pathling-import's lower camel case keys; strings, numbers and booleans).
Result<handoff::SettingLookup> MakeLookup(const HandoffArgs& a) {
  auto file = std::make_shared<json>(json::object());
  if (!a.config_file.empty()) {
    auto text = store::ReadSmallFile(a.config_file, 1u << 20);
    if (!text.ok()) return InvalidArgument("cannot read the configuration file: " + text.status().message());
    *file = ParseJsonFromOutside(*text);
    if (!file->is_object()) return InvalidArgument("configuration file " + a.config_file + " is not a JSON object");
    for (const auto& [key, value] : file->items()) {
      bool known = false;
      for (const auto& name : handoff::SettingNames()) known = known || handoff::CamelCaseName(name) == key;
      if (!known) return InvalidArgument("configuration file " + a.config_file + ": unknown key '" + key + "'");
      if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
        return InvalidArgument("configuration file " + a.config_file + ": '" + key + "' must be a string, number or boolean");
      }
    }
  }
  auto flags = std::make_shared<std::map<std::string, std::string>>(a.flags);
  return handoff::SettingLookup([flags, file](const std::string& name) -> std::optional<std::string> {
    if (auto it = flags->find(name); it != flags->end() && !it->second.empty()) return it->second;
    if (const char* env = std::getenv(name.c_str()); env && *env) return std::string(env);
    const std::string key = handoff::CamelCaseName(name);
    if (file->contains(key)) {
      const json& v = (*file)[key];
      if (v.is_string()) return v.get<std::string>();
      if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
      return v.dump();
    }
    return std::nullopt;
  });
}

// The error names an orchestrator's Retry/Catch can match, and the exit codes.
struct Failure {
  const char* name;
  int exit_code;
};

Failure FailureOf(Stage stage, bool in_progress) {
  if (in_progress) return {handoff::kJobInProgressError, kExitInProgress};
  switch (stage) {
    case Stage::kConfig: return {"ConfigurationError", kExitUsage};
    case Stage::kSource: return {"SourceError", kExitSource};
    case Stage::kStaging: return {"StagingError", kExitStaging};
    case Stage::kTarget: return {"TargetError", kExitTarget};
  }
  return {"Error", kExitFailed};
}

const char* StepName(Step step) {
  switch (step) {
    case Step::kExport: return "export";
    case Step::kExportStatus: return "export-status";
    case Step::kTransfer: return "transfer";
    case Step::kImport: return "import";
    case Step::kImportStatus: return "import-status";
    case Step::kRun: return "run";
  }
  return "";
}

// Prints the error as JSON on stdout (for the orchestrator) and as text on stderr; reports it
// to Sentry when configured (not for a job still running: that is a retry, not a failure).
int Fail(Step step, const handoff::SettingLookup* lookup, Stage stage, bool in_progress, const Status& status) {
  Failure f = FailureOf(stage, in_progress);
  const std::string& message = status.message();  // in progress: "Job in progress: <X-Progress>"
  std::printf("%s\n", json{{"errorType", f.name}, {"errorMessage", message}}.dump().c_str());
  std::fprintf(stderr, "fhirlake handoff %s: %s: %s\n", StepName(step), f.name, message.c_str());
  if (!in_progress && lookup) {
    auto dsn = (*lookup)("SENTRY_DSN");
    if (dsn && !dsn->empty()) {
      auto release = (*lookup)("SENTRY_RELEASE");
      auto source = (*lookup)("SOURCE_ENDPOINT");
      Status sent = sync::ReportToSentry(*dsn, {message, std::string("handoff ") + StepName(step), source.value_or(""),
                                                release.value_or("")});
      if (!sent.ok()) std::fprintf(stderr, "fhirlake handoff: could not report to Sentry: %s\n", sent.message().c_str());
    }
  }
  return f.exit_code;
}

// The step's input: the argument, or stdin when there is none ("-" also means stdin).
Result<json> ReadInput(const HandoffArgs& a, const char* field) {
  std::string text = a.input;
  if (text.empty() || text == "-") {
    if (text.empty() && ::isatty(STDIN_FILENO)) {
      return InvalidArgument(std::string("give the input JSON (with '") + field + "') as an argument or on stdin");
    }
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  json doc = ParseJsonFromOutside(text);
  if (!doc.is_object() || !doc.contains(field)) {
    return InvalidArgument(std::string("the input must be a JSON object with '") + field + "'");
  }
  return doc;
}

handoff::Needs NeedsOf(Step step) {
  switch (step) {
    case Step::kExport:
    case Step::kExportStatus: return handoff::Needs::kExport;
    case Step::kTransfer: return handoff::Needs::kTransfer;
    case Step::kImport:
    case Step::kImportStatus: return handoff::Needs::kImport;
    case Step::kRun: return handoff::Needs::kAll;
  }
  return handoff::Needs::kAll;
}

// Progress of `handoff run` on stderr, one line per event.
class RunProgress : public handoff::RunObserver {
 public:
  void OnStep(std::string_view step, int attempt) override {
    if (attempt == 1) std::fprintf(stderr, "%.*s\n", static_cast<int>(step.size()), step.data());
  }
  void OnInProgress(std::string_view step, std::string_view progress, std::chrono::milliseconds wait) override {
    std::fprintf(stderr, "  %.*s: in progress (%.*s); checking again in %.1f s\n", static_cast<int>(step.size()),
                 step.data(), static_cast<int>(progress.size()), progress.data(), wait.count() / 1000.0);
  }
  void OnRetry(std::string_view step, const Status& error, std::chrono::milliseconds wait) override {
    std::fprintf(stderr, "  %.*s failed (%s); retrying in %.1f s\n", static_cast<int>(step.size()), step.data(),
                 error.message().c_str(), wait.count() / 1000.0);
  }
  void OnStaged(const std::string& key, uint64_t bytes, bool skipped) override {
    std::fprintf(stderr, "  %s %s (%llu bytes)\n", skipped ? "already staged" : "staged", key.c_str(),
                 static_cast<unsigned long long>(bytes));
  }
};

int RunSequence(const HandoffArgs& a, const handoff::HandoffConfig& config, const handoff::SettingLookup& lookup) {
  RunProgress progress;
  handoff::RunFailure failure;
  auto result = handoff::RunHandoff(config, a.quiet || a.json ? nullptr : &progress, &failure);
  if (!result.ok()) return Fail(Step::kRun, &lookup, failure.stage, failure.in_progress, result.status());
  const auto& s = *result;
  const double seconds = s.duration.count() / 1000.0;
  if (a.json) {
    json import_result = ParseJsonFromOutside(s.import_result);
    std::printf("%s\n", json{{"status", s.import_status_url ? "imported" : "import not necessary"},
                             {"transactionTime", s.transaction_time},
                             {"exportStatusUrl", s.export_status_url},
                             {"staging", config.staging_url + "/" + s.transfer.run_prefix},
                             {"files", s.transfer.files},
                             {"filesStaged", s.transfer.files_staged},
                             {"filesAlreadyStaged", s.transfer.files_skipped},
                             {"bytes", s.transfer.bytes},
                             {"importStatusUrl", s.import_status_url ? json(*s.import_status_url) : json(nullptr)},
                             {"importResult", import_result.is_discarded() ? json(nullptr) : import_result},
                             {"seconds", seconds}}.dump().c_str());
  } else if (!a.quiet) {
    if (!s.import_status_url) {
      std::fprintf(stderr, "fhirlake handoff: the export of %s had nothing to import: import not necessary (%.1f s)\n",
                   http::RedactUrl(config.source.endpoint).c_str(), seconds);
    } else {
      std::fprintf(stderr, "fhirlake handoff: %zu file%s (%llu bytes staged, %zu already staged) from %s via %s/%s "
                   "imported into %s in %.1f s\n",
                   s.transfer.files, s.transfer.files == 1 ? "" : "s", static_cast<unsigned long long>(s.transfer.bytes),
                   s.transfer.files_skipped, http::RedactUrl(config.source.endpoint).c_str(),
                   http::RedactUrl(config.staging_url).c_str(), s.transfer.run_prefix.c_str(),
                   http::RedactUrl(config.target.endpoint).c_str(), seconds);
    }
  }
  return kExitOk;
}

int RunStep(Step step, const HandoffArgs& a) {
  HandoffArgs args = a;
  // pathling-import reads pathling-import.config.json from the working directory when no file
  // is named; `run` does the same.
  if (step == Step::kRun && args.config_file.empty() && ::access("pathling-import.config.json", R_OK) == 0) {
    args.config_file = "pathling-import.config.json";
  }
  auto lookup = MakeLookup(args);
  if (!lookup.ok()) return Fail(step, nullptr, Stage::kConfig, false, lookup.status());
  http::ClientOptions http = MakeClientOptions(args.insecure, args.ca_file, args.retries, !args.quiet);
  auto config = handoff::ConfigFromSettings(*lookup, NeedsOf(step), http);
  if (!config.ok()) return Fail(step, &*lookup, Stage::kConfig, false, config.status());
  config->parallel = args.parallel;
  if (step == Step::kRun) return RunSequence(args, *config, *lookup);

  auto print = [](const json& out) {
    std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  };
  // Status checks: the result when done, JobInProgressError while running.
  auto check = [&](const handoff::Side& side, Stage stage) {
    auto input = ReadInput(args, "statusUrl");
    if (!input.ok()) return Fail(step, &*lookup, Stage::kConfig, false, input.status());
    if (!(*input)["statusUrl"].is_string()) {
      return Fail(step, &*lookup, Stage::kConfig, false, InvalidArgument("'statusUrl' must be a string"));
    }
    auto status = handoff::CheckJob(side, (*input)["statusUrl"].get<std::string>());
    if (!status.ok()) return Fail(step, &*lookup, stage, false, status.status());
    if (!status->done) return Fail(step, &*lookup, stage, true, Status(StatusCode::kCancelled, "Job in progress: " + status->progress));
    json result = ParseJsonFromOutside(status->result);
    if (result.is_discarded()) return Fail(step, &*lookup, stage, false, ServerError("the status URL answered 200 with a body that is not JSON"));
    return print({{"result", result}});
  };
  switch (step) {
    case Step::kExport: {
      auto url = handoff::StartExport(*config);
      if (!url.ok()) return Fail(step, &*lookup, Stage::kSource, false, url.status());
      return print({{"statusUrl", *url}});
    }
    case Step::kExportStatus: return check(config->source, Stage::kSource);
    case Step::kTransfer: {
      auto input = ReadInput(args, "result");
      if (!input.ok()) return Fail(step, &*lookup, Stage::kConfig, false, input.status());
      Stage stage = Stage::kStaging;
      handoff::TransferProgress progress;
      if (!args.quiet) {
        progress = [](const std::string& key, uint64_t bytes, bool skipped) {
          std::fprintf(stderr, "%s %s (%llu bytes)\n", skipped ? "already staged" : "staged", key.c_str(),
                       static_cast<unsigned long long>(bytes));
        };
      }
      auto transfer = handoff::Transfer(*config, (*input)["result"].dump(), progress, &stage);
      if (!transfer.ok()) return Fail(step, &*lookup, stage, false, transfer.status());
      return print({{"parameters", json::parse(transfer->parameters)}});
    }
    case Step::kImport: {
      auto input = ReadInput(args, "parameters");
      if (!input.ok()) return Fail(step, &*lookup, Stage::kConfig, false, input.status());
      auto url = handoff::StartImport(*config, (*input)["parameters"].dump());
      if (!url.ok()) {
        Stage stage = url.status().code() == StatusCode::kInvalidArgument ? Stage::kConfig : Stage::kTarget;
        return Fail(step, &*lookup, stage, false, url.status());
      }
      if (!*url && !args.quiet) std::fprintf(stderr, "nothing to import: import not necessary\n");
      return print({{"statusUrl", *url ? json(**url) : json(nullptr)}});
    }
    case Step::kImportStatus: return check(config->target, Stage::kTarget);
    case Step::kRun: break;
  }
  return kExitFailed;
}

void AddStep(CLI::App& handoff, Step step, const char* name, const char* alias, const char* description,
             int& exit_code) {
  auto args = std::make_shared<HandoffArgs>();
  CLI::App* cmd = handoff.add_subcommand(name, description);
  cmd->alias(alias);
  for (const auto& setting : handoff::SettingNames()) {
    std::string help = "pathling-import's " + setting;
    if (handoff::IsSecretSetting(setting)) help += " (prefer the environment)";
    cmd->add_option("--" + FlagName(setting), args->flags[setting], help)->envname("FHIRLAKE_" + setting);
  }
  if (step == Step::kRun) {
    cmd->add_option("config_file", args->config_file,
                    "JSON configuration file (the settings in lower camel case; default pathling-import.config.json "
                    "when present)");
    cmd->add_flag("--json", args->json, "Print a JSON summary on stdout");
    cmd->add_option("--parallel", args->parallel, "Files downloaded at once")->envname("FHIRLAKE_PARALLEL");
  } else {
    cmd->add_option("input", args->input, "The step's input JSON (default: stdin)");
    cmd->add_option("--config", args->config_file, "JSON configuration file (the settings in lower camel case)")
        ->envname("FHIRLAKE_HANDOFF_CONFIG");
    if (step == Step::kTransfer) cmd->add_option("--parallel", args->parallel, "Files downloaded at once")->envname("FHIRLAKE_PARALLEL");
  }
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors");
  cmd->add_flag("--insecure", args->insecure, "Do not verify TLS certificates");
  cmd->add_option("--ca-file", args->ca_file, "Extra CA bundle (PEM)")->envname("FHIRLAKE_CA_FILE");
  cmd->add_option("--retries", args->retries, "Attempts per HTTP request")->envname("FHIRLAKE_RETRIES");
  cmd->callback([step, args, &exit_code] { exit_code = RunStep(step, *args); });
}

}  // namespace

void RegisterHandoff(CLI::App& app, int& exit_code) {
  CLI::App* handoff = app.add_subcommand(
      "handoff", "Export from a FHIR server, stage the files in S3 and $import them (pathling-import's steps)");
  handoff->require_subcommand(1);
  AddStep(*handoff, Step::kExport, "export", "fhirExport", "Kick off the export: prints {\"statusUrl\"}", exit_code);
  AddStep(*handoff, Step::kExportStatus, "export-status", "checkExportStatus",
          "Check the export: {\"statusUrl\"} in, {\"result\": manifest} out, or JobInProgressError (exit 75)",
          exit_code);
  AddStep(*handoff, Step::kTransfer, "transfer", "transferToS3",
          "Stage the export's files under STAGING_URL: {\"result\"} in, {\"parameters\"} out", exit_code);
  AddStep(*handoff, Step::kImport, "import", "pathlingImport",
          "Kick off the $import: {\"parameters\"} in, {\"statusUrl\"} out (null: import not necessary)", exit_code);
  AddStep(*handoff, Step::kImportStatus, "import-status", "checkImportStatus",
          "Check the import: {\"statusUrl\"} in, {\"result\"} out, or JobInProgressError (exit 75)", exit_code);
  AddStep(*handoff, Step::kRun, "run", "pathling-import", "Run the whole sequence with retries", exit_code);
}

}  // namespace fhirlake::cli
