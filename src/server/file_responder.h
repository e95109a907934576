// server::FileResponder: streams a file on disk or an object of a store as an HTTP answer
// (NDJSON), for the bulk files of exports and the error files of imports. Content-Length and
// Range come from httplib; the file is read in chunks as the client takes them (never whole),
// optionally paced, gzip-compressed, cut short or dropped midway (the fault layer's file faults).
#pragma once

#include <httplib.h>

#include <cstdint>
#include <filesystem>
#include <optional>

#include "fhirlake/status.h"
#include "fhirlake/store/object_store.h"

namespace fhirlake::server {

struct FileResponse {
  double rate = 0;               // bytes per second; 0: as fast as the client takes them
  bool gzip = false;             // compress (the caller checked Accept-Encoding, no Range)
  std::optional<double> truncate;  // send only this fraction, with a matching Content-Length (no Range)
  std::optional<double> reset;     // drop the connection after this fraction
  bool stored_gzip = false;  // answer the file gzip-compressed (in memory) as the representation itself
};

class FileResponder {
 public:
  // Answers `req` with the file at `path`: 416 for a range that starts past its end, else 200
  // (or 206) streamed. kIoError when the file cannot be opened; nothing is answered then.
  static Status Send(const httplib::Request& req, httplib::Response& res, const std::filesystem::path& path,
                     const FileResponse& how);
  // The same for the object `key` of `store` (which must outlive the answer), read by ranged
  // GETs as the client takes the bytes; no faults. kNotFound or the store's error when its size
  // cannot be read; nothing is answered then.
  static Status SendObject(const httplib::Request& req, httplib::Response& res, store::ObjectStore& store,
                           const std::string& key);
};

}  // namespace fhirlake::server
