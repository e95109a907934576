#include "fhirlake/server/job_log.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/http/url.h"

namespace fhirlake::server {
namespace {

using Fields = std::vector<std::pair<std::string, nlohmann::json>>;

bool JsonLines() {
  static const bool json = [] {
    const char* format = std::getenv("FHIRLAKE_LOG_FORMAT");
    if (format && std::strcmp(format, "json") == 0) return true;
    if (format && std::strcmp(format, "text") == 0) return false;
    return !::isatty(STDERR_FILENO);
  }();
  return json;
}

// One line to stderr; lines of concurrent jobs never interleave.
void Emit(const std::string& id, const std::string& event, const Fields& fields) {
  static std::mutex mu;
  const std::string time = fhir::FormatInstant(fhir::NowMicros());
  std::string line;
  if (JsonLines()) {
    nlohmann::json j = {{"time", time}, {"job", id}, {"event", event}};
    for (const auto& [name, value] : fields) {
      j[name] = value.is_string() ? nlohmann::json(RedactSecrets(value.get<std::string>())) : value;
    }
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = time + " import " + id + " " + event;
    for (const auto& [name, value] : fields) {
      line += " " + name + "=" + (value.is_string() ? RedactSecrets(value.get<std::string>()) : value.dump());
    }
  }
  line.push_back('\n');
  std::lock_guard lock(mu);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

std::string Source(const ImportRequest& r) {
  if (!r.export_url.empty()) return r.export_url;
  return std::to_string(r.inputs.size()) + " input file" + (r.inputs.size() == 1 ? "" : "s");
}

}  // namespace

std::string RedactSecrets(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(" \t\r\n\"'<>", i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(i, end - i);
    if (word.find("://") != std::string_view::npos) {
      out += http::RedactUrl(word);
    } else {
      out += word;
    }
    if (end < text.size()) out.push_back(text[end]);
    // The word after an authorization scheme is a credential.
    if (word == "Bearer" || word == "bearer" || word == "Basic" || word == "basic") {
      size_t next = text.find_first_of(" \t\r\n\"'<>", end + 1);
      if (next == std::string_view::npos) next = text.size();
      if (next > end + 1) out += "REDACTED";
      end = next;
      if (end < text.size()) out.push_back(text[end]);
    }
    i = end + 1;
  }
  return out;
}

void LogImportAccepted(const ImportJobView& job) {
  Fields f = {{"source", Source(job.request)}};
  if (!job.request.owner.empty()) f.emplace_back("client", job.request.owner);
  Emit(job.id, "accepted", f);
}

void LogImportStarted(const ImportJobView& job) { Emit(job.id, "started", {{"source", Source(job.request)}}); }

void LogImportTransition(ImportState old_state, ImportPhase old_phase, const ImportJobView& job) {
  if (job.state != old_state && job.state == ImportState::kCompleted) {
    uint64_t inserted = 0, updated = 0, deleted = 0;
    for (const auto& t : job.tables) {
      inserted += t.inserted;
      updated += t.updated;
      deleted += t.deleted;
    }
    Emit(job.id, "finished",
         {{"tables", job.tables.size()}, {"inserted", inserted}, {"updated", updated}, {"deleted", deleted}});
  } else if (job.state != old_state && job.state == ImportState::kFailed) {
    Emit(job.id, "failed", {{"status", job.error_status}, {"reason", job.error}});
  } else if (job.state != old_state && job.state == ImportState::kCancelled) {
    Emit(job.id, "cancelled", {});
  } else if (job.phase != old_phase && job.phase != ImportPhase::kDone) {
    Emit(job.id, "phase", {{"phase", ImportPhaseName(job.phase)}});
  }
}

void LogImportMaintenance(const std::string& id, const sync::TableMaintenance& m) {
  if (!m.status.ok()) {
    Emit(id, "maintenance_failed", {{"table", m.type}, {"reason", m.status.message()}});
    return;
  }
  Emit(id, "maintenance",
       {{"table", m.type}, {"version", m.report.version}, {"checkpoint", m.report.checkpoint_written},
        {"filesCompacted", m.compaction.files_removed}, {"filesDeleted", m.report.deleted_files.size()},
        {"bytesFreed", m.report.deleted_bytes}, {"logFilesDeleted", m.report.deleted_log_files.size()}});
}

void LogImportCancelled(const std::string& id) { Emit(id, "cancelled", {}); }

void LogImportSourceExportCancelled(const std::string& id, const Status& outcome) {
  if (outcome.ok()) return Emit(id, "source_export_cancelled", {});
  Emit(id, "source_export_cancel_failed", {{"reason", outcome.message()}});
}

void LogImportRecoveryFailed(const Status& status) { Emit("", "recovery_failed", {{"reason", status.message()}}); }

}  // namespace fhirlake::server
