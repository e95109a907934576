#include "fhirlake/handoff/config.h"

#include <cctype>
#include <cstdlib>
#include <memory>

#include "fhirlake/auth/smart_client.h"
#include "fhirlake/http/url.h"

namespace fhirlake::handoff {
namespace {

std::string Get(const SettingLookup& lookup, const std::string& name) {
  auto v = lookup(name);
  return v ? *v : "";
}

Result<std::string> Required(const SettingLookup& lookup, const std::string& name) {
  std::string v = Get(lookup, name);
  if (v.empty()) {
    return InvalidArgument("configuration value not set: " + name + " (environment variable " + name +
                           ", FHIRLAKE_" + name + ", or '" + CamelCaseName(name) + "' in the JSON file)");
  }
  return v;
}

Result<double> Number(const SettingLookup& lookup, const std::string& name, double fallback, bool integer) {
  std::string v = Get(lookup, name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || d < 0 || (integer && d != static_cast<long long>(d))) {
    return InvalidArgument(name + " must be a non-negative " + (integer ? "integer" : "number") + ", not '" + v + "'");
  }
  return d;
}

Result<RetryConfig> Retry(const SettingLookup& lookup, const std::string& op) {
  RetryConfig r;
  auto times = Number(lookup, op + "_RETRY_TIMES", r.times, true);
  if (!times.ok()) return times.status();
  auto wait = Number(lookup, op + "_RETRY_WAIT", r.wait_seconds, false);
  if (!wait.ok()) return wait.status();
  auto back_off = Number(lookup, op + "_RETRY_BACK_OFF", r.back_off, false);
  if (!back_off.ok()) return back_off.status();
  // pathling-import reads 0 as "not set" (its defaults apply); so does this.
  if (*times > 0) r.times = static_cast<int>(*times);
  if (*wait > 0) r.wait_seconds = *wait;
  if (*back_off > 0) r.back_off = *back_off;
  return r;
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// One side: endpoint, and client credentials when it authenticates.
Result<Side> MakeSide(const SettingLookup& lookup, const std::string& prefix, bool auth_required_by_flag,
                      const std::string& default_scope, const http::ClientOptions& http) {
  Side side;
  auto endpoint = Required(lookup, prefix + "_ENDPOINT");
  if (!endpoint.ok()) return endpoint.status();
  side.endpoint = TrimSlash(*endpoint);
  auto url = http::Url::Parse(side.endpoint);
  if (!url.ok()) return url.status().WithContext(prefix + "_ENDPOINT");
  side.http = http;
  side.http.token_origin = url->Origin();
  const std::string client_id = Get(lookup, prefix + "_CLIENT_ID");
  if (!auth_required_by_flag && client_id.empty()) return side;
  auto id = Required(lookup, prefix + "_CLIENT_ID");
  if (!id.ok()) return id.status();
  auto secret = Required(lookup, prefix + "_CLIENT_SECRET");
  if (!secret.ok()) return secret.status();
  auth::ClientCredentials creds;
  creds.client_id = *id;
  creds.client_secret = *secret;
  std::string scopes = Get(lookup, prefix + "_SCOPES");
  creds.scope = scopes.empty() ? default_scope : scopes;
  side.http.tokens = std::make_shared<auth::SmartTokenSource>(std::move(creds), side.endpoint, http);
  return side;
}

}  // namespace

const std::vector<std::string>& SettingNames() {
  static const std::vector<std::string> names = {
      "SOURCE_ENDPOINT", "TYPES", "SINCE", "SOURCE_AUTHENTICATION_ENABLED", "SOURCE_CLIENT_ID",
      "SOURCE_CLIENT_SECRET", "SOURCE_SCOPES", "STAGING_URL", "TARGET_ENDPOINT", "TARGET_CLIENT_ID",
      "TARGET_CLIENT_SECRET", "TARGET_SCOPES", "EXPORT_RETRY_TIMES", "EXPORT_RETRY_WAIT", "EXPORT_RETRY_BACK_OFF",
      "TRANSFER_RETRY_TIMES", "TRANSFER_RETRY_WAIT", "TRANSFER_RETRY_BACK_OFF", "IMPORT_RETRY_TIMES",
      "IMPORT_RETRY_WAIT", "IMPORT_RETRY_BACK_OFF", "IMPORT_MODE", "SENTRY_DSN", "SENTRY_RELEASE",
      "SENTRY_ENVIRONMENT"};
  return names;
}

bool IsSecretSetting(const std::string& name) {
  return name.ends_with("_SECRET") || name == "SENTRY_DSN";
}

std::string CamelCaseName(const std::string& constant_name) {
  std::string out;
  bool upper = false;
  for (char c : constant_name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += upper && !out.empty() ? static_cast<char>(std::toupper(static_cast<unsigned char>(lower))) : lower;
    upper = false;
  }
  return out;
}

Result<HandoffConfig> ConfigFromSettings(const SettingLookup& lookup, Needs needs, const http::ClientOptions& http) {
  HandoffConfig c;
  const bool source = needs == Needs::kExport || needs == Needs::kTransfer || needs == Needs::kAll;
  const bool target = needs == Needs::kImport || needs == Needs::kAll;
  const bool staging = needs == Needs::kTransfer || needs == Needs::kAll;
  if (source) {
    std::string enabled = Get(lookup, "SOURCE_AUTHENTICATION_ENABLED");
    for (auto& ch : enabled) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!enabled.empty() && enabled != "true" && enabled != "false") {
      return InvalidArgument("SOURCE_AUTHENTICATION_ENABLED must be true or false, not '" + enabled + "'");
    }
    // Without the switch, a SOURCE_CLIENT_ID alone turns authentication on.
    auto side = MakeSide(lookup, "SOURCE", enabled == "true", "system/*.read", http);
    if (!side.ok()) return side.status();
    if (enabled == "false") side->http.tokens.reset();
    c.source = std::move(side.value());
    std::string types = Get(lookup, "TYPES");
    size_t start = 0;
    while (start < types.size()) {
      size_t comma = types.find(',', start);
      if (comma == std::string::npos) comma = types.size();
      std::string t = types.substr(start, comma - start);
      while (!t.empty() && t.front() == ' ') t.erase(t.begin());
      while (!t.empty() && t.back() == ' ') t.pop_back();
      if (!t.empty()) c.types.push_back(t);
      start = comma + 1;
    }
    if (std::string since = Get(lookup, "SINCE"); !since.empty()) c.since = since;
  }
  if (staging) {
    auto url = Required(lookup, "STAGING_URL");
    if (!url.ok()) return url.status();
    c.staging_url = TrimSlash(*url);
  }
  if (target) {
    auto side = MakeSide(lookup, "TARGET", false, "user/*.write", http);
    if (!side.ok()) return side.status();
    c.target = std::move(side.value());
  }
  if (std::string mode = Get(lookup, "IMPORT_MODE"); !mode.empty()) {
    if (mode != "merge" && mode != "overwrite") return InvalidArgument("IMPORT_MODE must be merge or overwrite, not '" + mode + "'");
    c.import_mode = mode;
  }
  auto export_retry = Retry(lookup, "EXPORT");
  if (!export_retry.ok()) return export_retry.status();
  auto transfer_retry = Retry(lookup, "TRANSFER");
  if (!transfer_retry.ok()) return transfer_retry.status();
  auto import_retry = Retry(lookup, "IMPORT");
  if (!import_retry.ok()) return import_retry.status();
  c.export_retry = *export_retry;
  c.transfer_retry = *transfer_retry;
  c.import_retry = *import_retry;
  return c;
}

}  // namespace fhirlake::handoff
