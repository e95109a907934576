// ViewDefinition (SQL on FHIR v2): a flat table over one resource type, its columns chosen by
// FHIRPath. Compile() checks the definition and parses every path once; Evaluate() turns one
// resource into its rows. Rows of one resource depend on that resource alone, which is what
// lets a materialised view be refreshed resource by resource.
//
// Semantics (SQL on FHIR v2, "Processing algorithm"): a select's rows are the cartesian product
// of its own columns, each nested select and its unionAll (the concatenation of the branches'
// rows); forEach / forEachOrNull / repeat run the select once per item of their path
// (forEachOrNull: one row of nulls when there is none); `where` keeps a resource only when
// every path is true.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fhirlake/status.h"
#include "fhirlake/view/fhirpath.h"
#include "fhirlake/view/json_tree.h"

namespace fhirlake::view {

struct ViewColumn {
  std::string name;
  std::string type;  // the FHIR type the view declares (`string`, `integer`, `dateTime`…); may be empty
  bool collection = false;
  std::string path;
};

// One cell: JSON null, a scalar, or (collection columns, complex values) an array or object.
using Cell = nlohmann::json;
using Row = std::vector<Cell>;  // aligned with ViewDefinition::columns()

class ViewDefinition {
 public:
  // Checks `view` and parses its paths. An invalid view (no resource, a select that is not a
  // list, a path that does not parse, an undefined constant, unionAll branches whose columns
  // differ, duplicate column names…) is kInvalidArgument naming what is wrong.
  static Result<ViewDefinition> Compile(const nlohmann::json& view);

  ViewDefinition(ViewDefinition&&) noexcept;
  ViewDefinition& operator=(ViewDefinition&&) noexcept;
  ~ViewDefinition();

  const std::string& name() const { return name_; }          // may be empty
  const std::string& resource() const { return resource_; }  // e.g. "Patient"
  const std::vector<ViewColumn>& columns() const { return columns_; }

  // Appends the rows of the resource held by `tree` (its root). A resource of another type
  // gives none. Errors (a column with several values that is not a collection, a where path
  // that is not boolean) are kInvalidArgument.
  Status Evaluate(const JsonTree& tree, std::vector<Row>& rows) const;

  struct Selection;

 private:
  ViewDefinition();
  std::string name_;
  std::string resource_;
  std::vector<ViewColumn> columns_;
  std::map<std::string, Collection, std::less<>> constants_;
  std::vector<ParsedPath> where_;
  std::unique_ptr<Selection> root_;
};

}  // namespace fhirlake::view
