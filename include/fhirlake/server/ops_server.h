// A small HTTP listener for operations endpoints of long-running commands (`fhirlake sync
// --every … --listen`): GET /health and GET /metrics, answered by callbacks. Runs on its own
// thread until destroyed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "fhirlake/status.h"

namespace fhirlake::server {

struct OpsHandlers {
  std::function<std::pair<int, std::string>()> health;  // status and JSON body
  std::function<std::string()> metrics;                  // Prometheus text
};

class OpsServer {
 public:
  // `listen` is HOST:PORT (port 0: any free port).
  static Result<std::unique_ptr<OpsServer>> Start(const std::string& listen, OpsHandlers handlers);
  ~OpsServer();
  int port() const;

 private:
  struct Impl;
  explicit OpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirlake::server
