// `fhirlake serve` as a real child process on a free loopback port, with a request log the
// test can read. Stopped with SIGTERM (then SIGKILL) when the object dies.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {

class ServerProcess {
 public:
  // Serves `source` with `extra_args` (e.g. {"--faults", "file:reset=0.5"}) on `port` (0: a
  // free one; a fixed one gives a restarted server the base URL of the one before).
  explicit ServerProcess(const std::filesystem::path& source, std::vector<std::string> extra_args = {}, int port = 0);
  ~ServerProcess();

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/fhir"; }
  // Every request so far, in order (the server's --request-log).
  std::vector<nlohmann::json> Requests() const;
  std::string stderr_text() const;

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

}  // namespace fhirlake::testing
