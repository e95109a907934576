#include "fhirlake/view/view_runner.h"

#include "fhirlake/view/json_tree.h"

namespace fhirlake::view {

Result<ViewRunStats> RunView(const ViewDefinition& view, const ResourceSource& source, RowSink& sink) {
  ViewRunStats stats;
  JsonTree tree;
  std::vector<Row> rows;
  FHIRLAKE_RETURN_IF_ERROR(source([&](std::string_view json) -> Status {
    ++stats.resources;
    FHIRLAKE_RETURN_IF_ERROR(tree.Parse(json));
    rows.clear();
    FHIRLAKE_RETURN_IF_ERROR(view.Evaluate(tree, rows));
    for (const Row& row : rows) FHIRLAKE_RETURN_IF_ERROR(sink.Write(row));
    stats.rows += rows.size();
    return Status::Ok();
  }));
  FHIRLAKE_RETURN_IF_ERROR(sink.Finish());
  return stats;
}

}  // namespace fhirlake::view
