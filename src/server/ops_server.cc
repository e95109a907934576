#include "fhirlake/server/ops_server.h"

#include <httplib.h>

#include <thread>

#include "src/server/bounded_http_server.h"

namespace fhirlake::server {

struct OpsServer::Impl {
  BoundedHttpServer http;
  std::thread thread;
  int port = 0;
};

OpsServer::OpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpsServer::~OpsServer() {
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int OpsServer::port() const { return impl_->port; }

Result<std::unique_ptr<OpsServer>> OpsServer::Start(const std::string& listen, OpsHandlers handlers) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("--listen takes HOST:PORT, e.g. 127.0.0.1:9090");
  const std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return InvalidArgument("--listen takes HOST:PORT, e.g. 127.0.0.1:9090");
  }
  auto impl = std::make_unique<Impl>();
  impl->http.Get("/health", [h = handlers.health](const httplib::Request&, httplib::Response& res) {
    auto [status, body] = h();
    res.status = status;
    res.set_content(body, "application/json");
  });
  impl->http.Get("/metrics", [m = handlers.metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(m(), "text/plain; version=0.0.4");
  });
  if (port == 0) {
    impl->port = impl->http.bind_to_any_port(host);
    if (impl->port <= 0) return IoError("cannot listen on " + host);
  } else {
    if (!impl->http.bind_to_port(host, port)) return IoError("cannot listen on " + listen + " (address in use?)");
    impl->port = port;
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->http.listen_after_bind(); });
  return std::unique_ptr<OpsServer>(new OpsServer(std::move(impl)));
}

}  // namespace fhirlake::server
