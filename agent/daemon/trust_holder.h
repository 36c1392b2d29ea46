// The trust policy this device holds (DESIGN §3): pinned at enrollment, verified against the
// release root from the agent's config at every start, replaced only by a newer policy for the
// same fleet. An expired policy is kept (the agent starts, connects and serves) and refuses
// every install until the controller hands over a newer one.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "agent/daemon/config.h"
#include "agent/store/state_store.h"
#include "common/bundle/bundle.h"
#include "common/core/clock.h"
#include "common/crypto/ed25519.h"

namespace edge::agent {

class TrustHolder {
 public:
  TrustHolder(const AgentConfig& config, const Clock& clock) : config_(config), clock_(clock) {}

  // The release root from the config, the stored policy (verified against it) and the fleet
  // the device enrolled into. A stored policy that does not verify is an error.
  Status Load(StateStore& store);
  // A policy from enrollment or the controller: it must verify now (expiry included) and be a
  // higher version for this device's fleet (DecidePolicyUpdate). Stored before it is used.
  Status Adopt(StateStore& store, const std::string& envelope_bytes);
  // At enrollment: the controller's policy must verify against the pinned root, whatever the
  // controller says, and be for the fleet it names (the policy's fleet when it names none).
  Status Enroll(StateStore& store, const std::string& fleet, const std::string& policy_bytes);
  // Why installs are refused now (the held policy has expired), or nullopt. Logs it once per
  // policy version.
  std::optional<std::string> BlocksInstalls();

  bool empty() const { return envelope_.empty(); }
  const bundle::TrustPolicy& policy() const { return policy_; }
  // For other threads (the link's hello).
  uint64_t version() const { return version_.load(); }
  const std::string& fleet() const { return fleet_; }

 private:
  const AgentConfig& config_;
  const Clock& clock_;
  crypto::Ed25519PublicKey root_{};
  bundle::TrustPolicy policy_;
  std::string envelope_;
  std::string payload_;  // the signed bytes inside envelope_
  std::string fleet_;
  bool expiry_logged_ = false;
  std::atomic<uint64_t> version_{0};
};

}  // namespace edge::agent
