#include "agent/daemon/agent_metrics.h"

#include <catch2/catch.hpp>

#include "common/metrics/memory_registry.h"

namespace edge::agent {
namespace {

TEST_CASE("agent metrics: each model has 1 on its update state and 0 on the others") {
  metrics::MemoryRegistry registry;
  AgentMetrics m(registry);
  std::map<std::string, ModelRecord> records;
  records["kws"].state = UpdateState::kProbation;
  records["vib"].state = UpdateState::kCommitted;
  m.SetUpdateStates(records);
  CHECK(registry.Value("edgefleet_agent_update_state",
                       {{"model", "kws"}, {"state", "probation"}}) == 1);
  CHECK(registry.Value("edgefleet_agent_update_state",
                       {{"model", "kws"}, {"state", "committed"}}) == 0);
  CHECK(registry.Value("edgefleet_agent_update_state",
                       {{"model", "vib"}, {"state", "committed"}}) == 1);
  CHECK(registry.SeriesOf("edgefleet_agent_update_state").size() == 20);  // 2 models x 10 states
  records["kws"].state = UpdateState::kCommitted;
  m.SetUpdateStates(records);
  CHECK(registry.Value("edgefleet_agent_update_state",
                       {{"model", "kws"}, {"state", "probation"}}) == 0);
  CHECK(registry.Value("edgefleet_agent_update_state",
                       {{"model", "kws"}, {"state", "committed"}}) == 1);
}

TEST_CASE("agent metrics: health gate results are one family with a result label") {
  metrics::MemoryRegistry registry;
  AgentMetrics m(registry);
  m.gate_passed.Increment();
  m.gate_failed.Increment();
  m.gate_failed.Increment();
  CHECK(registry.Value("edgefleet_agent_health_gate_total", {{"result", "passed"}}) == 1);
  CHECK(registry.Value("edgefleet_agent_health_gate_total", {{"result", "failed"}}) == 2);
}

}  // namespace
}  // namespace edge::agent
