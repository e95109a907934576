// CSV and NDJSON row sinks.
#include <string>

#include "src/view/row_sinks.h"

namespace fhirlake::view {

namespace {

class TextSink : public RowSink {
 public:
  TextSink(std::FILE* file, bool owned, const std::vector<ViewColumn>& columns)
      : file_(file), owned_(owned), columns_(columns) {}
  ~TextSink() override {
    if (owned_ && file_) std::fclose(file_);
  }

  Status Finish() override {
    if (!file_) return Status::Ok();
    bool failed = std::fflush(file_) != 0 || std::ferror(file_);
    if (owned_) failed = std::fclose(file_) != 0 || failed;
    file_ = nullptr;
    if (failed) return IoError("cannot write the view's rows (disk full?)");
    return Status::Ok();
  }

 protected:
  Status Put(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size())
      return IoError("cannot write the view's rows (disk full?)");
    return Status::Ok();
  }

  std::FILE* file_;
  bool owned_;
  std::vector<ViewColumn> columns_;
  std::string line_;
};

void CsvField(const std::string& text, std::string& out) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) {
    out += text;
    return;
  }
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

class CsvSink : public TextSink {
 public:
  using TextSink::TextSink;

  Status Write(const Row& row) override {
    if (!header_written_) FHIRLAKE_RETURN_IF_ERROR(WriteHeader());
    line_.clear();
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) line_.push_back(',');
      const Cell& cell = row[i];
      if (cell.is_null()) continue;
      CsvField(cell.is_string() ? cell.get_ref<const std::string&>() : cell.dump(), line_);
    }
    line_.push_back('\n');
    return Put(line_);
  }

  Status Finish() override {
    if (!header_written_ && file_) FHIRLAKE_RETURN_IF_ERROR(WriteHeader());
    return TextSink::Finish();
  }

 private:
  Status WriteHeader() {
    header_written_ = true;
    line_.clear();
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i) line_.push_back(',');
      CsvField(columns_[i].name, line_);
    }
    line_.push_back('\n');
    return Put(line_);
  }

  bool header_written_ = false;
};

class NdjsonSink : public TextSink {
 public:
  using TextSink::TextSink;

  Status Write(const Row& row) override {
    nlohmann::json object = nlohmann::json::object();
    for (size_t i = 0; i < row.size(); ++i) object[columns_[i].name] = row[i];
    line_ = object.dump();
    line_.push_back('\n');
    return Put(line_);
  }
};

}  // namespace

std::unique_ptr<RowSink> MakeCsvSink(std::FILE* file, bool owned, const std::vector<ViewColumn>& columns) {
  return std::make_unique<CsvSink>(file, owned, columns);
}

std::unique_ptr<RowSink> MakeNdjsonSink(std::FILE* file, bool owned, const std::vector<ViewColumn>& columns) {
  return std::make_unique<NdjsonSink>(file, owned, columns);
}

}  // namespace fhirlake::view
