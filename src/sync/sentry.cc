#include "fhirlake/sync/sentry.h"

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/http/url.h"
#include "fhirlake/store/names.h"

namespace fhirlake::sync {

using nlohmann::json;

std::string SentryEventJson(const SentryEvent& e) {
  const std::string source = http::RedactUrl(e.source);
  json event = {{"event_id", store::RandomHex(16)},
                {"timestamp", fhir::FormatInstant(fhir::NowMicros())},
                {"platform", "native"},
                {"level", "error"},
                {"logger", "fhirlake.sync"},
                {"message", {{"formatted", e.message}}},
                {"exception", {{"values", {{{"type", "SyncFailed"}, {"value", e.message}}}}}},
                {"tags", {{"step", e.step}, {"source", source}}},
                {"extra", {{"source", source}}}};
  if (!e.release.empty()) event["release"] = e.release;
  return event.dump();
}

Status ReportToSentry(const std::string& dsn, const SentryEvent& e) {
  // https://PUBLIC_KEY@HOST[:PORT][/PATH]/PROJECT_ID
  size_t scheme = dsn.find("://");
  size_t at = dsn.find('@');
  size_t slash = dsn.rfind('/');
  if (scheme == std::string::npos || at == std::string::npos || slash == std::string::npos || slash < at) {
    return InvalidArgument("SENTRY_DSN is not a Sentry DSN (https://KEY@HOST/PROJECT)");
  }
  std::string key = dsn.substr(scheme + 3, at - scheme - 3);
  if (size_t colon = key.find(':'); colon != std::string::npos) key = key.substr(0, colon);  // legacy KEY:SECRET
  const std::string project = dsn.substr(slash + 1);
  const std::string url = dsn.substr(0, scheme + 3) + dsn.substr(at + 1, slash - at - 1) + "/api/" + project + "/store/";
  http::ClientOptions options;
  options.retry.max_attempts = 1;
  options.connect_timeout = http::Millis(5000);
  options.request_timeout = http::Millis(10000);
  http::Client client(options);
  http::Request request;
  request.method = "POST";
  request.url = url;
  request.send_token = false;
  request.headers.Add("Content-Type", "application/json");
  request.headers.Add("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=fhirlake/0.1.0, sentry_key=" + key);
  request.body = SentryEventJson(e);
  auto response = client.Send(request);
  if (!response.ok()) return response.status();
  if (response->status / 100 != 2) return ServerError("Sentry answered " + std::to_string(response->status));
  return Status::Ok();
}

}  // namespace fhirlake::sync
