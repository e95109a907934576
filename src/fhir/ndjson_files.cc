#include "fhirlake/fhir/ndjson_files.h"

#include <algorithm>
#include <cctype>

namespace fhirlake::fhir {
namespace fs = std::filesystem;

std::string ResourceTypeOfFile(const fs::path& path) {
  std::string name = path.filename().string();
  if (!name.ends_with(".ndjson")) return "";
  std::string type = name.substr(0, name.find('.'));
  if (type.empty() || !std::isupper(static_cast<unsigned char>(type[0]))) return "";
  return type;
}

std::vector<fs::path> ListNdjsonFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".ndjson") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> ListResourceFiles(const fs::path& dir) {
  std::vector<fs::path> files = ListNdjsonFiles(dir);
  std::erase_if(files, [](const fs::path& p) { return ResourceTypeOfFile(p).empty(); });
  return files;
}

}  // namespace fhirlake::fhir
