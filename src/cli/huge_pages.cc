#include "src/cli/huge_pages.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace fhirlake::cli {

namespace {

constexpr const char* kTunable = "glibc.malloc.hugetlb";
// One malloc arena for every thread: with the arenas glibc makes for other threads, their
// memory was faulted in 4 KiB at a time while the main arena's had huge pages (a 20 MB load
// with two jobs: 10.2 k page faults with an arena per thread, 4.4-5.4 k with one).
constexpr const char* kOneArena = "glibc.malloc.arena_max";

// Whether the kernel gives transparent huge pages to memory that asks for them
// ("[always]" or "[madvise]" in its sysfs switch).
bool SystemHasHugePages() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(in, modes);
  return modes.find("[always]") != std::string::npos || modes.find("[madvise]") != std::string::npos;
}

// Commands whose work is too small for the restart to pay off.
bool MovesData(char** argv) {
  if (!argv[0] || !argv[1]) return false;
  const std::string_view command = argv[1];
  return !command.starts_with("-") && command != "status" && command != "keygen";
}

}  // namespace

void RestartWithHugePageMalloc(char** argv) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  const char* current = std::getenv("GLIBC_TUNABLES");
  const bool was_set = current != nullptr;
  const std::string original = was_set ? current : "";
  if (!MovesData(argv) || original.find(kTunable) != std::string::npos || !SystemHasHugePages()) return;
  // Started through the dynamic loader (`ld-linux… fhirlake …`): /proc/self/exe is the loader,
  // which would take the first argument for the program.
  std::error_code ec;
  if (std::filesystem::read_symlink("/proc/self/exe", ec).filename().string().starts_with("ld-") || ec) return;
  std::string tunables = original + (original.empty() ? "" : ":") + kTunable + "=1";
  if (original.find(kOneArena) == std::string::npos) tunables += std::string(":") + kOneArena + "=1";
  if (::setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Still here: run as started, with the environment as it was.
  if (was_set) {
    ::setenv("GLIBC_TUNABLES", original.c_str(), 1);
  } else {
    ::unsetenv("GLIBC_TUNABLES");
  }
#else
  (void)argv;
#endif
}

}  // namespace fhirlake::cli
