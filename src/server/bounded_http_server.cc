#include "src/server/bounded_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace fhirlake::server {
namespace {

using Clock = std::chrono::steady_clock;

// Waits up to `timeout` for `events` on `sock`; true when they came.
bool PollFor(socket_t sock, short events, std::chrono::milliseconds timeout) {
  pollfd p{sock, events, 0};
  int ms = static_cast<int>(std::max<int64_t>(0, timeout.count()));
  int n;
  do {
    n = ::poll(&p, 1, ms);
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
}

void AddressOf(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

// A connection's socket as httplib reads and writes it, buffered, counting each request's head.
class BoundedStream : public httplib::Stream {
 public:
  BoundedStream(socket_t sock, HeadLimits limits, std::chrono::milliseconds read_timeout,
                std::chrono::milliseconds write_timeout)
      : sock_(sock), limits_(limits), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  // A new request's head begins.
  void StartRequest() {
    in_head_ = true;
    head_bytes_ = 0;
    line_length_ = 0;
    lines_ = 0;
    head_deadline_ = Clock::now() + limits_.head_timeout;
  }
  bool HasBuffered() const { return begin_ < end_; }

  bool is_readable() const override {
    if (HasBuffered()) return true;
    const auto deadline = in_head_ ? head_deadline_ : BodyDeadline();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return PollFor(sock_, POLLIN, std::min(read_timeout_, left));
  }
  bool is_writable() const override { return PollFor(sock_, POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (Clock::now() >= (in_head_ ? head_deadline_ : BodyDeadline())) return -1;
    if (!HasBuffered()) {
      if (!is_readable()) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, n);
    begin_ += n;
    if (!in_head_) {
      body_bytes_ += n;
    } else if (!CountHead(ptr, n)) {
      return -1;
    }
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) AddressOf(addr, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) AddressOf(addr, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  // Reads after the head are its body's (httplib reads nothing else before the next request):
  // it must come at `min_body_rate` on average, after a grace of the head timeout.
  Clock::time_point BodyDeadline() const {
    return head_end_ + limits_.head_timeout +
           std::chrono::milliseconds(body_bytes_ * 1000 / std::max<size_t>(1, limits_.min_body_rate));
  }

  // Counts the bytes of the head read so far; false once they pass the limit. The head ends at
  // its first empty line (after the request line), CRLF or a bare LF.
  bool CountHead(const char* p, size_t n) {
    for (size_t i = 0; i < n && in_head_; ++i) {
      if (++head_bytes_ > limits_.max_head_bytes) return false;
      if (p[i] == '\n') {
        if (line_length_ == 0 && lines_ > 0) {
          in_head_ = false;
          head_end_ = Clock::now();
          body_bytes_ = n - i - 1;  // read with the head's end
        }
        ++lines_;
        line_length_ = 0;
      } else if (p[i] != '\r') {
        ++line_length_;
      }
    }
    return true;
  }

  socket_t sock_;
  HeadLimits limits_;
  std::chrono::milliseconds read_timeout_, write_timeout_;
  std::array<char, 4096> buffer_{};
  size_t begin_ = 0, end_ = 0;
  bool in_head_ = false;
  size_t head_bytes_ = 0, line_length_ = 0, lines_ = 0;
  Clock::time_point head_deadline_{};
  Clock::time_point head_end_{};
  size_t body_bytes_ = 0;
};

std::chrono::milliseconds Millis(time_t sec, time_t usec) {
  return std::chrono::milliseconds(sec * 1000 + usec / 1000);
}

}  // namespace

void BoundedHttpServer::SocketOptions(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

bool BoundedHttpServer::WaitForRequest(socket_t sock) const {
  // In short steps, so that a stopping server is not kept waiting by idle connections.
  const auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  while (svr_sock_ != INVALID_SOCKET) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    if (PollFor(sock, POLLIN, std::min(left, std::chrono::milliseconds(100)))) return true;
  }
  return false;
}

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  BoundedStream strm(sock, limits_, Millis(read_timeout_sec_, read_timeout_usec_),
                     Millis(write_timeout_sec_, write_timeout_usec_));
  bool ok = false;
  for (size_t left = std::max<size_t>(1, keep_alive_max_count_); left > 0; --left) {
    if (svr_sock_ == INVALID_SOCKET || (!strm.HasBuffered() && !WaitForRequest(sock))) break;
    strm.StartRequest();
    bool connection_closed = false;
    ok = process_request(strm, left == 1, connection_closed, nullptr);
    if (!ok || connection_closed) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace fhirlake::server
