// The completion manifest of a bulk export (Bulk Data IG v2, "Response - Complete Status"),
// shared by the client (parsing what a server sends) and the server (writing its own).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::bulk {

struct ManifestFile {
  std::string type;                 // resource type in the file
  std::string url;                  // absolute
  std::optional<uint64_t> count;    // resources in the file, when the server says
};

struct Manifest {
  std::string transaction_time;     // FHIR instant: data up to here is in the export
  std::string request;              // the kick-off URL
  bool requires_access_token = false;
  std::vector<ManifestFile> output;
  std::vector<ManifestFile> deleted;
  std::vector<ManifestFile> error;
  std::optional<std::string> next;  // link[relation=next]: the next page (allowPartialManifests)
  std::string extension_json;       // `extension`, kept verbatim ("" when absent)

  // Parses and validates a manifest. Relative file URLs are resolved against `source_url`
  // (the status URL it came from). kInvalidArgument names the offending field, e.g.
  // "output[2].url is missing".
  static Result<Manifest> Parse(std::string_view json, std::string_view source_url);

  std::string ToJson() const;

  // Appends the files of a later page; `next` becomes the page's `next`.
  void AppendPage(const Manifest& page);
};

}  // namespace fhirlake::bulk
