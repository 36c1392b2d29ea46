// How the agent judges trust policies (DESIGN §4): the one it stored, and each one the
// controller hands it. Pure: envelope bytes, the pinned root key, the clock reading and the fleet
// the device enrolled into go in; a verdict comes out.
//
// Why expiry is relaxed for the stored policy only: an expiry bounds what may be INSTALLED under
// a policy, not whether the device may run. An agent that refused to start with an expired
// stored policy would stop serving its committed model and could never receive the newer policy
// that lifts the block. The root's signature and the strict parse are still required at every
// start: a stored policy that fails them is bad and the agent does not start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bundle/bundle.h"
#include "common/crypto/ed25519.h"

namespace edge::agent {

enum class StoredPolicyStanding {
  kValid,    // signed by the root, parses, not expired
  kExpired,  // signed by the root and parses, but past its expiry: serve, connect, install nothing
  kBad,      // not an envelope, not signed by the pinned root, or not a valid policy
};

struct StoredPolicyCheck {
  StoredPolicyStanding standing = StoredPolicyStanding::kBad;
  bundle::TrustPolicy policy;  // unless kBad
  std::string payload;         // the signed policy bytes, unless kBad
  std::string problem;         // kBad: what is wrong; kExpired: PolicyExpiredReason
};

StoredPolicyCheck ClassifyStoredPolicy(std::string_view envelope_bytes, const crypto::Ed25519PublicKey& root,
                                       int64_t now);

// While `policy` is expired at `now`: "trust policy v3 expired at 2026-12-03T08:40:00Z; waiting
// for a newer policy" (the reason an install is refused). nullopt while it is valid.
std::optional<std::string> PolicyExpiredReason(const bundle::TrustPolicy& policy, int64_t now);

// What the agent holds: the policy and its signed payload bytes.
struct HeldPolicy {
  bundle::TrustPolicy policy;
  std::string payload;
};

enum class PolicyUpdate {
  kAdopt,       // a higher version for this fleet (or the first one, at enrollment)
  kSame,        // exactly the policy held: nothing to do
  kOlder,       // a lower version: refused (anti-rollback of the policy itself)
  kConflict,    // the held version number with other content: refused, someone signed two vN
  kOtherFleet,  // a policy for another fleet: refused
};

struct PolicyUpdateDecision {
  PolicyUpdate decision = PolicyUpdate::kAdopt;
  std::string reason;  // for refusals, names both versions or both fleets
};

// `candidate` has verified against the pinned root (signature, parse, expiry) and `payload` is
// its signed bytes. `held` is null before the first policy (enrollment). `enrolled_fleet` is the
// fleet the device enrolled into; when empty (a state directory from before it was recorded),
// the held policy's fleet stands in for it.
PolicyUpdateDecision DecidePolicyUpdate(const HeldPolicy* held, const bundle::TrustPolicy& candidate,
                                        std::string_view payload, std::string_view enrolled_fleet);

}  // namespace edge::agent
