#include "fhirlake/store/object_store.h"

#include "fhirlake/store/s3_store.h"

namespace fhirlake::store {

Result<std::vector<ObjectInfo>> ListAll(ObjectStore& store, std::string_view prefix, std::string_view start_after) {
  std::vector<ObjectInfo> all;
  std::string token;
  do {
    auto page = store.List(prefix, token, 1000, start_after);
    if (!page.ok()) return page.status();
    for (auto& object : page->objects) all.push_back(std::move(object));
    token = std::move(page->next_token);
  } while (!token.empty());
  return all;
}

Result<std::vector<std::string>> ListDirectories(ObjectStore& store, std::string_view prefix) {
  std::vector<std::string> names;
  std::string token;
  do {
    auto page = store.ListShallow(prefix, token);
    if (!page.ok()) return page.status();
    for (const std::string& p : page->prefixes) {
      if (p.size() > prefix.size() + 1) names.push_back(p.substr(prefix.size(), p.size() - prefix.size() - 1));
    }
    token = std::move(page->next_token);
  } while (!token.empty());
  return names;
}

bool IsS3Location(std::string_view location) { return location.substr(0, 5) == "s3://"; }

Result<std::unique_ptr<ObjectStore>> OpenStore(std::string_view location) {
  if (!IsS3Location(location)) return NewLocalStore(std::string(location));
  auto root = S3Location::Parse(location);
  if (!root.ok()) return root.status();
  auto config = S3Config::FromEnvironment();
  if (!config.ok()) return config.status().WithContext(std::string(location));
  return NewS3Store(std::move(config.value()), std::move(root.value()));
}

}  // namespace fhirlake::store
