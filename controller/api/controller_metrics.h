// What the controller counts for /metrics (docs/operations.md#metrics). Label values are
// bounded: RPC methods and codes are gRPC's fixed sets, store operations a fixed set, and
// states are the known state names (an unknown state reported by a device is counted as
// "other"); no device or model name is a label.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/metrics/metrics.h"

namespace edge::controller {

struct ControllerMetrics {
  explicit ControllerMetrics(metrics::Registry& registry);

  metrics::Gauge& connected_agents;
  metrics::Gauge& planner;  // 1 while this controller runs the rollout planner
  metrics::Family<metrics::Counter>& rpcs;            // {method, code}
  metrics::Family<metrics::Histogram>& rpc_duration;  // {method}, unary calls
  metrics::Family<metrics::Gauge>& rollouts;          // {state}
  metrics::Family<metrics::Gauge>& device_models;     // {state}
  metrics::Counter& blob_bytes_served;

  // Sets the state gauges from the store's counts: every known state (0 when absent); reported
  // states the controller does not know are summed under "other".
  void SetStateCounts(const std::map<std::string, int64_t>& rollout_states,
                      const std::map<std::string, int64_t>& reported_states);
};

}  // namespace edge::controller
