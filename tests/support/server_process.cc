#include "tests/support/server_process.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

namespace fhirlake::testing {

ServerProcess::ServerProcess(const std::filesystem::path& source, std::vector<std::string> extra_args, int port) {
  std::vector<std::string> argv{FhirlakeBinary(), "serve", "--source", source.string(), "--listen",
                                "127.0.0.1:" + std::to_string(port),
                                "--request-log", (dir_ / "requests.ndjson").string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv, std::vector<std::string>{}, dir_ / "stdout", dir_ / "stderr");
  static const std::regex listening(R"(listening on http://[0-9.]+:([0-9]+))");
  WaitFor([&] {
    std::smatch m;
    std::string out = ReadFile(dir_ / "stdout");
    if (std::regex_search(out, m, listening)) port_ = std::stoi(m[1].str());
    return port_ > 0 || !child_->running();
  });
}

ServerProcess::~ServerProcess() {
  if (!child_) return;
  child_->Signal(SIGTERM);
  bool stopped = WaitFor([&] { return !child_->running(); }, std::chrono::seconds(10));
  if (!stopped) child_->Signal(SIGKILL);
  int code = child_->Wait();
  // A clean stop is exit 0; anything else (a hang, a crash, a sanitizer report) fails the test.
  EXPECT_TRUE(stopped) << "fhirlake serve did not stop on SIGTERM";
  EXPECT_EQ(code, 0) << "fhirlake serve exited with " << code << ":\n" << stderr_text();
}

std::vector<nlohmann::json> ServerProcess::Requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir_ / "requests.ndjson");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

std::string ServerProcess::stderr_text() const { return ReadFile(dir_ / "stderr"); }

}  // namespace fhirlake::testing
