// The rollout planner (DESIGN §9): pure and clock-driven. Given a rollout as stored, what the
// fleet reports about the devices its target claims, and the time, it returns the rollout's next
// state and what to dispatch. No I/O: the controller's driver gathers the inputs, persists the
// step (state and dispatches in one transaction, so a restart never dispatches twice) and tells
// the devices.
//
// Rules (docs/operations.md "Rollouts" is the user's view of the same):
// - Waves. Wave 0 is the canary (a count or percentage of the target, or of every site with
//   canary_per_site); wave k >= 1 brings the share of the target taken so far up to waves[k-1].
//   A wave's devices are chosen when it starts: online devices first, spread over sites
//   round-robin, by id within a site. A device that joins the target later joins the current
//   wave (or, once completed, is dispatched at once: the target is standing).
// - Dispatch. Within a wave, at most max_parallel devices fleet-wide and site_budget per site
//   are in flight (dispatched, no outcome yet) at any moment.
// - Skips. A device whose anti-rollback floor is above the version's security_version, whose
//   facts do not meet the bundle's compat, or that already failed this version (in this rollout,
//   or as a verdict its agent keeps: a refusal is retried), is skipped with the reason and never
//   blocks the others.
// - Outcomes. A dispatched device is updated once it reports the version active and committed
//   (or idle), failed once it reports failed/rolled_back for it after the dispatch; with neither after
//   device_timeout_seconds it is timed out (it keeps the desired version and counts as updated
//   or failed if it reports later).
// - Gates. A wave is done when each of its devices is updated, failed, timed out or skipped.
//   Install gate: failed / wave size above failure_threshold fails at once; at the end,
//   updated / (updated + failed) below success_threshold fails. Health gate (health_gates), once
//   the wave is done: the new version's inferences summed over the wave's updated devices must
//   reach min_requests; then its error rate must stay within max_error_rate_increase of the
//   incumbent's on the same devices, its merged p99 within max_latency_regression above the
//   incumbent's (when the incumbent served at least min_requests there), no device may report
//   a failed self-test of the new version or more than max_restarts restarts. A failing health
//   figure fails the gate at once; a pass needs soak_seconds since the wave was done. With too
//   little traffic health_timeout_seconds after the soak, insufficient_traffic decides.
// - A failed gate applies on_failure: pause, abort, or revert (abort, and send every device the
//   rollout moved back to its from_version through the same path, tracked per device).
// - Superseded. A device the target no longer claims (a newer rollout of the model took it, it
//   was revoked or relabelled) is superseded and left alone. Claimed again, it counts as updated
//   if it runs the version; otherwise it stays superseded.
// - Operator controls (pause, resume, abort) are applied with ApplyControl.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/rollout/rollout.h"

namespace edge::controller::rollout {

// What the fleet says about one device the rollout's target claims (for the rollout's model).
struct Observed {
  std::string id;
  std::string site;
  bool online = false;
  std::string active_version;  // reported; "" = none reported
  std::string state;           // the agent's update state for the model; "" = none reported
  std::string target_version;  // the version the agent works on, or last failed on
  std::string detail;          // the agent's detail for its state (why it failed, ...)
  std::string desired_version; // what the controller wants it to run now ("" = nothing set)
  uint64_t floor = 0;          // reported anti-rollback floor for the model
  std::string incompatible;    // non-empty: why the bundle's compat excludes the device
  // When it last reported each version failed or rolled back (controller time, from the stored
  // outcome events). A failure before a dispatch is not that dispatch's outcome.
  std::map<std::string, int64_t> failed_at;
  // The model's latest health on the device (the driver fills it for devices of the current
  // wave that are updated, and for devices being reverted).
  std::optional<HealthSample> health;
  uint32_t restarts_since_dispatch = 0;  // agent restarts seen in its reports since dispatch
};

struct Dispatch {
  std::string device;
  std::string version;  // the desired version to set
  bool revert = false;
};

struct Event {
  std::string kind;    // wave_started, dispatched, updated, failed, timed_out, skipped, gate_passed,
                       // gate_failed, paused, resumed, aborted, reverting, reverted, completed, ...
  std::string device;  // "" = the rollout
  std::string detail;
};

struct Inputs {
  int64_t now = 0;
  // Every device the rollout's target claims now (matching, not revoked, not claimed by a
  // newer live rollout of the same model), in any order.
  std::vector<Observed> devices;
  // security_version of the model's versions, for revert checks (the floor must allow them).
  std::map<std::string, uint64_t> security_versions;
};

struct Step {
  Rollout rollout;  // the next state; changed rows have dirty set
  std::vector<Dispatch> dispatches;
  std::vector<Event> events;
  bool changed = false;  // anything to persist
};

// One planning step. Deterministic: the same inputs give the same step.
Step Plan(const Rollout& rollout, const Inputs& inputs);

enum class Control { kPause, kResume, kAbort, kAbortRevert };
// An operator's control, applied to the rollout as stored (then run Plan for its effects:
// a revert's dispatches come from Plan). Refuses what does not apply (resume of a running
// rollout, abort of a finished one), naming the state.
Result<Step> ApplyControl(const Rollout& rollout, Control control, const std::string& reason, int64_t now);

// The p-th percentile (0 < p <= 100) of a latency histogram in microseconds: the nearest-rank
// sample's bucket, interpolated inside it (edge::BucketPercentile, as the agent reports). 0 with no samples.
double PercentileUs(const std::vector<uint64_t>& upper_us, const std::vector<uint64_t>& counts, double p);

}  // namespace edge::controller::rollout
