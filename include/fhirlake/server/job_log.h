// JobLog: what `serve` tells operators about its import jobs. One line per lifecycle event of a
// job (accepted, started, phase, maintenance of a table, finished, failed, cancelled), each naming the job id, on
// stderr: readable text when stderr is a terminal, one JSON object per line otherwise (for log
// shippers). FHIRLAKE_LOG_FORMAT=text|json overrides the choice.
//
// Never credentials: URLs lose their userinfo and credential-like query values (RedactUrl),
// and anything after "Bearer " or "Basic " is masked, in every value, whatever its origin.
#pragma once

#include <string>
#include <string_view>

#include "fhirlake/server/import_jobs.h"
#include "fhirlake/sync/maintenance.h"

namespace fhirlake::server {

// A job was accepted (queued).
void LogImportAccepted(const ImportJobView& job);
// A worker took the job up (also after a restart requeued it).
void LogImportStarted(const ImportJobView& job);
// After a change to the job: logs the phase change, or the job's end (finished, failed with
// its reason, cancelled), comparing with the state and phase it had before.
void LogImportTransition(ImportState old_state, ImportPhase old_phase, const ImportJobView& job);
// What maintenance did to a table the job loaded ("maintenance"), or why it failed
// ("maintenance_failed", with the table and the reason).
void LogImportMaintenance(const std::string& id, const sync::TableMaintenance& outcome);
// The job was cancelled by its client.
void LogImportCancelled(const std::string& id);
// The DELETE that a cancelled import sent to its source's export, and how it went.
void LogImportSourceExportCancelled(const std::string& id, const Status& outcome);
// The job records could not be listed at start (no job is resumed; the server still runs).
void LogImportRecoveryFailed(const Status& status);

// `text` with URL credentials and bearer/basic credentials masked.
std::string RedactSecrets(std::string_view text);

}  // namespace fhirlake::server
