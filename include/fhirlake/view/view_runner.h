// Runs a compiled ViewDefinition over a stream of resources into a RowSink: each resource is
// parsed once into a reused JsonTree, its rows evaluated and written, then dropped, so memory
// stays bounded by one resource's rows whatever the input size.
#pragma once

#include <cstdint>
#include <functional>

#include "fhirlake/status.h"
#include "fhirlake/view/resource_source.h"
#include "fhirlake/view/row_sink.h"
#include "fhirlake/view/view_definition.h"

namespace fhirlake::view {

struct ViewRunStats {
  uint64_t resources = 0;  // resources read (of every type the source gave)
  uint64_t rows = 0;       // rows written
};

// A source calls its callback once per resource JSON (ForEachNdjsonResource,
// ForEachWarehouseResource bound to their arguments).
using ResourceSource = std::function<Status(const ResourceCallback&)>;

// Evaluates `view` over every resource of `source` and writes the rows to `sink`, then
// finishes the sink. A resource that is not JSON, or an evaluation error, stops the run (the
// sink is then not finished). With a `row_limit` above 0 the run stops reading once it has
// written that many rows (a resource's rows past the limit are dropped).
Result<ViewRunStats> RunView(const ViewDefinition& view, const ResourceSource& source, RowSink& sink,
                             uint64_t row_limit = 0);

}  // namespace fhirlake::view
