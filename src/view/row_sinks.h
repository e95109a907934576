// The RowSink implementations behind OpenRowSink (row_sink.cc).
#pragma once

#include "fhirlake/parquet/schema.h"
#include "fhirlake/view/row_sink.h"

namespace fhirlake::view {

// Text sinks write through `file`; they close it when `owned` (not stdout).
std::unique_ptr<RowSink> MakeCsvSink(std::FILE* file, bool owned, const std::vector<ViewColumn>& columns);
std::unique_ptr<RowSink> MakeNdjsonSink(std::FILE* file, bool owned, const std::vector<ViewColumn>& columns);
// The Parquet schema of a view's rows (what MakeParquetSink writes).
std::unique_ptr<parquet::Schema> ViewParquetSchema(const std::vector<ViewColumn>& columns);
Result<std::unique_ptr<RowSink>> MakeParquetSink(const std::filesystem::path& path,
                                                 const std::vector<ViewColumn>& columns);

}  // namespace fhirlake::view
