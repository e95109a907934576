// The NDJSON files of a directory as bulk exports lay them out: <Type>.<anything>.ndjson, where
// Type is a resource type (upper-case first letter; so log.ndjson is not one).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace fhirlake::fhir {

// The resource type a file name declares, or "" when the name does not follow the layout.
std::string ResourceTypeOfFile(const std::filesystem::path& path);

// Every regular *.ndjson file of `dir`, sorted by name (a missing directory gives none).
std::vector<std::filesystem::path> ListNdjsonFiles(const std::filesystem::path& dir);

// The files of ListNdjsonFiles that declare a resource type.
std::vector<std::filesystem::path> ListResourceFiles(const std::filesystem::path& dir);

}  // namespace fhirlake::fhir
