// Copies between local files and an ObjectStore, streamed in 1 MiB pieces so that memory stays
// bounded whatever the size (multipart uploads on S3, ranged reads back).
#pragma once

#include <filesystem>
#include <string_view>

#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::store {

// Streams `file` into `store` under `key`; the object appears only when complete.
[[nodiscard]] Status UploadFile(ObjectStore& store, const std::filesystem::path& file, std::string_view key);

// Streams the object `key` into `file` (written beside it and renamed when complete).
// kNotFound when the object is absent.
[[nodiscard]] Status DownloadFile(ObjectStore& store, std::string_view key, const std::filesystem::path& file);

}  // namespace fhirlake::store
