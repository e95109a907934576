#include "src/cli/config_file.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>

#include "fhirlake/http/url.h"
#include "fhirlake/store/local_file.h"

namespace fhirlake::cli {
namespace {

using nlohmann::json;

bool IsFlag(const CLI::Option* opt) { return opt->get_expected_min() == 0; }
bool IsList(const CLI::Option* opt) { return opt->get_expected_max() > 1; }
bool IsSecret(const std::string& key) { return key.find("Secret") != std::string::npos && key.find("File") == std::string::npos; }

const CLI::Option* FindOption(const CLI::App& cmd, const std::string& key) {
  for (const CLI::Option* opt : cmd.get_options()) {
    if (!opt->get_lnames().empty() && ConfigKey(opt->get_lnames()[0]) == key) return opt;
  }
  return nullptr;
}

}  // namespace

std::string EnvironmentName(const std::string& long_name) {
  std::string out = "FHIRLAKE_";
  for (char c : long_name) out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string ConfigKey(const std::string& long_name) {
  std::string out;
  bool upper = false;
  for (char c : long_name) {
    if (c == '-') {
      upper = true;
      continue;
    }
    out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
    upper = false;
  }
  return out;
}

void AddEnvironmentNames(CLI::App& cmd) {
  for (CLI::Option* opt : cmd.get_options()) {
    if (opt->get_lnames().empty() || !opt->get_envname().empty()) continue;
    const std::string& name = opt->get_lnames()[0];
    if (name == "help" || name == "config") continue;
    opt->envname(EnvironmentName(name));
  }
}

Result<std::vector<std::string>> ApplyConfigFile(const CLI::App& app, std::vector<std::string> args) {
  if (args.empty()) return args;
  const CLI::App* cmd = nullptr;
  try {
    cmd = app.get_subcommand(args[0]);
  } catch (const CLI::OptionNotFound&) {
    return args;
  }
  if (!cmd || !cmd->get_option_no_throw("--config")) return args;
  std::string file;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) file = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) file = args[i].substr(9);
  }
  if (file.empty()) {
    if (const char* env = std::getenv("FHIRLAKE_CONFIG"); env && *env) file = env;
  }
  if (file.empty()) return args;
  auto text = store::ReadSmallFile(file, 1u << 20);
  if (!text.ok()) return InvalidArgument("cannot read the config file: " + text.status().message());
  json doc = json::parse(*text, nullptr, false);
  if (!doc.is_object()) return InvalidArgument("config file " + file + " is not a JSON object");
  std::vector<std::string> extra;
  for (const auto& [key, value] : doc.items()) {
    const CLI::Option* opt = FindOption(*cmd, key);
    if (!opt || key == "config" || key == "help") {
      return InvalidArgument("config file " + file + ": unknown key '" + key + "'");
    }
    const std::string flag = "--" + opt->get_lnames()[0];
    bool given = false;
    for (const auto& a : args) given = given || a == flag || a.rfind(flag + "=", 0) == 0;
    const char* env = opt->get_envname().empty() ? nullptr : std::getenv(opt->get_envname().c_str());
    if (given || (env && *env)) continue;  // flags and the environment win
    auto wrong = [&](const char* want) {
      return InvalidArgument("config file " + file + ": '" + key + "' must be " + want);
    };
    if (IsFlag(opt)) {
      if (!value.is_boolean()) return wrong("true or false");
      if (value.get<bool>()) extra.push_back(flag);
    } else if (IsList(opt)) {
      std::string joined;
      if (value.is_string()) {
        joined = value.get<std::string>();
      } else if (value.is_array()) {
        for (const auto& v : value) {
          if (!v.is_string()) return wrong("a list of strings");
          joined += (joined.empty() ? "" : ",") + v.get<std::string>();
        }
      } else {
        return wrong("a list of strings");
      }
      extra.push_back(flag);
      extra.push_back(joined);
    } else if (opt->get_type_name() == "INT" || opt->get_type_name() == "UINT") {
      if (!value.is_number_integer()) return wrong("an integer");
      extra.push_back(flag);
      extra.push_back(std::to_string(value.get<int64_t>()));
    } else {
      if (!value.is_string() && !value.is_number()) return wrong("a string");
      extra.push_back(flag);
      extra.push_back(value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string EffectiveConfigJson(const CLI::App& cmd) {
  json out = json::object();
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->get_lnames().empty()) continue;
    const std::string name = opt->get_lnames()[0];
    if (name == "help" || name == "show" || name == "config") continue;
    const std::string key = ConfigKey(name);
    if (opt->count() == 0 && opt->get_default_str().empty()) {
      out[key] = IsFlag(opt) ? json(false) : json(nullptr);
      continue;
    }
    std::vector<std::string> values = opt->count() ? opt->results() : std::vector<std::string>{opt->get_default_str()};
    if (IsFlag(opt)) {
      out[key] = opt->count() > 0;
    } else if (IsList(opt)) {
      out[key] = values;
    } else {
      std::string v = values.empty() ? "" : values.back();
      if (IsSecret(key) && !v.empty()) v = "****";
      if (key == "source") v = http::RedactUrl(v);
      out[key] = v;
    }
  }
  return out.dump(2);
}

}  // namespace fhirlake::cli
