#include "agent/daemon/probation_watcher.h"

#include <boost/asio/post.hpp>

#include "agent/core/crash_point.h"
#include "common/bundle/bundle.h"

namespace edge::agent {

void ProbationWatcher::Watch(const Command& c) {
  auto& timer = timers_[c.model];
  if (timer) timer->cancel();
  timer = std::make_unique<boost::asio::steady_timer>(io_);
  boost::asio::post(io_, [this, c] { Check(c); });
}

void ProbationWatcher::Stop() {
  for (auto& [model, timer] : timers_) timer->cancel();
}

void ProbationWatcher::Check(const Command& c) {
  if (!current_(c.model, c.epoch)) return;
  auto manifest = bundle::UnverifiedManifest(c.record.target_envelope);
  if (!manifest)
    return verdict_(c, {ProbationVerdict::kFail, "stored target is unreadable: " + manifest.error().message});
  ProbationPolicy policy;
  policy.soak_seconds = static_cast<int64_t>(manifest->health.soak_seconds);
  policy.latency_budget_us = manifest->health.latency_budget_us;
  policy.max_error_rate = config_.probation_max_error_rate;
  policy.min_requests = static_cast<uint64_t>(config_.probation_min_requests);
  policy.max_restarts = static_cast<int>(config_.probation_max_restarts);
  ProbationObservation obs;
  obs.now = clock_.NowUnix();
  obs.started_at = c.record.probation_started_at;
  obs.restarts = c.record.probation_restarts;
  if (auto stats = registry_.Snapshot(c.model); stats && stats->version == c.record.target_version) {
    obs.inferences = stats->inferences;
    obs.errors = stats->errors;
    obs.p99_us = stats->p99_us;
  }
  auto judgement = JudgeProbation(policy, obs);
  if (judgement.verdict != ProbationVerdict::kContinue) return verdict_(c, judgement);
  CrashPoint("probation.watch");
  auto& timer = *timers_[c.model];
  timer.expires_after(std::chrono::milliseconds(config_.probation_check_ms));
  timer.async_wait([this, c](const boost::system::error_code& ec) {
    if (!ec) Check(c);
  });
}

}  // namespace edge::agent
