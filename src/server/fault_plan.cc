#include "fhirlake/server/fault_plan.h"

#include <charconv>

namespace fhirlake::server {
namespace {

std::optional<double> Number(std::string_view s) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

Result<FaultPlan> FaultPlan::Parse(std::string_view spec) {
  FaultPlan plan;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    std::string_view rule = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (rule.empty()) continue;
    auto bad = [&](const std::string& why) {
      return InvalidArgument("fault rule '" + std::string(rule) + "': " + why +
                             " (form: TARGET:KIND[=ARG][*COUNT], see --help)");
    };
    Fault f;
    auto colon = rule.find(':');
    if (colon == std::string_view::npos) return bad("missing ':'");
    std::string_view target = rule.substr(0, colon);
    std::string_view rest = rule.substr(colon + 1);
    if (target == "kickoff") f.target = FaultTarget::kKickoff;
    else if (target == "status") f.target = FaultTarget::kStatus;
    else if (target == "file") f.target = FaultTarget::kFile;
    else if (target == "metadata") f.target = FaultTarget::kMetadata;
    else if (target == "token") f.target = FaultTarget::kToken;
    else return bad("unknown target");
    if (auto star = rest.find('*'); star != std::string_view::npos) {
      auto count = Number(rest.substr(star + 1));
      if (!count || *count < 1) return bad("COUNT must be a positive whole number");
      f.remaining = static_cast<int>(*count);
      rest = rest.substr(0, star);
    }
    std::string_view kind = rest;
    std::optional<double> arg;
    if (auto eq = rest.find('='); eq != std::string_view::npos) {
      kind = rest.substr(0, eq);
      arg = Number(rest.substr(eq + 1));
      if (!arg) return bad("ARG must be a non-negative number");
    }
    if (kind == "401" || kind == "429" || kind == "500" || kind == "503" ||
        (f.target == FaultTarget::kFile && (kind == "404" || kind == "410"))) {
      f.kind = FaultKind::kStatus;
      f.http_status = std::stoi(std::string(kind));
      f.arg = arg.value_or(1);
    } else if (kind == "pending" && f.target == FaultTarget::kStatus && arg) {
      f.kind = FaultKind::kPending;
      f.arg = *arg;
      f.remaining = -1;
    } else if (kind == "malformed" && f.target == FaultTarget::kStatus) {
      f.kind = FaultKind::kMalformed;
    } else if (kind == "miscount" && f.target == FaultTarget::kStatus) {
      f.kind = FaultKind::kMiscount;
    } else if ((kind == "reset" || kind == "truncate") && f.target == FaultTarget::kFile) {
      f.kind = kind == "reset" ? FaultKind::kReset : FaultKind::kTruncate;
      f.arg = arg.value_or(0.5);
      if (f.arg >= 1) return bad("the fraction must be below 1");
    } else if (kind == "gzip-stored" && f.target == FaultTarget::kFile) {
      f.kind = FaultKind::kGzipStored;
      f.remaining = -1;
    } else if (kind == "slow" && f.target == FaultTarget::kFile && arg && *arg > 0) {
      f.kind = FaultKind::kSlow;
      f.arg = *arg;
      f.remaining = -1;
    } else {
      return bad("unknown kind for this target");
    }
    plan.faults_.push_back(f);
  }
  return plan;
}

std::optional<Fault> FaultPlan::Take(FaultTarget target) {
  std::lock_guard lock(mu_);
  for (auto& f : faults_) {
    if (f.target != target || f.remaining == 0) continue;
    if (f.kind == FaultKind::kPending || f.kind == FaultKind::kSlow || f.kind == FaultKind::kGzipStored) continue;
    if (f.remaining > 0) --f.remaining;
    return f;
  }
  return std::nullopt;
}

void FaultPlan::Restore(FaultTarget target, FaultKind kind) {
  std::lock_guard lock(mu_);
  for (auto& f : faults_) {
    if (f.target == target && f.kind == kind && f.remaining >= 0) {
      ++f.remaining;
      return;
    }
  }
}

int FaultPlan::PendingPolls() const {
  std::lock_guard lock(mu_);
  for (const auto& f : faults_) {
    if (f.kind == FaultKind::kPending) return static_cast<int>(f.arg);
  }
  return 0;
}

double FaultPlan::SlowRate() const {
  std::lock_guard lock(mu_);
  for (const auto& f : faults_) {
    if (f.kind == FaultKind::kSlow) return f.arg;
  }
  return 0;
}

bool FaultPlan::GzipStored() const {
  std::lock_guard lock(mu_);
  for (const auto& f : faults_) {
    if (f.kind == FaultKind::kGzipStored) return true;
  }
  return false;
}

}  // namespace fhirlake::server
