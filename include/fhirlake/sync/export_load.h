// sync::ExportLoad: the one export → load pipeline. `fhirlake sync` (sync::RunSync) and the
// server's ping-and-pull imports (server::ImportJobs) both run it:
//
//   export options → export (or resume) into a directory → completeness check
//   → load into the warehouse with a Delta txn for this export in every commit
//
// What happens around the steps (state files, job records, progress, stop requests between
// the steps) stays with the caller, which calls Export, then Load.
#pragma once

#include <string>

#include "fhirlake/bulk/export_client.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/status.h"

namespace fhirlake::sync {

struct ExportLoadOptions {
  // Source, parameters, client and stop flag; out_dir is the export directory, which resumes
  // an interrupted export of the same request.
  bulk::ExportOptions export_options;
  // Warehouse, save mode, types and the rest; export_dir and txn are set by the pipeline.
  load::LoadOptions load_options;
  // The appId of the Delta txn every commit records; its version is the export's
  // transactionTime (micros), so loading the same export again changes nothing.
  std::string txn_app_id;
};

class ExportLoad {
 public:
  explicit ExportLoad(ExportLoadOptions options);

  // Runs (or resumes) the export. Fails with the export's error, or with kNetwork naming the
  // first file when some file could not be completed (a rerun resumes it). `observer` may be
  // null.
  Result<bulk::ExportSummary> Export(bulk::ExportObserver* observer);

  // Loads `exported` (what Export returned) into the warehouse. A transactionTime that is not
  // a FHIR instant loads without a txn; callers that need the txn check it first.
  Result<load::LoadSummary> Load(const bulk::ExportSummary& exported) const;

 private:
  const ExportLoadOptions options_;
};

}  // namespace fhirlake::sync
