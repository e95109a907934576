// Where the S3 configuration comes from: the same variables and files as the AWS CLI and SDKs,
// so a machine set up for them works unchanged. Secrets read here go into S3Config only.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "fhirlake/store/s3_store.h"

namespace fhirlake::store {
namespace {
namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The key/value pairs of section `[section]` of an INI file like ~/.aws/credentials.
std::map<std::string, std::string> IniSection(const fs::path& file, const std::string& section) {
  std::map<std::string, std::string> out;
  std::ifstream in(file);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = Trim(line.substr(1, line.size() - 2)) == section;
      continue;
    }
    if (!inside) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    out[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return out;
}

fs::path AwsFile(const char* variable, const char* name) {
  std::string explicit_path = Env(variable);
  if (!explicit_path.empty()) return explicit_path;
  std::string home = Env("HOME");
  return home.empty() ? fs::path() : fs::path(home) / ".aws" / name;
}

bool IsIpOrLocalhost(const std::string& endpoint) {
  size_t start = endpoint.find("://");
  std::string host = endpoint.substr(start == std::string::npos ? 0 : start + 3);
  host = host.substr(0, host.find_first_of(":/"));
  if (host == "localhost" || host.empty() || host[0] == '[') return true;
  return host.find_first_not_of("0123456789.") == std::string::npos;
}

}  // namespace

Result<S3Config> S3Config::FromEnvironment() {
  S3Config config;
  std::string profile = Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  auto credentials = IniSection(AwsFile("AWS_SHARED_CREDENTIALS_FILE", "credentials"), profile);
  auto settings = IniSection(AwsFile("AWS_CONFIG_FILE", "config"), profile == "default" ? "default" : "profile " + profile);

  config.access_key_id = Env("AWS_ACCESS_KEY_ID");
  config.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  config.session_token = Env("AWS_SESSION_TOKEN");
  if (config.access_key_id.empty()) {
    // The profile's keys, from the credentials file or (as the CLI allows) the config file.
    for (const auto* source : {&credentials, &settings}) {
      if (auto it = source->find("aws_access_key_id"); it != source->end() && config.access_key_id.empty()) {
        config.access_key_id = it->second;
        config.secret_access_key = source->count("aws_secret_access_key") ? source->at("aws_secret_access_key") : "";
        config.session_token = source->count("aws_session_token") ? source->at("aws_session_token") : "";
      }
    }
  }
  if (config.access_key_id.empty() || config.secret_access_key.empty()) {
    return InvalidArgument("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
                           "to a profile of ~/.aws/credentials (profile '" + profile + "' has none)");
  }

  config.region = Env("AWS_REGION");
  if (config.region.empty()) config.region = Env("AWS_DEFAULT_REGION");
  if (config.region.empty() && settings.count("region")) config.region = settings.at("region");
  if (config.region.empty()) config.region = "us-east-1";

  config.endpoint = Env("AWS_ENDPOINT_URL_S3");
  if (config.endpoint.empty()) config.endpoint = Env("AWS_ENDPOINT_URL");
  if (config.endpoint.empty() && settings.count("endpoint_url")) config.endpoint = settings.at("endpoint_url");
  bool custom_endpoint = !config.endpoint.empty();
  if (!custom_endpoint) config.endpoint = "https://s3." + config.region + ".amazonaws.com";
  if (config.endpoint.find("://") == std::string::npos) config.endpoint = "https://" + config.endpoint;

  std::string addressing = Env("FHIRLAKE_S3_ADDRESSING");
  if (addressing == "path") {
    config.path_style = true;
  } else if (addressing == "virtual") {
    config.path_style = false;
  } else if (!addressing.empty()) {
    return InvalidArgument("FHIRLAKE_S3_ADDRESSING must be 'path' or 'virtual', not '" + addressing + "'");
  } else {
    // Virtual-hosted on AWS; path-style for custom endpoints, which often cannot resolve
    // bucket sub-domains (and never can when they are an IP address).
    config.path_style = custom_endpoint || IsIpOrLocalhost(config.endpoint);
  }
  return config;
}

}  // namespace fhirlake::store
