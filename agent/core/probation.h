// Probation (DESIGN §7): for the manifest's soak period after a switch, the agent watches the
// new version and rolls it back on the first sign of trouble. Pure: the daemon gathers the
// observation (serving stats, restart count, clock) and acts on the verdict.
#pragma once

#include <cstdint>
#include <string>

namespace edge::agent {

struct ProbationPolicy {
  int64_t soak_seconds = 0;         // manifest health.soak_seconds; 0 = commit at once
  uint64_t latency_budget_us = 0;   // manifest health.latency_budget_us (p99); 0 = none
  double max_error_rate = 0.01;     // errors / inferences
  uint64_t min_requests = 20;       // error rate and p99 are judged only past this many requests
  int max_restarts = 2;             // agent restarts during probation; one more is a crash loop
};

struct ProbationObservation {
  int64_t now = 0;          // unix seconds
  int64_t started_at = 0;   // when the version started serving
  int restarts = 0;         // agent restarts since started_at
  // Runs of the version under probation and the model's own errors among them (engine failure,
  // non-finite output). Requests refused as the client's bad input are in neither: the model
  // never ran for them (serve::Stats::rejected).
  uint64_t inferences = 0;
  uint64_t errors = 0;
  double p99_us = 0.0;
};

enum class ProbationVerdict {
  kContinue,  // keep watching
  kSoaked,    // the soak period is over with healthy numbers: re-run the self-test, then commit
  kFail,      // roll back; `reason` says why
};

struct ProbationJudgement {
  ProbationVerdict verdict = ProbationVerdict::kContinue;
  std::string reason;
};

// Failures win over the end of the soak period: a version that errs in its last second is
// still rolled back.
ProbationJudgement JudgeProbation(const ProbationPolicy& policy, const ProbationObservation& obs);

}  // namespace edge::agent
