// Copying rows from one Parquet file into another of the same columns, a column at a time:
// each kept row's levels and values go from the reader's pages to the writer's columns as they
// are, without being assembled into records and shredded again. A copy-on-write merge keeps the
// rows of a rewritten data file this way.
#pragma once

#include <cstdint>
#include <vector>

#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/status.h"

namespace fhirlake::parquet {

// Whether the columns of `reader` are the leaves of `schema`, in order: the same dotted paths,
// physical types, fixed lengths and levels. Only then does CopyRows apply.
bool SameColumns(const FileReader& reader, const Schema& schema);

// Appends to `writer` the rows of row group `group` of `reader` whose entry in `keep` (one per
// row of the group) is set, in order, and ends them (FileWriter::EndRows); returns how many.
// The row group is read in one piece (FileReader::LoadRowGroup); the columns are copied on the
// writer's threads (FileWriter::parallel) when it has them. The writer's statistics count the
// copied values as if they had been added row by row. REQUIRES: SameColumns(reader, the
// writer's schema).
Result<uint64_t> CopyRows(FileReader& reader, size_t group, const std::vector<uint8_t>& keep, FileWriter& writer);

}  // namespace fhirlake::parquet
