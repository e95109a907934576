// Fuzz targets whose parser reads a file (NDJSON, Parquet, a Delta log) get the input written to
// a private temporary directory first; FuzzInputDir owns it for the process's lifetime.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace fhirlake::fuzz {

inline const std::filesystem::path& FuzzInputDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("fhirlake-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::filesystem::path WriteInput(const std::filesystem::path& relative, const uint8_t* data, size_t size) {
  std::filesystem::path p = FuzzInputDir() / relative;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                             static_cast<std::streamsize>(size));
  return p;
}

}  // namespace fhirlake::fuzz
