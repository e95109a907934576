#include "fhirlake/view/view_files.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

namespace fhirlake::view {

namespace fs = std::filesystem;

Result<ViewDefinition> ReadViewDefinition(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return NotFound("cannot read " + file.string());
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument(file.string() + " is not JSON");
  auto view = ViewDefinition::Compile(doc);
  if (!view.ok()) return view.status().WithContext(file.string());
  return view;
}

Result<std::vector<ViewDefinition>> ReadViewDefinitions(const std::vector<fs::path>& paths) {
  std::vector<fs::path> files;
  for (const fs::path& p : paths) {
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      files.push_back(p);
      continue;
    }
    std::vector<fs::path> in_dir;
    for (const auto& e : fs::directory_iterator(p, ec))
      if (e.path().extension() == ".json") in_dir.push_back(e.path());
    if (ec) return IoError("cannot list " + p.string() + ": " + ec.message());
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }
  std::vector<ViewDefinition> views;
  for (const fs::path& f : files) {
    auto view = ReadViewDefinition(f);
    if (!view.ok()) return view.status();
    views.push_back(std::move(view).value());
  }
  return views;
}

Status RefreshViews(const fs::path& warehouse, const std::vector<const ViewDefinition*>& views,
                    const ViewRefreshed& refreshed) {
  Status first;
  for (const ViewDefinition* v : views) {
    auto stats = MaterializeView(warehouse, *v);
    if (!stats.ok() && first.ok()) first = stats.status().WithContext("refreshing view " + v->name());
    if (refreshed) refreshed(*v, stats);
  }
  return first;
}

}  // namespace fhirlake::view
