#include "fhirlake/view/row_sink.h"

#include <cerrno>
#include <cstring>

#include "src/view/row_sinks.h"

namespace fhirlake::view {

namespace {

// A text sink's file: closed at Finish, or when the sink is dropped unfinished; standard
// output is only flushed.
struct OutputFile {
  std::FILE* file = nullptr;
  bool owned = false;
  ~OutputFile() {
    if (owned && file) std::fclose(file);
  }
  Status Close() {
    if (!file) return Status::Ok();
    bool failed = std::fflush(file) != 0 || std::ferror(file);
    if (owned) failed = std::fclose(file) != 0 || failed;
    file = nullptr;
    if (failed) return IoError("cannot write the view's rows (disk full?)");
    return Status::Ok();
  }
};

std::unique_ptr<RowSink> MakeTextSink(RowFormat format, TextOutput output, std::function<Status()> finish,
                                      const std::vector<ViewColumn>& columns, bool csv_header) {
  if (format == RowFormat::kCsv) return MakeCsvSink(std::move(output), std::move(finish), columns, csv_header);
  return MakeNdjsonSink(std::move(output), std::move(finish), columns);
}

}  // namespace

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
  auto out = std::make_shared<OutputFile>();
  out->file = stdout;
  if (!path.empty()) {
    out->file = std::fopen(path.c_str(), "wb");
    if (!out->file) return IoError("cannot create " + path.string() + ": " + std::strerror(errno));
    out->owned = true;
  }
  TextOutput output = [out](std::string_view bytes) {
    return out->file && std::fwrite(bytes.data(), 1, bytes.size(), out->file) == bytes.size();
  };
  return MakeTextSink(format, std::move(output), [out] { return out->Close(); }, columns, true);
}

Result<std::unique_ptr<RowSink>> OpenTextRowSink(RowFormat format, TextOutput output,
                                                 const std::vector<ViewColumn>& columns, bool csv_header) {
  if (format == RowFormat::kParquet) return InvalidArgument("a text sink writes CSV or NDJSON, not Parquet");
  return MakeTextSink(format, std::move(output), nullptr, columns, csv_header);
}

}  // namespace fhirlake::view
