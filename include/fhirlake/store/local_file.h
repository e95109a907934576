// Small whole-file operations on the local filesystem for documents fhirlake owns (state,
// manifests, job records). Bulk data never goes through here: it is streamed.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "fhirlake/status.h"

namespace fhirlake::store {

// Writes `content` to `path` so that readers see either the old or the new file, never a mix:
// a temporary file beside it is written, fsynced and renamed over `path`.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content);

// Reads a whole small file. REQUIRES: the file is a document, not bulk data (max_bytes bounds it).
Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes = 64u << 20);

}  // namespace fhirlake::store
