// A loopback S3 server for tests: tests/support/s3rver_launcher.mjs (s3rver with SigV4
// verification and If-None-Match enforcement) as a child process on a free 127.0.0.1 port,
// stopped by PID when the object dies; plus the AWS SDK for JavaScript as an independent reader
// (tests/support/s3_read.mjs). Both need build/s3-node (scripts/setup installs it).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fhirlake/store/s3_store.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {

class S3Server {
 public:
  static constexpr const char* kBucket = "fhirlake-test";

  // Starts the server with bucket kBucket and `extra_args` (e.g. {"--slowdown", "2"}).
  explicit S3Server(std::vector<std::string> extra_args = {});
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  bool ok() const { return port_ > 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // A configuration with the server's endpoint and (good) credentials, path-style.
  store::S3Config config() const;
  // AWS_* variables for a child process (fhirlake, the SDK reader).
  std::vector<std::string> env() const;
  // The (method, url) of every request so far.
  std::vector<std::pair<std::string, std::string>> Requests() const;
  std::string stderr_text() const;

  // Runs `node s3_read.mjs ARGS...` (the AWS SDK); returns its exit code, stdout in `out`.
  int Sdk(const std::vector<std::string>& args, std::string* out = nullptr) const;

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

}  // namespace fhirlake::testing
