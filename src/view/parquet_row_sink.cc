// A Parquet file of a view's rows: one optional top-level leaf per column, typed from the
// view's declared `type`.
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_writer.h"
#include "src/view/row_sinks.h"

namespace fhirlake::view {

namespace {

enum class Storage { kBoolean, kInt64, kDecimal, kString };

Storage StorageOf(const ViewColumn& column) {
  if (column.collection) return Storage::kString;
  const std::string& t = column.type;
  if (t == "boolean") return Storage::kBoolean;
  if (t == "integer" || t == "positiveInt" || t == "unsignedInt" || t == "integer64") return Storage::kInt64;
  if (t == "decimal") return Storage::kDecimal;
  return Storage::kString;
}

// Parquet DECIMAL in FIXED_LEN_BYTE_ARRAY(16): the unscaled value, big-endian two's complement.
std::string_view DecimalBytes(__int128 unscaled, char (&out)[16]) {
  const auto bits = static_cast<unsigned __int128>(unscaled);
  for (int b = 0; b < 16; ++b) out[b] = static_cast<char>(bits >> (120 - 8 * b));
  return std::string_view(out, 16);
}

class ParquetSink : public RowSink {
 public:
  ParquetSink(std::vector<Storage> storage, std::unique_ptr<parquet::Schema> schema)
      : storage_(std::move(storage)), schema_(std::move(schema)) {}

  Status Open(std::unique_ptr<parquet::OutputSink> sink) {
    auto writer = parquet::FileWriter::Open(std::move(sink), *schema_);
    if (!writer.ok()) return writer.status();
    writer_ = std::move(writer).value();
    return Status::Ok();
  }

  Status Write(const Row& row) override {
    for (size_t i = 0; i < row.size(); ++i) {
      parquet::ColumnWriter& w = writer_->column(i);
      const Cell& cell = row[i];
      if (cell.is_null()) {
        w.AddNull(0, 0);
        continue;
      }
      switch (storage_[i]) {
        case Storage::kBoolean:
          if (cell.is_boolean()) w.AddBool(0, cell.get<bool>());
          else w.AddNull(0, 0);
          break;
        case Storage::kInt64:
          if (cell.is_number_integer()) w.AddInt64(0, cell.get<int64_t>());
          else if (cell.is_number()) w.AddInt64(0, static_cast<int64_t>(cell.get<double>()));
          else w.AddNull(0, 0);
          break;
        case Storage::kDecimal: {
          // The cell's shortest round-trip text is the decimal as written for values of up to
          // 15 significant digits; the same DECIMAL(38,18) as the warehouse's FHIR decimals.
          __int128 unscaled = 0;
          char bytes[16];
          if (cell.is_number() &&
              load::ParseDecimal(cell.dump(), load::kDecimalPrecision, load::kDecimalScale, unscaled)) {
            w.AddFixed(0, DecimalBytes(unscaled, bytes));
          } else {
            w.AddNull(0, 0);
          }
          break;
        }
        case Storage::kString:
          if (cell.is_string()) w.AddBytes(0, cell.get_ref<const std::string&>());
          else w.AddBytes(0, cell.dump());
          break;
      }
    }
    return writer_->EndRow();
  }

  Status Finish() override { return writer_->Close(); }
  uint64_t rows() const { return writer_ ? writer_->rows() : 0; }

 private:
  std::vector<Storage> storage_;
  std::unique_ptr<parquet::Schema> schema_;
  std::unique_ptr<parquet::FileWriter> writer_;
};

}  // namespace

std::unique_ptr<parquet::Schema> ViewParquetSchema(const std::vector<ViewColumn>& columns) {
  std::vector<std::unique_ptr<parquet::SchemaNode>> leaves;
  for (const ViewColumn& c : columns) {
    switch (StorageOf(c)) {
      case Storage::kBoolean: leaves.push_back(parquet::Leaf(c.name, parquet::PhysicalType::kBoolean)); break;
      case Storage::kInt64: leaves.push_back(parquet::Leaf(c.name, parquet::PhysicalType::kInt64)); break;
      case Storage::kDecimal:
        leaves.push_back(parquet::Decimal(c.name, load::kDecimalPrecision, load::kDecimalScale));
        break;
      case Storage::kString:
        leaves.push_back(parquet::Leaf(c.name, parquet::PhysicalType::kByteArray, parquet::LogicalType::kString));
        break;
    }
  }
  return std::make_unique<parquet::Schema>(std::move(leaves));
}

Result<std::unique_ptr<RowSink>> MakeParquetSink(std::unique_ptr<parquet::OutputSink> output,
                                                 const std::vector<ViewColumn>& columns) {
  std::vector<Storage> storage;
  for (const ViewColumn& c : columns) storage.push_back(StorageOf(c));
  auto sink = std::make_unique<ParquetSink>(std::move(storage), ViewParquetSchema(columns));
  FHIRLAKE_RETURN_IF_ERROR(sink->Open(std::move(output)));
  return std::unique_ptr<RowSink>(std::move(sink));
}

Result<std::unique_ptr<RowSink>> MakeParquetSink(const std::filesystem::path& path,
                                                 const std::vector<ViewColumn>& columns) {
  auto output = parquet::OpenFileSink(path);
  if (!output.ok()) return output.status();
  return MakeParquetSink(std::move(output).value(), columns);
}

}  // namespace fhirlake::view
