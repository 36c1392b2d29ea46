// What the agent keeps per model (a row of state.db's `models` table) and the outcome events it
// owes the controller. Plain data, shared by the driver (agent/core) and the store.
#pragma once

#include <cstdint>
#include <string>

#include "agent/core/update_machine.h"

namespace edge::agent {

struct ModelRecord {
  std::string model;
  std::string active_version;
  std::string active_digest;
  uint64_t active_security_version = 0;
  uint64_t floor = 0;
  UpdateState state = UpdateState::kIdle;
  std::string target_version;
  std::string target_digest;
  // The signed envelope being worked on; empty after a refusal (that marks the failure as a
  // verdict under the policy held then, which a later desired state re-checks).
  std::string target_envelope;
  std::string detail;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  int64_t updated_at = 0;
  int64_t probation_started_at = 0;
  int probation_restarts = 0;
  bool target_local = false;        // from `edge-agent install FILE`
  uint64_t pinned_generation = 0;   // controller desired states up to this one are ignored
};

// The final outcome of one update, kept until the controller acknowledges it.
struct OutcomeEvent {
  uint64_t seq = 0;  // assigned by the store, increasing
  std::string model;
  std::string version;
  // committed, rolled_back, failed, or abandoned (replaced by another target before it ended)
  std::string outcome;
  std::string reason;
  int64_t unix_time = 0;
  bool local = false;
};

}  // namespace edge::agent
