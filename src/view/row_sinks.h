// The RowSink implementations behind OpenRowSink (row_sink.cc).
#pragma once

#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/view/row_sink.h"

namespace fhirlake::view {

// Text sinks write through `output`; `finish` (optional) runs at Finish (flushing, closing a
// file) and its failure is the sink's.
std::unique_ptr<RowSink> MakeCsvSink(TextOutput output, std::function<Status()> finish,
                                     const std::vector<ViewColumn>& columns, bool header);
std::unique_ptr<RowSink> MakeNdjsonSink(TextOutput output, std::function<Status()> finish,
                                        const std::vector<ViewColumn>& columns);
// The Parquet schema of a view's rows (what MakeParquetSink writes).
std::unique_ptr<parquet::Schema> ViewParquetSchema(const std::vector<ViewColumn>& columns);
Result<std::unique_ptr<RowSink>> MakeParquetSink(const std::filesystem::path& path,
                                                 const std::vector<ViewColumn>& columns);
// The same, writing through `output` (a file, or an object in a store).
Result<std::unique_ptr<RowSink>> MakeParquetSink(std::unique_ptr<parquet::OutputSink> output,
                                                 const std::vector<ViewColumn>& columns);

}  // namespace fhirlake::view
