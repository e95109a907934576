#include "fhirlake/store/file_transfer.h"

#include <fstream>

#include "fhirlake/store/names.h"

namespace fhirlake::store {

constexpr size_t kChunk = 1u << 20;

Status UploadFile(ObjectStore& store, const std::filesystem::path& file, std::string_view key) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return IoError("cannot open " + file.string() + " to upload it");
  auto writer = store.NewWriter(key);
  if (!writer.ok()) return writer.status();
  std::string buffer(kChunk, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize n = in.gcount();
    if (n > 0) FHIRLAKE_RETURN_IF_ERROR((*writer)->Append(std::string_view(buffer.data(), static_cast<size_t>(n))));
  }
  if (in.bad()) return IoError("cannot read " + file.string() + " to upload it");
  return (*writer)->Close().WithContext("uploading " + file.string());
}

Status DownloadFile(ObjectStore& store, std::string_view key, const std::filesystem::path& file) {
  auto size = store.Size(key);
  if (!size.ok()) return size.status();
  std::filesystem::path temp = file;
  temp += ".part-" + RandomHex(4);
  Status status;
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return IoError("cannot create " + temp.string());
    for (uint64_t offset = 0; offset < *size && status.ok();) {
      auto piece = store.GetRange(key, offset, kChunk);
      if (!piece.ok()) {
        status = piece.status();
      } else if (piece->empty()) {
        status = DataLoss(store.Describe() + "/" + std::string(key) + " ended at byte " + std::to_string(offset) +
                          " of " + std::to_string(*size) + " (changed while being read?)");
      } else {
        out.write(piece->data(), static_cast<std::streamsize>(piece->size()));
        offset += piece->size();
      }
    }
    out.close();
    if (status.ok() && !out) status = IoError("cannot write " + temp.string() + " (check free space)");
  }
  std::error_code ec;
  if (status.ok()) std::filesystem::rename(temp, file, ec);
  if (ec) status = IoError("cannot rename " + temp.string() + ": " + ec.message());
  if (!status.ok()) std::filesystem::remove(temp, ec);
  return status;
}

}  // namespace fhirlake::store
