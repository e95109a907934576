#include "fhirlake/bulk/export_log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/http/url.h"

namespace fhirlake::bulk {

ExportLog::ExportLog(const std::filesystem::path& path) : file_(std::fopen(path.c_str(), "a")) {}

void ExportLog::Event(const std::string& event_id, const std::string& detail_json) {
  if (!file_) return;
  nlohmann::json row = {{"exportId", export_id_},
                        {"timestamp", fhir::FormatInstant(fhir::NowMicros())},
                        {"eventId", event_id},
                        {"eventDetail", nlohmann::json::parse(detail_json, nullptr, false)}};
  if (event_id == "kickoff") {
    row["_client"] = "fhirlake";
    row["_clientVersion"] = "0.1.0";
  }
  std::string line = row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), file_.get());
  std::fflush(file_.get());
}

std::string ExportLog::HeadersJson(const http::Headers& headers) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : headers.items()) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "authorization" || lower == "set-cookie" || lower == "cookie" ||
        lower == "proxy-authorization" || lower.find("token") != std::string::npos) {
      continue;
    }
    // A URL (the status URL in Content-Location) may carry credentials of its own.
    out[lower] = lower == "content-location" || lower == "location" ? http::RedactUrl(value) : value;
  }
  return out.dump();
}

}  // namespace fhirlake::bulk
