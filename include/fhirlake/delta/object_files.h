// Parquet files in an object store: the parquet module's OutputSink over the store's streaming
// writer (the object appears whole when the sink closes; memory bounded by one upload part),
// and its InputSource over ranged reads (a reader fetches the footer, then only the column
// chunks it reads). This is how data files and checkpoints reach S3 without a path.
#pragma once

#include <memory>
#include <string>

#include "fhirlake/parquet/byte_io.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::delta {

// A sink that writes the object `key` of `store`. `store` must outlive the sink.
[[nodiscard]] Result<std::unique_ptr<parquet::OutputSink>> OpenObjectSink(store::ObjectStore& store, std::string key);

// A source reading the object `key` of `store` by ranged reads. `store` must outlive it.
std::unique_ptr<parquet::InputSource> OpenObjectSource(store::ObjectStore& store, std::string key);

}  // namespace fhirlake::delta
