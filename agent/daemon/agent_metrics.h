// What the agent counts for /metrics besides inferences (those are per served version, in
// serve::Registry): update states, download bytes, health gate results
// (docs/operations.md#metrics). Labels: model names (operator-chosen) and fixed sets.
#pragma once

#include <map>
#include <string>

#include "agent/core/model_record.h"
#include "common/metrics/metrics.h"

namespace edge::agent {

struct AgentMetrics {
  explicit AgentMetrics(metrics::Registry& registry);

  metrics::Family<metrics::Gauge>& update_state;  // {model, state}: 1 for the state the model is in
  metrics::Counter& download_bytes;
  metrics::Counter& gate_passed;
  metrics::Counter& gate_failed;

  // For each model, 1 on its current state and 0 on every other.
  void SetUpdateStates(const std::map<std::string, ModelRecord>& records);
};

}  // namespace edge::agent
