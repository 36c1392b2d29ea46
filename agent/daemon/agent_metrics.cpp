#include "agent/daemon/agent_metrics.h"

namespace edge::agent {

namespace {
constexpr UpdateState kStates[] = {UpdateState::kIdle,       UpdateState::kDownloading,
                                   UpdateState::kVerifying,  UpdateState::kStaged,
                                   UpdateState::kActivating, UpdateState::kProbation,
                                   UpdateState::kCommitted,  UpdateState::kRollingBack,
                                   UpdateState::kRolledBack, UpdateState::kFailed};
}  // namespace

AgentMetrics::AgentMetrics(metrics::Registry& registry)
    : update_state(registry.Gauges("edgefleet_agent_update_state",
                                   "1 for the update state each model is in, 0 for the others.")),
      download_bytes(registry
                         .Counters("edgefleet_agent_download_bytes_total",
                                   "Bundle blob bytes received from the controller.")
                         .With({})),
      gate_passed(
          registry
              .Counters("edgefleet_agent_health_gate_total",
                        "Activation health gate runs (load, self-test, latency budget), by result.")
              .With({{"result", "passed"}})),
      gate_failed(
          registry.Counters("edgefleet_agent_health_gate_total", "").With({{"result", "failed"}})) {
}

void AgentMetrics::SetUpdateStates(const std::map<std::string, ModelRecord>& records) {
  for (const auto& [model, record] : records)
    for (auto state : kStates)
      update_state.With({{"model", model}, {"state", std::string(StateName(state))}})
          .Set(record.state == state ? 1.0 : 0.0);
}

}  // namespace edge::agent
