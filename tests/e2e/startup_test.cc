// What a start of the binary maps: libcurl (and the thirty libraries it depends on) only once
// a command speaks HTTP (src/http/curl_library.cc).
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

// Whether running process `pid` has a file whose path contains `name` mapped.
bool Maps(pid_t pid, const std::string& name) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(name) != std::string::npos) return true;
  }
  return false;
}

TEST(Startup, LibcurlIsLoadedOnlyWhenACommandSpeaksHttp) {
  TempDir dir;
  std::filesystem::create_directories(dir / "source");
  Child serve({FhirlakeBinary(), "serve", "--source", (dir / "source").string(), "--listen", "127.0.0.1:0"}, {},
              dir / "stdout", dir / "stderr");
  ASSERT_TRUE(WaitFor([&] {
    return ReadFile(dir / "stdout").find("listening on") != std::string::npos || !serve.running();
  }));
  ASSERT_TRUE(serve.running()) << ReadFile(dir / "stderr");
  EXPECT_TRUE(Maps(serve.pid(), "libc.so")) << "the check reads the process's maps";
  EXPECT_FALSE(Maps(serve.pid(), "libcurl")) << "serving bulk data needs no HTTP client";

  // A sync against it is an HTTP client: it works, so the library was found when needed.
  const std::string out = ReadFile(dir / "stdout");
  const auto at = out.find("http://");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string base = out.substr(at, out.find_first_of(" \n", at) - at);
  RunResult sync = RunFhirlake({"sync", "--source", base, "--warehouse", (dir / "wh").string(), "--poll-interval",
                                "20ms", "--quiet"});
  EXPECT_EQ(sync.exit_code, 0) << sync.err;
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(), 0) << ReadFile(dir / "stderr");
}

}  // namespace
}  // namespace fhirlake::testing
