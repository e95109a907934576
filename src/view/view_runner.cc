#include "fhirlake/view/view_runner.h"

#include "fhirlake/view/json_tree.h"
#include "fhirlake/view/row_sink.h"

namespace fhirlake::view {

Result<ViewRunStats> RunView(const ViewDefinition& view, const ResourceSource& source, RowSink& sink,
                             uint64_t row_limit) {
  ViewRunStats stats;
  JsonTree tree;
  std::vector<Row> rows;
  bool limit_reached = false;
  Status read = source([&](std::string_view json) -> Status {
    ++stats.resources;
    FHIRLAKE_RETURN_IF_ERROR(tree.Parse(json));
    rows.clear();
    FHIRLAKE_RETURN_IF_ERROR(view.Evaluate(tree, rows));
    for (const Row& row : rows) {
      FHIRLAKE_RETURN_IF_ERROR(sink.Write(row));
      if (++stats.rows == row_limit) {
        limit_reached = true;  // ends the source's walk; not an error
        return Cancelled("row limit reached");
      }
    }
    return Status::Ok();
  });
  if (!read.ok() && !limit_reached) return read;
  FHIRLAKE_RETURN_IF_ERROR(sink.Finish());
  return stats;
}

}  // namespace fhirlake::view
