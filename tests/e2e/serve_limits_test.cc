// What one client can take of `fhirlake serve`: a request's head is bounded in bytes and in
// time, and its body in rate (one connection sending headers without end, or a byte every few
// seconds, took the server's memory or a thread for ever), and a second server on the same port fails to start
// instead of sharing its connections. Raw sockets, since an HTTP client would not misbehave.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

using namespace std::chrono_literals;

class Connection {
 public:
  explicit Connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Connection() { ::close(fd_); }
  bool connected() const { return connected_; }

  // Sends all of `data`; false once the server has stopped taking it.
  bool Send(const std::string& data) {
    for (size_t at = 0; at < data.size();) {
      ssize_t n = ::send(fd_, data.data() + at, data.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }
  // Whether the server has answered or closed within `wait`.
  bool Answered(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }
  // What the server sent, until it closed or `wait` passed without more.
  std::string Receive(std::chrono::milliseconds wait = 5s) {
    std::string out;
    char buf[4096];
    while (Answered(wait)) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string Health(int port) {
  Connection c(port);
  if (!c.Send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return "";
  return c.Receive();
}

TEST(ServeLimits, AHeadWithoutEndGets400AndTheServerGoesOn) {
  TempDir source;
  ServerProcess server(source.path());
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  Connection c(server.port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  // 1 MB of headers and no end to them: the server stops reading long before.
  std::string headers;
  for (int i = 0; i < 20'000; ++i) headers += "X-Filler-" + std::to_string(i) + ": " + std::string(30, 'v') + "\r\n";
  c.Send(headers);
  const std::string answer = c.Receive();
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 200);
  EXPECT_EQ(Health(server.port()).rfind("HTTP/1.1 200", 0), 0u);

  // A head of 60 KB, under the limit (64 KiB), is served.
  Connection fits(server.port());
  ASSERT_TRUE(fits.Send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers.substr(0, headers.rfind("\r\n", 60'000) + 2) +
                        "\r\n"));
  const std::string served = fits.Receive();
  EXPECT_EQ(served.rfind("HTTP/1.1 200", 0), 0u) << served.substr(0, 200);
}

// Opens a request with `opening`, then sends `piece` every `every` until the server answers or
// `limit` passes: what the server answered, and when.
struct Trickled {
  std::string answer;
  std::chrono::steady_clock::duration took{};
};
Trickled Trickle(int port, const std::string& opening, const std::string& piece, std::chrono::milliseconds every,
                 std::chrono::seconds limit) {
  Connection c(port);
  EXPECT_TRUE(c.connected() && c.Send(opening));
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit && c.Send(piece) && !c.Answered(every)) {
  }
  Trickled t;
  t.answer = c.Receive();
  t.took = std::chrono::steady_clock::now() - start;
  return t;
}

TEST(ServeLimits, AHeadTrickledInSlowerThanTheTimeoutGets400) {
  TempDir source;
  ServerProcess server(source.path(), {"--request-head-timeout", "1s"});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  // A byte every 200 ms, each well within the read timeout, for up to 4 s.
  auto t = Trickle(server.port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", "v", 200ms, 4s);
  EXPECT_EQ(t.answer.rfind("HTTP/1.1 400", 0), 0u) << t.answer.substr(0, 200);
  EXPECT_LT(t.took, 3500ms) << "the server waited out the trickle";
  EXPECT_EQ(Health(server.port()).rfind("HTTP/1.1 200", 0), 0u);
}

// A body must keep pace too: after a grace of the head timeout, 64 KiB/s on average.
TEST(ServeLimits, ABodyTrickledInGets400) {
  TempDir source;
  ServerProcess server(source.path(), {"--request-head-timeout", "1s"});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  // 200 KB announced, 50 bytes sent every 100 ms for up to 8 s: 500 bytes/s falls behind once the
  // 1 s grace is over.
  auto t = Trickle(server.port(),
                   "POST /fhir/$export HTTP/1.1\r\nHost: 127.0.0.1\r\nPrefer: respond-async\r\n"
                   "Content-Type: application/fhir+json\r\nContent-Length: 200000\r\n\r\n",
                   std::string(50, ' '), 100ms, 8s);
  EXPECT_EQ(t.answer.rfind("HTTP/1.1 400", 0), 0u) << t.answer.substr(0, 200);
  EXPECT_LT(t.took, 7s) << "the server waited out the trickle";
  EXPECT_EQ(Health(server.port()).rfind("HTTP/1.1 200", 0), 0u);
}

TEST(ServeLimits, ASecondServerOnTheSamePortFailsToStart) {
  TempDir source, dir;
  ServerProcess first(source.path());
  ASSERT_TRUE(first.ok()) << first.stderr_text();
  Child second({FhirlakeBinary(), "serve", "--source", source.path().string(), "--listen",
                "127.0.0.1:" + std::to_string(first.port())},
               {}, dir / "stdout", dir / "stderr");
  const bool exited = WaitFor([&] { return !second.running(); }, 10s);
  if (!exited) second.Signal(SIGKILL);
  EXPECT_TRUE(exited) << "the second server started on a port in use";
  EXPECT_NE(second.Wait(), 0);
  EXPECT_NE(ReadFile(dir / "stderr").find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << ReadFile(dir / "stderr");
  EXPECT_EQ(Health(first.port()).rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace fhirlake::testing
