#include "tests/support/s3_server.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

namespace fhirlake::testing {
namespace {

std::string NodeModules() { return std::string(FHIRLAKE_S3_NODE) + "/node_modules"; }

}  // namespace

S3Server::S3Server(std::vector<std::string> extra_args) {
  if (!std::filesystem::exists(NodeModules() + "/s3rver")) {
    ADD_FAILURE() << "s3rver is not installed in " << FHIRLAKE_S3_NODE << ": run scripts/setup";
    return;
  }
  // s3rver encrypts continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
  std::vector<std::string> argv{"/usr/bin/env", "node", "--no-warnings", "--openssl-legacy-provider",
                                std::string(FHIRLAKE_TEST_SUPPORT) + "/s3rver_launcher.mjs",
                                "--dir", (dir_ / "data").string(), "--bucket", kBucket,
                                "--request-log", (dir_ / "requests.ndjson").string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv, std::vector<std::string>{"FHIRLAKE_S3_NODE_MODULES=" + NodeModules()},
                                   dir_ / "stdout", dir_ / "stderr");
  static const std::regex listening(R"(\{"port":([0-9]+)\})");
  WaitFor([&] {
    std::smatch m;
    std::string out = ReadFile(dir_ / "stdout");
    if (std::regex_search(out, m, listening)) port_ = std::stoi(m[1].str());
    return port_ > 0 || !child_->running();
  });
  if (port_ == 0) ADD_FAILURE() << "the S3 test server did not start:\n" << stderr_text();
}

S3Server::~S3Server() {
  if (!child_) return;
  child_->Signal(SIGTERM);
  if (!WaitFor([&] { return !child_->running(); }, std::chrono::seconds(10))) child_->Signal(SIGKILL);
  child_->Wait();
}

store::S3Config S3Server::config() const {
  store::S3Config config;
  config.endpoint = endpoint();
  config.region = "us-east-1";
  config.access_key_id = "S3RVER";
  config.secret_access_key = "S3RVER";
  config.path_style = true;
  config.max_attempts = 4;
  return config;
}

std::vector<std::string> S3Server::env() const {
  return {"AWS_ENDPOINT_URL=" + endpoint(), "AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
          "AWS_REGION=us-east-1", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "FHIRLAKE_S3_NODE_MODULES=" + NodeModules()};
}

std::vector<std::pair<std::string, std::string>> S3Server::Requests() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(dir_ / "requests.ndjson");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.emplace_back(j.value("method", ""), j.value("url", ""));
  }
  return out;
}

std::string S3Server::stderr_text() const { return ReadFile(dir_ / "stderr"); }

int S3Server::Sdk(const std::vector<std::string>& args, std::string* out) const {
  std::vector<std::string> argv{"/usr/bin/env", "node", "--no-warnings",
                                std::string(FHIRLAKE_TEST_SUPPORT) + "/s3_read.mjs"};
  argv.insert(argv.end(), args.begin(), args.end());
  TempDir dir;
  Child node(argv, env(), dir / "out", dir / "err");
  int code = node.Wait();
  if (out) *out = ReadFile(dir / "out");
  if (code != 0) ADD_FAILURE() << "s3_read.mjs failed: " << ReadFile(dir / "err");
  return code;
}

}  // namespace fhirlake::testing
