// FaultPlan: failures a test (or an operator rehearsing an outage) asks `fhirlake serve` to
// inject, chosen per run with `--faults SPEC`. The export routes (kick-off, status, files) and
// /metadata consult it first, before the bearer-token check and the real handler; the import
// routes and /health have no faults.
//
// SPEC is a comma list of rules `TARGET:KIND[=ARG][*COUNT]`:
//   TARGET  kickoff | status | file | metadata | token (with --auth: the token endpoint answers
//           with the fault after it processed the request, as when an answer is lost, so a
//           client assertion it saw is spent)
//   KIND    401 | 429 | 500 | 503 answer with this status (Retry-After: ARG seconds, default 1)
//           pending=N             (status) the first N polls of each job answer 202 (progress
//                                 capped at 99%) even when the job is done
//           malformed             (status) answer 200 with a manifest that is not valid
//           miscount              (status) the manifest overstates each file's count by one
//                                 (taken again if the job still runs)
//           reset=F               (file) drop the connection at fraction F of the file
//           truncate=F            (file) send only fraction F, with a matching Content-Length
//                                 (requests without Range only)
//           slow=BPS              (file) send at most BPS bytes per second (every request)
//           gzip-stored           (file) answer every request with the gzip-compressed file and
//                                 Content-Encoding: gzip, Range counting compressed bytes,
//                                 whatever Accept-Encoding says (as a store that keeps objects
//                                 gzip-encoded does); the file is compressed in memory
//   F is a fraction below 1 (default 0.5). A file request that meets a one-shot fault is never
//   gzip-compressed.
//   COUNT   how many requests the rule hits (default 1; slow, pending and gzip-stored apply
//           always)
// Example: "kickoff:429*2,status:503,file:reset=0.5,file:truncate=0.3"
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::server {

enum class FaultTarget { kKickoff, kStatus, kFile, kMetadata, kToken };
enum class FaultKind { kStatus, kPending, kMalformed, kMiscount, kReset, kTruncate, kSlow, kGzipStored };

struct Fault {
  FaultTarget target = FaultTarget::kFile;
  FaultKind kind = FaultKind::kStatus;
  int http_status = 0;      // kStatus
  double arg = 0;           // seconds (Retry-After), polls, fraction or bytes/second
  int remaining = 1;        // -1 = unlimited
};

class FaultPlan {
 public:
  static Result<FaultPlan> Parse(std::string_view spec);

  // Consumes and returns the next one-shot fault for `target` (status, malformed, reset,
  // truncate), if any is left.
  std::optional<Fault> Take(FaultTarget target);
  // Gives back one use of a one-shot fault that was taken but could not apply yet (a manifest
  // fault taken while the job still runs).
  void Restore(FaultTarget target, FaultKind kind);
  // Extra 202 polls per job (0 when none).
  int PendingPolls() const;
  // Bytes/second limit for file transfers (0 = none).
  double SlowRate() const;
  // Whether files are answered as stored gzip (gzip-stored).
  bool GzipStored() const;
  bool empty() const { return faults_.empty(); }

  FaultPlan() = default;
  FaultPlan(FaultPlan&& other) noexcept : faults_(std::move(other.faults_)) {}
  FaultPlan& operator=(FaultPlan&& other) noexcept {
    faults_ = std::move(other.faults_);
    return *this;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Fault> faults_;
};

}  // namespace fhirlake::server
