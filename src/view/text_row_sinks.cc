// CSV and NDJSON row sinks.
#include <string>

#include "src/view/row_sinks.h"

namespace fhirlake::view {

namespace {

class TextSink : public RowSink {
 public:
  TextSink(TextOutput output, std::function<Status()> finish, const std::vector<ViewColumn>& columns)
      : output_(std::move(output)), finish_(std::move(finish)), columns_(columns) {}

  Status Finish() override {
    if (finished_) return Status::Ok();
    finished_ = true;
    return finish_ ? finish_() : Status::Ok();
  }

 protected:
  Status Put(const std::string& line) {
    if (!output_(line)) return IoError("cannot write the view's rows (disk full, or the reader went away)");
    return Status::Ok();
  }

  TextOutput output_;
  std::function<Status()> finish_;
  std::vector<ViewColumn> columns_;
  std::string line_;
  bool finished_ = false;
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
  CsvSink(TextOutput output, std::function<Status()> finish, const std::vector<ViewColumn>& columns, bool header)
      : TextSink(std::move(output), std::move(finish), columns), header_written_(!header) {}

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
    if (!header_written_ && !finished_) FHIRLAKE_RETURN_IF_ERROR(WriteHeader());
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

std::unique_ptr<RowSink> MakeCsvSink(TextOutput output, std::function<Status()> finish,
                                     const std::vector<ViewColumn>& columns, bool header) {
  return std::make_unique<CsvSink>(std::move(output), std::move(finish), columns, header);
}

std::unique_ptr<RowSink> MakeNdjsonSink(TextOutput output, std::function<Status()> finish,
                                        const std::vector<ViewColumn>& columns) {
  return std::make_unique<NdjsonSink>(std::move(output), std::move(finish), columns);
}

}  // namespace fhirlake::view
