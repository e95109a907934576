#include "src/cli/duration.h"

#include <charconv>

namespace fhirlake::cli {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  double ms;
  if (unit.empty() || unit == "s") ms = value * 1000;
  else if (unit == "ms") ms = value;
  else if (unit == "m") ms = value * 60'000;
  else if (unit == "h") ms = value * 3'600'000;
  else if (unit == "d") ms = value * 86'400'000;
  else return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

}  // namespace fhirlake::cli
