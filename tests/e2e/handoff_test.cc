// fhirlake handoff: pathling-import's steps between two fhirlake servers over loopback. The
// source is `serve --source` with client-secret auth, the staging bucket the s3rver test
// server, the target `serve --warehouse --auth --allow-s3` that grants user/*.write. The steps
// run one at a time as a Step Functions state machine runs them (in-progress answers, a
// retried status check, a retried transfer), then as one command; the staged objects are read
// back with the AWS SDK and the target's tables with DuckDB.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <set>

#include "tests/e2e/sync_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/scoped_env.h"

namespace fhirlake::testing {
namespace {

constexpr const char* kSourceSecret = "source-secret-4d1f";
constexpr const char* kTargetSecret = "target-secret-9b2c";
constexpr const char* kStaging = "s3://fhirlake-test/staging";

class HandoffTest : public SyncTest {
 protected:
  void Start(std::vector<std::string> source_extra = {}) {
    std::ofstream(dir_ / "source-clients.json")
        << json{{"clients", {{{"clientId", "exporter"}, {"clientSecret", kSourceSecret}, {"scopes", {"system/*.read"}}}}}}
               .dump();
    std::ofstream(dir_ / "target-clients.json")
        << json{{"clients", {{{"clientId", "importer"}, {"clientSecret", kTargetSecret}, {"scopes", {"user/*.write"}}}}}}
               .dump();
    s3_ = std::make_unique<S3Server>();
    ASSERT_TRUE(s3_->ok()) << s3_->stderr_text();
    std::vector<std::string> source_args = {"--auth", (dir_ / "source-clients.json").string()};
    source_args.insert(source_args.end(), source_extra.begin(), source_extra.end());
    source_ = std::make_unique<ServerProcess>(src(), source_args);
    ASSERT_TRUE(source_->ok()) << source_->stderr_text();
    ScopedEnv s3_env(s3_->env());  // the target reads the staged s3:// URLs
    target_ = std::make_unique<ServerProcess>(
        fs::path(), std::vector<std::string>{"--warehouse", wh().string(), "--auth", (dir_ / "target-clients.json").string(),
                                             "--allow-s3", kStaging, "--retry-after", "1"});
    ASSERT_TRUE(target_->ok()) << target_->stderr_text();
  }

  // The S3 variables and (with `settings`) pathling-import's variables, as a Lambda has them.
  std::vector<std::string> Env(bool settings = true, const std::string& aws_secret = "S3RVER") const {
    std::vector<std::string> env;
    for (const auto& e : s3_->env()) {
      if (e.rfind("AWS_SECRET_ACCESS_KEY=", 0) == 0) env.push_back("AWS_SECRET_ACCESS_KEY=" + aws_secret);
      else env.push_back(e);
    }
    if (!settings) return env;
    for (const std::string& e :
         {"SOURCE_ENDPOINT=" + source_->base_url(), std::string("TYPES=Patient,Observation"),
          std::string("SOURCE_AUTHENTICATION_ENABLED=true"), std::string("SOURCE_CLIENT_ID=exporter"),
          std::string("SOURCE_CLIENT_SECRET=") + kSourceSecret, std::string("SOURCE_SCOPES=system/*.read"),
          std::string("STAGING_URL=") + kStaging, "TARGET_ENDPOINT=" + target_->base_url(),
          std::string("TARGET_CLIENT_ID=importer"), std::string("TARGET_CLIENT_SECRET=") + kTargetSecret,
          std::string("EXPORT_RETRY_WAIT=0.2"), std::string("IMPORT_RETRY_WAIT=0.2"),
          std::string("TRANSFER_RETRY_WAIT=0.2")}) {
      env.push_back(e);
    }
    return env;
  }

  RunResult Step(const std::string& step, const json& input, const std::vector<std::string>& env) {
    std::vector<std::string> args = {"handoff", step};
    if (!input.is_null()) args.push_back(input.dump());
    return RunFhirlake(args, env);
  }
  static json Out(const RunResult& r) { return json::parse(r.out, nullptr, false); }

  // Runs a status step until it is done, as a Retry on JobInProgressError does; counts the
  // in-progress answers.
  json UntilDone(const std::string& step, const json& input, int* in_progress) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      RunResult r = Step(step, input, Env());
      if (r.exit_code == 0) return Out(r);
      EXPECT_EQ(r.exit_code, 75) << r.err;
      json error = Out(r);
      EXPECT_EQ(error.value("errorType", ""), "JobInProgressError") << r.out;
      EXPECT_EQ(error.value("errorMessage", "").rfind("Job in progress: ", 0), 0u) << r.out;
      if (r.exit_code != 75) return error;
      ++*in_progress;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << step << " never finished";
    return json();
  }

  std::vector<json> StagedObjects() {
    std::string out;
    EXPECT_EQ(s3_->Sdk({"list", S3Server::kBucket, "staging/"}, &out), 0);
    std::vector<json> objects;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) objects.push_back(json::parse(line));
    }
    return objects;
  }
  size_t S3Writes() const {
    size_t n = 0;
    for (const auto& [method, url] : s3_->Requests()) n += method == "PUT" || method == "POST";
    return n;
  }
  // The staged files' lines per type, read back with the AWS SDK.
  std::map<std::string, std::string> Staged(const std::string& type) {
    const fs::path copy = dir_ / "staged-copy";
    fs::remove_all(copy);
    EXPECT_EQ(s3_->Sdk({"sync", S3Server::kBucket, "staging/", copy.string()}), 0);
    std::map<std::string, std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(copy)) {
      if (entry.path().filename().string().rfind(type + "-", 0) != 0) continue;
      for (const auto& l : Lines(entry.path())) {
        std::string id = json::parse(l)["id"];
        EXPECT_FALSE(out.count(id)) << id << " staged twice";
        out[id] = l;
      }
    }
    return out;
  }
  void ExpectNoSecrets(const RunResult& r) {
    for (const char* secret : {kSourceSecret, kTargetSecret}) {
      EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
      EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
    }
  }

  std::unique_ptr<S3Server> s3_;
  std::unique_ptr<ServerProcess> source_, target_;
};

TEST_F(HandoffTest, StepsRunOneByOneAsAStateMachineWould) {
  Start({"--faults", "status:pending=3"});

  RunResult kicked = Step("export", json(), Env());
  ASSERT_EQ(kicked.exit_code, 0) << kicked.err;
  ExpectNoSecrets(kicked);
  json export_out = Out(kicked);
  ASSERT_TRUE(export_out["statusUrl"].is_string()) << kicked.out;

  int in_progress = 0;
  json status = UntilDone("export-status", export_out, &in_progress);
  EXPECT_GE(in_progress, 1) << "the source answered 202 three times: the first check must be JobInProgressError";
  ASSERT_TRUE(status["result"].is_object()) << status.dump();
  const size_t files = status["result"]["output"].size();
  ASSERT_GE(files, 2u) << status.dump();

  RunResult transfer = Step("transfer", status, Env());
  ASSERT_EQ(transfer.exit_code, 0) << transfer.err;
  ExpectNoSecrets(transfer);
  json params = Out(transfer);
  ASSERT_EQ(params["parameters"]["resourceType"], "Parameters") << transfer.out;
  ASSERT_EQ(params["parameters"]["parameter"].size(), files) << transfer.out;
  for (const auto& p : params["parameters"]["parameter"]) {
    EXPECT_EQ(p["name"], "source");
    EXPECT_EQ(p["part"][1]["name"], "url");
    EXPECT_EQ(p["part"][1]["valueUrl"].get<std::string>().rfind(std::string(kStaging) + "/", 0), 0u) << p.dump();
    EXPECT_EQ(p["part"][2]["valueCode"], "merge");
  }
  auto objects = StagedObjects();
  ASSERT_EQ(objects.size(), files);
  std::set<std::string> prefixes;
  for (const auto& o : objects) prefixes.insert(o["key"].get<std::string>().substr(0, o["key"].get<std::string>().rfind('/')));
  EXPECT_EQ(prefixes.size(), 1u) << "one prefix per run";
  EXPECT_TRUE(Staged("Patient") == Source("Patient"));
  EXPECT_TRUE(Staged("Observation") == Source("Observation"));

  // A retried transfer (the Lambda timed out after finishing, say): same keys, same output,
  // nothing written again.
  const size_t writes = S3Writes();
  RunResult again = Step("transfer", status, Env());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Out(again), params);
  EXPECT_EQ(S3Writes(), writes) << "a retried transfer must not send finished objects again";
  EXPECT_EQ(StagedObjects(), objects);
  EXPECT_NE(again.err.find("already staged"), std::string::npos) << again.err;

  RunResult imported = Step("import", params, Env());
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  json import_out = Out(imported);
  ASSERT_TRUE(import_out["statusUrl"].is_string()) << imported.out;
  in_progress = 0;
  json result = UntilDone("import-status", import_out, &in_progress);
  ASSERT_TRUE(result["result"].is_object()) << result.dump();
  EXPECT_EQ(result["result"]["resourceType"], "Parameters") << result.dump();
  ExpectWarehouseEqualsSource("the step-by-step handoff");

  // The step names of pathling-import's handlers work as well.
  RunResult by_alias = RunFhirlake({"handoff", "checkImportStatus", import_out.dump()}, Env());
  EXPECT_EQ(by_alias.exit_code, 0) << by_alias.err;
  EXPECT_EQ(Out(by_alias), result);
}

TEST_F(HandoffTest, ATransferRetriedAfterAFailedDownloadFetchesOnlyWhatIsMissing) {
  Start({"--faults", "file:500*1"});
  RunResult kicked = Step("export", json(), Env());
  ASSERT_EQ(kicked.exit_code, 0) << kicked.err;
  int in_progress = 0;
  json status = UntilDone("export-status", Out(kicked), &in_progress);
  ASSERT_EQ(status["result"]["output"].size(), 2u) << status.dump();

  // One attempt per request: the file that meets the 500 fails the transfer; the other one,
  // downloaded in the same batch, is staged.
  RunResult failed = RunFhirlake({"handoff", "transfer", status.dump(), "--retries", "1", "--parallel", "2"}, Env());
  EXPECT_EQ(failed.exit_code, 3) << failed.err;
  EXPECT_EQ(Out(failed).value("errorType", ""), "SourceError") << failed.out;
  auto first = StagedObjects();
  ASSERT_EQ(first.size(), 1u);
  const size_t writes = S3Writes();

  RunResult retried = RunFhirlake({"handoff", "transfer", status.dump(), "--parallel", "2"}, Env());
  ASSERT_EQ(retried.exit_code, 0) << retried.err;
  const std::string first_key = first[0]["key"].get<std::string>().substr(std::string("staging/").size());
  EXPECT_NE(retried.err.find("already staged " + first_key), std::string::npos) << retried.err;
  auto objects = StagedObjects();
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(S3Writes(), writes + 1) << "only the missing object is sent";
  EXPECT_EQ(Out(retried)["parameters"]["parameter"].size(), 2u) << "the earlier attempt's file stays in the import";
  EXPECT_TRUE(Staged("Patient") == Source("Patient"));
  EXPECT_TRUE(Staged("Observation") == Source("Observation"));
}

TEST_F(HandoffTest, PipelineByEnvironmentNamesThenAnEmptyIncrementalRunNeedsNoImport) {
  Start();
  RunResult run = RunFhirlake({"handoff", "run"}, Env());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectNoSecrets(run);
  EXPECT_NE(run.err.find("imported into " + target_->base_url()), std::string::npos) << run.err;
  ExpectWarehouseEqualsSource("handoff run");

  // SINCE after all data: the export has no files, nothing is staged or imported.
  std::vector<std::string> env = Env();
  env.push_back("SINCE=" + fhir::FormatInstant(fhir::NowMicros() + 1'000'000));
  const size_t staged = StagedObjects().size();
  RunResult empty = RunFhirlake({"handoff", "run", "--json"}, env);
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  json summary = Out(empty);
  EXPECT_EQ(summary["status"], "import not necessary") << empty.out;
  EXPECT_EQ(summary["files"], 0) << empty.out;
  EXPECT_TRUE(summary["importStatusUrl"].is_null()) << empty.out;
  EXPECT_EQ(StagedObjects().size(), staged);
  ExpectWarehouseEqualsSource("an empty incremental run");

  // The import step alone with nothing to import answers a null statusUrl.
  json nothing = {{"parameters", {{"resourceType", "Parameters"}, {"parameter", json::array()}}}};
  RunResult step = Step("import", nothing, Env());
  ASSERT_EQ(step.exit_code, 0) << step.err;
  EXPECT_TRUE(Out(step)["statusUrl"].is_null()) << step.out;
}

TEST_F(HandoffTest, ConfiguredByAJsonFileInLowerCamelCaseAndFhirlakeSpellings) {
  Start();
  const fs::path config = dir_ / "pathling-import.json";
  std::ofstream(config) << json{{"sourceEndpoint", source_->base_url()},
                                {"types", "Patient,Observation"},
                                {"sourceAuthenticationEnabled", true},
                                {"sourceClientId", "exporter"},
                                {"sourceClientSecret", kSourceSecret},
                                {"sourceScopes", "system/*.read"},
                                {"stagingUrl", kStaging},
                                {"targetClientId", "importer"},
                                {"exportRetryWait", 0.2},
                                {"exportRetryTimes", 50},
                                {"importRetryWait", 0.2},
                                {"importRetryBackOff", 1.0}}
                             .dump();
  // The target's endpoint as a flag and its secret as a FHIRLAKE_* variable.
  std::vector<std::string> env = Env(false);
  env.push_back(std::string("FHIRLAKE_TARGET_CLIENT_SECRET=") + kTargetSecret);
  RunResult run = RunFhirlake({"handoff", "run", config.string(), "--target-endpoint", target_->base_url(), "--json"}, env);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectNoSecrets(run);
  json summary = Out(run);
  EXPECT_EQ(summary["status"], "imported") << run.out;
  EXPECT_GE(summary["filesStaged"].get<int>(), 2) << run.out;
  ExpectWarehouseEqualsSource("handoff run with a JSON file");

  // A missing setting is named, in the spelling of the file and the environment.
  std::ofstream(config) << json{{"sourceEndpoint", source_->base_url()}}.dump();
  RunResult missing = RunFhirlake({"handoff", "run", config.string()}, Env(false));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(Out(missing).value("errorType", ""), "ConfigurationError") << missing.out;
  EXPECT_NE(missing.err.find("STAGING_URL"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("stagingUrl"), std::string::npos) << missing.err;
}

TEST_F(HandoffTest, RunGivesUpWithJobInProgressErrorWhenTheExportOutlastsItsRetries) {
  Start({"--faults", "status:pending=1000"});
  std::vector<std::string> env = Env();
  env.push_back("EXPORT_RETRY_TIMES=2");
  env.push_back("EXPORT_RETRY_BACK_OFF=2");
  RunResult run = RunFhirlake({"handoff", "run"}, env);
  EXPECT_EQ(run.exit_code, 75) << run.err;
  json error = Out(run);
  EXPECT_EQ(error.value("errorType", ""), "JobInProgressError") << run.out;
  EXPECT_EQ(error.value("errorMessage", "").rfind("Job in progress: ", 0), 0u) << run.out;
  EXPECT_NE(run.err.find("checking again in 0.2 s"), std::string::npos) << run.err;  // EXPORT_RETRY_WAIT=0.2
  EXPECT_NE(run.err.find("checking again in 0.4 s"), std::string::npos) << "back-off doubles the wait: " << run.err;
  EXPECT_EQ(run.err.find("checking again in 0.8 s"), std::string::npos) << "two retries, then give up: " << run.err;
  EXPECT_TRUE(StagedObjects().empty());
}

TEST_F(HandoffTest, ABadStagingCredentialGivesAClearError) {
  Start();
  RunResult run = RunFhirlake({"handoff", "run"}, Env(true, "wrong-secret-7e3a"));
  EXPECT_EQ(run.exit_code, 4) << run.err;
  json error = Out(run);
  EXPECT_EQ(error.value("errorType", ""), "StagingError") << run.out;
  const std::string message = error.value("errorMessage", "");
  EXPECT_NE(message.find(std::string("staging to ") + kStaging), std::string::npos) << message;
  EXPECT_NE(message.find("HTTP 403"), std::string::npos) << message;
  EXPECT_NE(message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << message;
  EXPECT_EQ(run.out.find("wrong-secret-7e3a"), std::string::npos);
  EXPECT_EQ(run.err.find("wrong-secret-7e3a"), std::string::npos);
  ExpectNoSecrets(run);
  EXPECT_TRUE(StagedObjects().empty());
}

// scripts/handoff-task, the container entry point for Step Functions' ECS integration, hands
// the step's output or its error name back with the task token (an `aws` on PATH that records
// its arguments stands in for the AWS CLI).
TEST_F(HandoffTest, TheTaskEntryPointHandsTheResultOrTheErrorNameBackWithTheTaskToken) {
  TempDir dir;
  // The source tree's script (tests/data/../../scripts), whichever build directory runs the test.
  const fs::path script = fs::path(FHIRLAKE_TEST_DATA_DIR).parent_path().parent_path() / "scripts" / "handoff-task";
  ASSERT_TRUE(fs::exists(script)) << script;
  fs::create_directories(dir.path() / "bin");
  const fs::path aws = dir.path() / "bin" / "aws";
  std::ofstream(aws) << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$AWS_CALLS\"\n";
  fs::permissions(aws, fs::perms::owner_all);
  const char* path = std::getenv("PATH");
  std::vector<std::string> env = {"PATH=" + (dir.path() / "bin").string() + ":" + (path ? path : "/usr/bin:/bin"),
                                  "FHIRLAKE=" + FhirlakeBinary(), "TASK_TOKEN=token-123",
                                  "AWS_CALLS=" + (dir.path() / "calls").string(),
                                  "TARGET_ENDPOINT=http://127.0.0.1:9/fhir", "SOURCE_ENDPOINT="};
  auto run = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/bin/sh", script.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Child child(argv, env, dir.path() / "out", dir.path() / "err");
    int rc = child.Wait();
    return std::make_pair(rc, Lines(dir.path() / "calls"));
  };
  auto [ok_rc, ok_calls] = run({"handoff", "import", R"({"parameters":{"resourceType":"Parameters","parameter":[]}})"});
  EXPECT_EQ(ok_rc, 0) << ReadFile(dir.path() / "err");
  EXPECT_EQ(ok_calls, (std::vector<std::string>{"stepfunctions", "send-task-success", "--task-token", "token-123",
                                                "--task-output", R"({"statusUrl":null})"}));
  auto [fail_rc, fail_calls] = run({"handoff", "export"});
  EXPECT_EQ(fail_rc, 2);
  ASSERT_EQ(fail_calls.size(), 8u);
  EXPECT_EQ(fail_calls[1], "send-task-failure");
  EXPECT_EQ(fail_calls[4], "--error");
  EXPECT_EQ(fail_calls[5], "ConfigurationError");
  EXPECT_NE(fail_calls[7].find("SOURCE_ENDPOINT"), std::string::npos) << fail_calls[7];
  EXPECT_EQ(json::parse(fail_calls[7], nullptr, false).value("errorType", ""), "ConfigurationError") << fail_calls[7];
}

}  // namespace
}  // namespace fhirlake::testing
