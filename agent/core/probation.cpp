#include "agent/core/probation.h"

#include <cstdio>

namespace edge::agent {

ProbationJudgement JudgeProbation(const ProbationPolicy& policy, const ProbationObservation& obs) {
  if (obs.restarts > policy.max_restarts)
    return {ProbationVerdict::kFail, "crash loop: the agent restarted " + std::to_string(obs.restarts) +
                                         " times during probation (at most " + std::to_string(policy.max_restarts) +
                                         " allowed)"};
  if (obs.inferences >= policy.min_requests && obs.inferences > 0) {
    const double rate = static_cast<double>(obs.errors) / static_cast<double>(obs.inferences);
    if (rate > policy.max_error_rate) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "error rate %.1f%% (%llu of %llu requests) exceeds %.1f%%", rate * 100.0,
                    static_cast<unsigned long long>(obs.errors), static_cast<unsigned long long>(obs.inferences),
                    policy.max_error_rate * 100.0);
      return {ProbationVerdict::kFail, buf};
    }
    if (policy.latency_budget_us > 0 && obs.p99_us > static_cast<double>(policy.latency_budget_us)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "p99 latency %.0f us over %llu requests exceeds the budget of %llu us", obs.p99_us,
                    static_cast<unsigned long long>(obs.inferences),
                    static_cast<unsigned long long>(policy.latency_budget_us));
      return {ProbationVerdict::kFail, buf};
    }
  }
  if (obs.now >= obs.started_at + policy.soak_seconds) return {ProbationVerdict::kSoaked, ""};
  return {ProbationVerdict::kContinue, ""};
}

}  // namespace edge::agent
