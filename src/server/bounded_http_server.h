// BoundedHttpServer: httplib::Server with limits on each request's head (its request line and
// headers). httplib reads a head for as long as bytes keep coming, each header kept in memory:
// one connection sending headers without end took 340 MB of the server's memory for 42 MB sent,
// and one sending a byte every few seconds kept a request thread for ever. Here a head must end
// within `max_head_bytes` and within `head_timeout` of its first byte, or the request fails (400)
// and the connection closes; a body that trickles in slower than `min_body_rate` fails it too. Between kept-open requests the connection waits in poll(), not in
// httplib's polling loop. And its listening socket is its own (SocketOptions).
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>

namespace fhirlake::server {

struct HeadLimits {
  size_t max_head_bytes = 64u << 10;
  std::chrono::milliseconds head_timeout{20'000};
  // A body must arrive at this many bytes per second on average, after a grace of head_timeout
  // (16 MiB: 256 s more).
  size_t min_body_rate = 64u << 10;
};

class BoundedHttpServer : public httplib::Server {
 public:
  explicit BoundedHttpServer(HeadLimits limits = {}) : limits_(limits) { set_socket_options(SocketOptions); }
  void set_head_limits(HeadLimits limits) { limits_ = limits; }

  // The listening socket's options: SO_REUSEADDR, not httplib's default SO_REUSEPORT too, with
  // which a second server on the same port bound without an error and took half its connections.
  static void SocketOptions(socket_t sock);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Whether the next request's first byte arrives within the keep-alive timeout (false when
  // the server stops meanwhile).
  bool WaitForRequest(socket_t sock) const;

  HeadLimits limits_;
};

}  // namespace fhirlake::server
