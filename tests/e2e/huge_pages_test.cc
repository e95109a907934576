// The binary restarts itself once with glibc's huge-page malloc (src/cli/huge_pages.h): the
// running `fhirlake serve` is the process the test started and its malloc advises huge pages;
// a hugetlb tunable the user set is left alone.
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {
namespace {

// Whether running process `pid` has memory advised for huge pages (VmFlags "hg" in its
// smaps): glibc's malloc advises its heap so when the tunable is on. (The environment cannot
// tell: glibc rewrites GLIBC_TUNABLES in place as it reads it.)
bool HugePagesAdvised(pid_t pid) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  while (std::getline(smaps, line)) {
    if (line.starts_with("VmFlags:") && (line + " ").find(" hg ") != std::string::npos) return true;
  }
  return false;
}

// Whether this system and build restart: transparent huge pages on request, glibc's malloc.
bool RestartExpected() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#else
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(in, modes);
  return modes.find("[always]") != std::string::npos || modes.find("[madvise]") != std::string::npos;
#endif
}

// Starts `fhirlake serve` with GLIBC_TUNABLES=`tunables`, waits until it listens, and returns
// whether its process (the one started: a restart keeps the PID) has huge pages advised.
bool ServeAdvisesHugePages(const std::string& tunables) {
  TempDir dir;
  std::filesystem::create_directories(dir / "source");
  Child serve({FhirlakeBinary(), "serve", "--source", (dir / "source").string(), "--listen", "127.0.0.1:0"},
              {"GLIBC_TUNABLES=" + tunables}, dir / "stdout", dir / "stderr");
  const bool listening = WaitFor([&] {
    return ReadFile(dir / "stdout").find("listening on") != std::string::npos || !serve.running();
  });
  EXPECT_TRUE(listening && serve.running()) << ReadFile(dir / "stderr");
  const bool advised = serve.running() && HugePagesAdvised(serve.pid());
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(), 0) << ReadFile(dir / "stderr");
  return advised;
}

TEST(HugePages, TheProcessRestartsItselfWithTheTunableAdded) {
  EXPECT_EQ(ServeAdvisesHugePages("glibc.malloc.arena_max=8"), RestartExpected());
}

TEST(HugePages, ATunableTheUserSetIsLeftAlone) {
  EXPECT_FALSE(ServeAdvisesHugePages("glibc.malloc.hugetlb=0"));
}

}  // namespace
}  // namespace fhirlake::testing
