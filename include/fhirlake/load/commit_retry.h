// load::CommitWithRetries: optimistic concurrency for one Delta table. A writer prepares a
// commit against a snapshot (writing its data files), the commit is tried with put-if-absent,
// and when another writer committed that version first the prepared attempt is dropped (its
// files removed by its destructor) and prepared again on the new snapshot. Loads use it; views
// and compaction, which also write tables, do the same.
#pragma once

#include <functional>
#include <memory>

#include "fhirlake/delta/table.h"
#include "fhirlake/status.h"

namespace fhirlake::load {

// One attempt's commit and the files it wrote. The files belong to the attempt until Keep():
// an attempt destroyed without it (a lost race, a failure before its commit was sent) removes
// them.
class PreparedCommit {
 public:
  virtual ~PreparedCommit() = default;
  // The attempt is in the log, may be (its write failed without saying), or there was nothing
  // to commit: its files are the table's, or vacuum's.
  virtual void Keep() = 0;

  delta::Commit commit;
  int64_t version = -1;  // set by CommitWithRetries: the committed (or unchanged) version
};

struct CommitRetryOptions {
  int attempts = 5;  // tries in all
  // Called before each write (attempt numbers from 1) and after a successful one: test hooks.
  std::function<void(int attempt)> before_write;
  std::function<void()> after_write;
  // Checks the snapshot another writer produced before preparing again (e.g. save mode
  // error and the table now exists); a failure ends the retries with it.
  std::function<Status(const delta::Snapshot&)> check_new_snapshot;
};

// Prepares, writes and, on a lost race, reloads and prepares again, up to `options.attempts`
// times. A prepared commit that adds and removes nothing on an existing table is not written:
// the table stays at its version. Returns the winning attempt (version set, Keep() called), or
// the first error that is not a conflict, or the conflict after the last attempt.
template <typename Prepared>
Result<std::unique_ptr<Prepared>> CommitWithRetries(
    const delta::Table& table, delta::Snapshot snapshot, const CommitRetryOptions& options,
    const std::function<Result<std::unique_ptr<Prepared>>(const delta::Snapshot&)>& prepare) {
  for (int attempt = 1;; ++attempt) {
    auto prepared = prepare(snapshot);
    if (!prepared.ok()) return prepared.status();
    std::unique_ptr<Prepared> p = std::move(prepared.value());
    const delta::Commit& commit = p->commit;
    if (commit.adds.empty() && commit.removes.empty() && snapshot.version >= 0) {
      p->version = snapshot.version;  // nothing changed: no new version
      p->Keep();
      return p;
    }
    if (options.before_write) options.before_write(attempt);
    auto version = table.Write(snapshot, commit);
    if (version.ok()) {
      if (options.after_write) options.after_write();
      p->version = *version;
      p->Keep();
      return p;
    }
    if (!delta::Table::IsConflict(version.status())) {
      // The write failed in a way that does not say whether the commit landed (a broken
      // connection, a 5xx): its files may be a committed version's, so they stay. Files no
      // commit names are vacuum's to delete after the retention.
      p->Keep();
      return version.status();
    }
    p.reset();  // another writer took the version: its files go
    if (attempt >= options.attempts) return version.status();
    auto reloaded = table.Load();  // another writer won: prepare again on the new version
    if (!reloaded.ok()) return reloaded.status();
    snapshot = std::move(reloaded.value());
    if (options.check_new_snapshot) FHIRLAKE_RETURN_IF_ERROR(options.check_new_snapshot(snapshot));
  }
}

}  // namespace fhirlake::load
