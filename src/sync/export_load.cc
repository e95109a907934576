#include "fhirlake/sync/export_load.h"

#include <utility>

#include "fhirlake/fhir/date_time.h"

namespace fhirlake::sync {

ExportLoad::ExportLoad(ExportLoadOptions options) : options_(std::move(options)) {}

Result<bulk::ExportSummary> ExportLoad::Export(bulk::ExportObserver* observer) {
  bulk::ExportClient exporter(options_.export_options);
  auto exported = exporter.Run(observer);
  if (!exported.ok()) return exported.status();
  if (!exported->complete()) {
    if (exported->files_gone) {  // the source has forgotten the export (its files expired)
      return Status(StatusCode::kNotFound,
                    std::to_string(exported->failures.size()) + " of " + std::to_string(exported->files) +
                        " files are gone from the source (first: " + exported->failures[0] + ")");
    }
    return NetworkError(std::to_string(exported->failures.size()) + " of " + std::to_string(exported->files) +
                        " files could not be downloaded (first: " + exported->failures[0] + ")");
  }
  return exported;
}

Result<load::LoadSummary> ExportLoad::Load(const bulk::ExportSummary& exported) const {
  load::LoadOptions lo = options_.load_options;
  lo.export_dir = options_.export_options.out_dir;
  if (auto tt = fhir::ParseFhirTime(exported.transaction_time)) lo.txn = std::make_pair(options_.txn_app_id, *tt);
  return load::Load(lo);
}

}  // namespace fhirlake::sync
