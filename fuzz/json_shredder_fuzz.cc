// A resource line as a source sends it, shredded into a Patient table's columns. Besides not
// crashing, a line the shredder accepts must be JSON to a strict parser (nlohmann's), since
// the line is kept as the row's `_json`; JSON has no limit on numbers, so a number too large
// for a double (nlohmann's error 406) is not held against the line. The load's first pass
// must read the identity of such a line (ScanIdentity, from its front) as nlohmann reads it.
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/line_identity.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/parquet/file_writer.h"

namespace {

class DiscardSink : public fhirlake::parquet::OutputSink {
 public:
  fhirlake::Status Append(std::string_view) override { return fhirlake::Status::Ok(); }
  fhirlake::Status Close() override { return fhirlake::Status::Ok(); }
  std::string name() const override { return "discarded"; }
};

// nlohmann's SAX events, all taken; only the error matters.
struct Grammar : nlohmann::json_sax<nlohmann::json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = e.id;
    return false;
  }
  int error = 0;
};

bool IsJson(const std::string& text) {
  Grammar grammar;
  nlohmann::json::sax_parse(text, &grammar);
  return grammar.error == 0 || grammar.error == 406;
}

struct Shredding {
  Shredding()
      : schema(fhirlake::load::BuildTableSchema("Patient")),
        writer(std::move(fhirlake::parquet::FileWriter::Open(std::make_unique<DiscardSink>(), schema).value())),
        shredder(schema, *writer, {"_json"}) {}
  fhirlake::parquet::Schema schema;
  std::unique_ptr<fhirlake::parquet::FileWriter> writer;
  fhirlake::load::JsonShredder shredder;
};

// A front scan that takes the line reads what a full parse reads.
void CheckIdentity(const std::string& line, std::string_view padded) {
  const auto scanned = fhirlake::load::ScanIdentity(padded);
  if (!scanned) return;
  const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
  if (doc.is_discarded()) return;  // a number too large for nlohmann (see IsJson)
  auto string_at = [](const nlohmann::json& o, const char* key) {
    return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
  };
  if (!doc.contains("id") || !doc["id"].is_string()) std::abort();
  if (scanned->id != doc["id"].get<std::string>()) std::abort();
  if (scanned->resource_type != string_at(doc, "resourceType")) std::abort();
  if (scanned->last_updated != string_at(doc.contains("meta") ? doc["meta"] : nlohmann::json(), "lastUpdated")) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Shredding* s = new Shredding();
  const std::string line(reinterpret_cast<const char*>(data), size);
  simdjson::padded_string padded(line);
  if (!s->shredder.ShredRow(std::string_view(padded.data(), padded.size())).ok()) return 0;
  if (!IsJson(line)) std::abort();  // accepted, but `_json` would not be JSON
  CheckIdentity(line, std::string_view(padded.data(), padded.size()));
  s->writer->column(s->schema.leaves().size() - 1).AddBytes(0, line);
  if (!s->writer->EndRow().ok()) std::abort();
  return 0;
}
