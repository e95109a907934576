// Environment variables set for the rest of a scope (and inherited by child processes started
// in it), restored when the scope ends. Not thread-safe: set them before starting threads.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fhirlake::testing {

class ScopedEnv {
 public:
  // Each assignment is "NAME=value"; an empty value counts as unset for fhirlake.
  explicit ScopedEnv(const std::vector<std::string>& assignments) {
    for (const auto& a : assignments) {
      std::string name = a.substr(0, a.find('='));
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(name.c_str(), a.substr(a.find('=') + 1).c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace fhirlake::testing
