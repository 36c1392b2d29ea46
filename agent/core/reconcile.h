// Decides what a desired model means for this device, given what it runs and has tried.
// Pure: the envelope has already been verified by the caller.
#pragma once

#include <cstdint>
#include <string>

#include "agent/core/update_machine.h"

namespace edge::agent {

struct LocalModel {
  std::string active_version;
  std::string active_digest;   // sha256 of the active version's envelope
  uint64_t floor = 0;          // anti-rollback floor
  UpdateState state = UpdateState::kIdle;
  std::string target_version;
  std::string target_digest;   // envelope being worked on, or that failed
  // The failure was a refusal before any work (signature, trust policy, floor): a verdict on
  // the envelope under the policy held then, not on the model. The caller re-verifies the
  // envelope against the policy it holds now; if that passes, the target is started.
  bool target_refused = false;
};

struct DesiredModelView {
  std::string version;
  std::string digest;          // sha256 of the envelope bytes
  uint64_t security_version = 0;
};

enum class ReconcileDecision {
  kNothing,        // already running it, or already working on it
  kStart,          // start (or restart towards) this target
  kAlreadyFailed,  // this exact envelope failed here before: do not retry on its own
  kBelowFloor,     // refused: security_version below the device's floor
};

ReconcileDecision Reconcile(const LocalModel& local, const DesiredModelView& desired);

}  // namespace edge::agent
