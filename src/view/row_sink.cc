#include "fhirlake/view/row_sink.h"

#include <cerrno>
#include <cstring>

#include "src/view/row_sinks.h"

namespace fhirlake::view {

Result<RowFormat> ParseRowFormat(const std::string& name) {
  if (name == "csv") return RowFormat::kCsv;
  if (name == "ndjson") return RowFormat::kNdjson;
  if (name == "parquet") return RowFormat::kParquet;
  return InvalidArgument("unknown output format '" + name + "': use csv, ndjson or parquet");
}

Result<std::unique_ptr<RowSink>> OpenRowSink(RowFormat format, const std::filesystem::path& path,
                                             const std::vector<ViewColumn>& columns) {
  if (format == RowFormat::kParquet) {
    if (path.empty()) return InvalidArgument("Parquet output needs a file: give --out PATH");
    return MakeParquetSink(path, columns);
  }
  std::FILE* file = stdout;
  bool owned = false;
  if (!path.empty()) {
    file = std::fopen(path.c_str(), "wb");
    if (!file) return IoError("cannot create " + path.string() + ": " + std::strerror(errno));
    owned = true;
  }
  if (format == RowFormat::kCsv) return MakeCsvSink(file, owned, columns);
  return MakeNdjsonSink(file, owned, columns);
}

}  // namespace fhirlake::view
