// Independent Parquet readers besides DuckDB: arrow-rs (parquet-wasm) and hyparquet, run by
// node from build/parquet-readers (installed by scripts/setup). They read every row of every
// column, so a file they accept is readable by engines built on either.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace fhirlake::testing {

// Reads every *.parquet file under `root` with both readers (in a Delta table, the files its
// commits added and its checkpoints: not a crashed writer's uncommitted leftovers), and checks
// every Delta table under `root`: its protocol is consistent (reader/writer versions against
// the features listed, deletion vectors only with the deletionVectors feature at 3/7),
// metaData.format.provider is "parquet", and metaData.schemaString parses and matches the
// columns (names and types) of every file a commit added. Returns one line per file that a
// reader failed on or whose row counts disagree with its footer and per problem of a table
// (empty: all good), or a single line saying why the readers could not run.
std::vector<std::string> ParquetReaderFailures(const std::filesystem::path& root);

// How many files ParquetReaderFailures read under `root` in its last call (for tests that
// check the readers ran at all).
size_t ParquetFilesReadLastCall();

}  // namespace fhirlake::testing
