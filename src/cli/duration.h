// Durations on the command line: "90" (seconds), "90s", "500ms", "5m", "24h", "2d".
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace fhirlake::cli {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace fhirlake::cli
