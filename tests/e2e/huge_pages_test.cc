// The binary restarts itself once with glibc's huge-page malloc (src/cli/huge_pages.h): the
// running `fhirlake serve` is the process the test started and its malloc advises huge pages;
// a hugetlb tunable the user set is left alone.
#include <signal.h>
#include <sys/resource.h>

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

// Minor page faults of one `fhirlake ARGS` run with GLIBC_TUNABLES=`tunables`.
long LoadPageFaults(const std::vector<std::string>& args, const std::string& tunables) {
  rusage before{}, after{};
  getrusage(RUSAGE_CHILDREN, &before);
  RunResult run = RunFhirlake(args, {"GLIBC_TUNABLES=" + tunables});
  getrusage(RUSAGE_CHILDREN, &after);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  return after.ru_minflt - before.ru_minflt;
}

// With an arena per thread, the helper that writes half of a large type would fault its
// buffers in 4 KiB at a time; the restart asks for one arena, whose heap has huge pages.
TEST(HugePages, TheRestartKeepsEveryThreadOnTheHugePageArena) {
  if (!RestartExpected()) GTEST_SKIP() << "no restart on this system or build";
  TempDir dir;
  ASSERT_EQ(RunFhirlake({"generate", (dir / "in").string(), "--patients", "1200", "--seed", "1", "--quiet"}).exit_code, 0);
  auto load = [&](const std::string& warehouse) {
    return std::vector<std::string>{"load", (dir / "in").string(), (dir / warehouse).string(), "--types", "Observation",
                                    "--jobs", "2", "--quiet"};
  };
  const long one_arena = LoadPageFaults(load("restarted"), "glibc.malloc.perturb=0");  // neither hugetlb nor arena_max
  const long per_thread = LoadPageFaults(load("arena-per-thread"), "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=8");
  // Measured: about 5.4 k against 10.1 k.
  EXPECT_LT(one_arena * 4, per_thread * 3) << one_arena << " page faults with the restart, " << per_thread
                                           << " with huge pages and an arena per thread";
}

}  // namespace
}  // namespace fhirlake::testing
