#include "controller/api/controller_metrics.h"

#include <algorithm>
#include <array>

#include "controller/rollout/rollout.h"

namespace edge::controller {

namespace {

// The agent's update states (agent/core/update_machine.h), as agents report them.
constexpr std::array<const char*, 10> kUpdateStates = {
    "idle",      "downloading", "verifying",    "staged",      "activating",
    "probation", "committed",   "rolling_back", "rolled_back", "failed"};
constexpr std::array kRolloutStates = {rollout::State::kRunning,   rollout::State::kPaused,
                                       rollout::State::kCompleted, rollout::State::kAborted,
                                       rollout::State::kReverting, rollout::State::kReverted};

double CountOf(const std::map<std::string, int64_t>& counts, const std::string& state) {
  auto it = counts.find(state);
  return it == counts.end() ? 0.0 : static_cast<double>(it->second);
}

}  // namespace

ControllerMetrics::ControllerMetrics(metrics::Registry& registry)
    : connected_agents(registry
                           .Gauges("edgefleet_controller_connected_agents",
                                   "Agents with an open stream to this controller.")
                           .With({})),
      planner(registry
                  .Gauges("edgefleet_controller_planner",
                          "1 while this controller runs the rollout planner (the only controller always does).")
                  .With({})),
      rpcs(registry.Counters("edgefleet_controller_rpcs_total",
                             "Finished gRPC calls, by method and status code.")),
      rpc_duration(registry.Histograms("edgefleet_controller_rpc_duration_seconds",
                                       "Duration of unary gRPC calls, by method.",
                                       metrics::LatencyBucketsSeconds())),
      rollouts(registry.Gauges("edgefleet_controller_rollouts", "Rollouts, by state.")),
      device_models(registry.Gauges(
          "edgefleet_controller_device_models",
          "Models on devices not revoked, by the update state the device last reported.")),
      blob_bytes_served(registry
                            .Counters("edgefleet_controller_blob_bytes_served_total",
                                      "Bundle blob bytes sent to agents.")
                            .With({})) {}

void ControllerMetrics::SetStateCounts(const std::map<std::string, int64_t>& rollout_states,
                                       const std::map<std::string, int64_t>& reported_states) {
  for (auto state : kRolloutStates) {
    const std::string name(rollout::Name(state));
    rollouts.With({{"state", name}}).Set(CountOf(rollout_states, name));
  }
  double other = 0;
  for (const auto& [state, count] : reported_states)
    if (std::find_if(kUpdateStates.begin(), kUpdateStates.end(),
                     [&](const char* s) { return state == s; }) == kUpdateStates.end())
      other += static_cast<double>(count);
  for (const char* state : kUpdateStates)
    device_models.With({{"state", state}}).Set(CountOf(reported_states, state));
  device_models.With({{"state", "other"}}).Set(other);
}

}  // namespace edge::controller
