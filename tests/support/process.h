// Child processes for tests: the real `fhirlake` binary, started with fork/exec, its output
// going to files. A Child that is still running when destroyed is killed (SIGKILL) and reaped,
// so a failing test leaves no process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace fhirlake::testing {

// Path of the fhirlake binary under test.
std::string FhirlakeBinary();

class Child {
 public:
  // Starts `argv` with `env` added to (or replacing in) the environment; stdout and stderr go
  // to the given files.
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const std::filesystem::path& stdout_file, const std::filesystem::path& stderr_file);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Waits for exit; returns the exit code, or 128 + signal number.
  int Wait();
  void Signal(int sig);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `fhirlake ARGS...` to completion.
RunResult RunFhirlake(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(20));

std::string ReadFile(const std::filesystem::path& path);

}  // namespace fhirlake::testing
