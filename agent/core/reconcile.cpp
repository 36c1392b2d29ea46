#include "agent/core/reconcile.h"

namespace edge::agent {

ReconcileDecision Reconcile(const LocalModel& local, const DesiredModelView& desired) {
  // Redeploying what already runs is a no-op.
  if (!local.active_digest.empty() && local.active_digest == desired.digest && !IsBusy(local.state))
    return ReconcileDecision::kNothing;
  if (local.target_digest == desired.digest) {
    if (IsBusy(local.state)) return ReconcileDecision::kNothing;
    // A version that failed or was rolled back here is bad on this device: never retried by
    // itself. A refusal is not such a verdict: a newer trust policy may accept the envelope
    // (a rotated-in key, or an expired policy replaced), and the caller has just verified it.
    const bool refused = local.state == UpdateState::kFailed && local.target_refused;
    if ((local.state == UpdateState::kFailed || local.state == UpdateState::kRolledBack) && !refused)
      return ReconcileDecision::kAlreadyFailed;
  }
  // Going back to the active version while another target is in flight: restart towards it
  // is still checked against the floor below (it passes, since the floor came from it).
  if (desired.security_version < local.floor) return ReconcileDecision::kBelowFloor;
  return ReconcileDecision::kStart;
}

}  // namespace edge::agent
