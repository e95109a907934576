// OUT_DIR/log.ndjson: one JSON event per line, in the layout of the SMART bulk-data-client's
// export log (exportId, timestamp, eventId, eventDetail), so tools that read those logs read
// ours. Secrets never enter it: request parameters drop `patient`, response headers drop
// Authorization, Set-Cookie and the like, URLs are redacted.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "fhirlake/http/client.h"

namespace fhirlake::bulk {

class ExportLog {
 public:
  // Appends to `path` (created if missing). A log that cannot be opened logs nothing: the
  // export itself does not depend on it.
  explicit ExportLog(const std::filesystem::path& path);

  void set_export_id(std::string id) { export_id_ = std::move(id); }

  // `detail_json` is a JSON object text.
  void Event(const std::string& event_id, const std::string& detail_json);

  // Response headers as a JSON object, without credential-bearing headers; URLs redacted.
  static std::string HeadersJson(const http::Headers& headers);

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file_;
  std::string export_id_;
};

}  // namespace fhirlake::bulk
