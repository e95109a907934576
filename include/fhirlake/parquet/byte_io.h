// Where a Parquet file's bytes go and come from. FileWriter writes through an OutputSink and
// FileReader reads through an InputSource, so neither sees a path: a local file is one
// implementation (below), an object store another (delta/object_files.h), and nothing above
// the sink changes with the backend.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "fhirlake/status.h"

namespace fhirlake::parquet {

// A byte stream written front to back. Not thread-safe.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  [[nodiscard]] virtual Status Append(std::string_view bytes) = 0;
  // Makes the bytes durable and, for sinks that publish (object stores), visible.
  // REQUIRES: called at most once; no Append after it.
  [[nodiscard]] virtual Status Close() = 0;
  // Where the bytes go, for messages.
  virtual std::string name() const = 0;
};

// Bytes read at any offset: a Parquet reader reads the footer first, then the column chunks it
// needs, each with one ranged read.
class InputSource {
 public:
  virtual ~InputSource() = default;
  [[nodiscard]] virtual Result<uint64_t> Size() = 0;
  // Exactly `length` bytes at `offset`; an error when the source ends before.
  [[nodiscard]] virtual Result<std::string> ReadAt(uint64_t offset, size_t length) = 0;
  virtual std::string name() const = 0;
};

// A local file, created (truncated) now; buffered writes, fsync-free close (callers that need
// durability rename or commit afterwards).
[[nodiscard]] Result<std::unique_ptr<OutputSink>> OpenFileSink(const std::filesystem::path& path);
// A local file.
[[nodiscard]] Result<std::unique_ptr<InputSource>> OpenFileSource(const std::filesystem::path& path);

}  // namespace fhirlake::parquet
