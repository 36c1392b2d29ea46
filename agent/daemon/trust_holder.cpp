#include "agent/daemon/trust_holder.h"

#include "agent/core/trust_policy_check.h"
#include "common/core/log.h"

namespace edge::agent {
namespace {
const char* kFleetKey = "enrolled_fleet";  // the fleet named in the enrollment response
}  // namespace

Status TrustHolder::Load(StateStore& store) {
  EDGE_ASSIGN_OR_RETURN(root_, LoadReleaseRoot(config_));
  EDGE_ASSIGN_OR_RETURN(auto stored, store.LoadTrustPolicyEnvelope());
  if (stored) {
    auto check = ClassifyStoredPolicy(*stored, root_, clock_.NowUnix());
    if (check.standing == StoredPolicyStanding::kBad)
      return Fail(ErrorCode::kPermissionDenied, "stored trust policy does not verify against the pinned release root (" +
                                                    config_.release_root_public_key + "): " + check.problem);
    policy_ = std::move(check.policy);
    envelope_ = std::move(*stored);
    payload_ = std::move(check.payload);
    version_ = policy_.version;
  }
  EDGE_ASSIGN_OR_RETURN(auto fleet, store.GetMeta(kFleetKey));
  if (fleet) {
    fleet_ = *fleet;
    return Ok();
  }
  if (envelope_.empty()) return Ok();  // not enrolled yet: enrollment records it
  // A state dir from before the fleet was recorded: the held policy's (verified at enrollment).
  fleet_ = policy_.fleet;
  return store.SetMeta(kFleetKey, fleet_);
}

Status TrustHolder::Enroll(StateStore& store, const std::string& fleet, const std::string& policy_bytes) {
  fleet_ = fleet;
  EDGE_TRY(Adopt(store, policy_bytes));
  if (fleet_.empty()) fleet_ = policy_.fleet;
  return store.SetMeta(kFleetKey, fleet_);
}

Status TrustHolder::Adopt(StateStore& store, const std::string& bytes) {
  if (bytes == envelope_) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(bytes));
  // A policy we take on must be valid now; only the one already held may be past its expiry.
  EDGE_ASSIGN_OR_RETURN(auto policy, bundle::VerifyTrustPolicy(envelope, root_, clock_.NowUnix()));
  const HeldPolicy held{policy_, payload_};
  auto decision = DecidePolicyUpdate(envelope_.empty() ? nullptr : &held, policy, envelope.payload, fleet_);
  switch (decision.decision) {
    case PolicyUpdate::kSame:
      return Ok();
    case PolicyUpdate::kOlder:
    case PolicyUpdate::kConflict:
      return Fail(ErrorCode::kFailedPrecondition, decision.reason);
    case PolicyUpdate::kOtherFleet:
      return Fail(ErrorCode::kPermissionDenied, decision.reason);
    case PolicyUpdate::kAdopt:
      break;
  }
  EDGE_TRY(store.SaveTrustPolicy(bytes));
  const uint64_t previous = policy_.version;
  policy_ = std::move(policy);
  envelope_ = bytes;
  payload_ = std::move(envelope.payload);
  version_ = policy_.version;
  expiry_logged_ = false;
  log::Info("trust policy adopted", {{"version", policy_.version}, {"previous", previous},
                                     {"expires", policy_.expires ? *policy_.expires : 0}});
  return Ok();
}

std::optional<std::string> TrustHolder::BlocksInstalls() {
  auto reason = PolicyExpiredReason(policy_, clock_.NowUnix());
  if (reason && !expiry_logged_) {
    expiry_logged_ = true;
    log::Warn("trust policy expired: this agent keeps serving and connecting, but installs nothing until the "
              "controller hands it a newer policy signed by the release root",
              {{"version", policy_.version}, {"expires", *policy_.expires}, {"detail", *reason}});
  }
  return reason;
}

}  // namespace edge::agent
