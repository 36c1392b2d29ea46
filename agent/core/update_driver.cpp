#include "agent/core/update_driver.h"

#include <algorithm>

#include "agent/core/reconcile.h"
#include "common/bundle/bundle.h"
#include "common/core/log.h"
#include "common/crypto/sha256.h"

namespace edge::agent {
namespace {

OutcomeEvent Outcome(const ModelRecord& r, std::string outcome, std::string reason, int64_t now) {
  return OutcomeEvent{0, r.model, r.target_version, std::move(outcome), std::move(reason), now, r.target_local};
}

uint64_t SecurityVersionOf(const std::string& envelope) {
  auto manifest = bundle::UnverifiedManifest(envelope);
  return manifest ? manifest->security_version : 0;
}

}  // namespace

Status UpdateDriver::Load(std::vector<ModelRecord> records) {
  for (auto& r : records) {
    if (records_.count(r.model))
      return Fail(ErrorCode::kDataLoss, "state.db holds two records for model '" + r.model + "'");
    epochs_[r.model] = 0;
    records_.emplace(r.model, std::move(r));
  }
  return Ok();
}

Result<std::vector<Command>> UpdateDriver::Resume() {
  std::vector<Command> out;
  for (auto& [model, r] : records_) {
    const UpdateAction action = ResumeAction(r.state);
    if (action == UpdateAction::kNone) continue;
    if (r.state == UpdateState::kProbation) {
      // A restart during probation counts against the new version (a crash loop rolls it back).
      ModelRecord next = r;
      ++next.probation_restarts;
      next.updated_at = clock_.NowUnix();
      if (auto s = ports_.Save(next, {}); !s) return Fail(s.error().Wrap("recording a restart during probation"));
      r = std::move(next);
    }
    if (IsBusy(r.state))
      log::Info("resuming interrupted update", {{"model", model}, {"state", StateName(r.state)}, {"target", r.target_version}});
    out.push_back(Command{model, ++epochs_[model], action, r});
  }
  return out;
}

std::vector<Command> UpdateDriver::Offer(const TargetOffer& offer) {
  const std::string digest = crypto::Sha256Hex(offer.envelope);
  ModelRecord current;
  current.model = offer.model;
  if (auto it = records_.find(offer.model); it != records_.end()) current = it->second;
  // A local install holds until an operator deploys to this device again.
  if (!offer.local && current.target_local && offer.generation <= current.pinned_generation) return {};
  // What already runs, or is being worked on, needs no new verdict: it was verified when it was
  // accepted (and the verify step checks it again). Above all, an expired policy must not turn
  // the controller's re-sent desired state for the active version into a refusal of it. (The
  // floor passed here is the device's own, so only the "nothing to do" rules can answer.)
  LocalModel view{current.active_version, current.active_digest, current.floor, current.state,
                  current.target_version, current.target_digest,
                  current.state == UpdateState::kFailed && current.target_envelope.empty()};
  if (Reconcile(view, {offer.version, digest, current.floor}) == ReconcileDecision::kNothing) return {};

  auto refuse = [&](const std::string& why) -> std::vector<Command> {
    const std::string detail = "refused " + offer.version + ": " + why;
    if (current.target_digest == digest && current.state == UpdateState::kFailed && current.detail == detail)
      return {};  // said already; the controller re-sends its desired state
    log::Warn("target version refused", {{"model", offer.model}, {"version", offer.version}, {"error", why}});
    return Apply(offer.model, Pending{UpdateEvent::kRefused, detail, NewTarget{offer.version, digest, "", offer.local}});
  };
  // Nothing signed, nothing run: verified before any byte is fetched.
  auto verified = ports_.Verify(offer.model, offer.version, offer.envelope);
  if (!verified) return refuse(verified.error().message);
  switch (Reconcile(view, {offer.version, digest, verified->security_version})) {
    case ReconcileDecision::kNothing:
    case ReconcileDecision::kAlreadyFailed:
      return {};
    case ReconcileDecision::kBelowFloor:
      if (current.target_digest == digest && current.state == UpdateState::kFailed) return {};
      return refuse("security_version " + std::to_string(verified->security_version) +
                    " is below this device's anti-rollback floor " + std::to_string(current.floor));
    case ReconcileDecision::kStart:
      break;
  }
  log::Info("new target", {{"model", offer.model}, {"version", offer.version}, {"from", current.active_version},
                           {"local", offer.local}});
  return Apply(offer.model, Pending{UpdateEvent::kNewTarget, "",
                                    NewTarget{offer.version, digest, offer.envelope, offer.local,
                                              offer.local ? offer.generation : 0, verified->bytes_total}});
}

std::vector<Command> UpdateDriver::Complete(const std::string& model, uint64_t epoch, UpdateEvent event,
                                            const std::string& detail) {
  if (!records_.count(model) || Epoch(model) != epoch) return {};  // a stale result of an abandoned step
  // A transition of this model waits to be written (a new target, or this epoch's own result):
  // it decides what comes next, and any other result of the old epoch is stale.
  if (stalled_.count(model)) return {};
  return Apply(model, Pending{event, detail, std::nullopt});
}

std::vector<Command> UpdateDriver::RetryStalled() {
  std::vector<Command> out;
  auto stalled = std::move(stalled_);
  stalled_.clear();
  for (const auto& [model, pending] : stalled) {
    auto commands = Apply(model, pending);
    out.insert(out.end(), commands.begin(), commands.end());
  }
  return out;
}

std::vector<Command> UpdateDriver::Apply(const std::string& model, const Pending& p) {
  ModelRecord base;
  base.model = model;
  if (auto it = records_.find(model); it != records_.end()) base = it->second;
  const auto t = NextTransition(base.state, p.event);
  if (!t) {
    log::Warn("dropping event not valid in state",
              {{"model", model}, {"state", StateName(base.state)}, {"event", EventName(p.event)}});
    return {};
  }
  const int64_t now = clock_.NowUnix();
  ModelRecord next = base;
  std::vector<OutcomeEvent> outcomes;
  if (p.target) {
    // The target in flight, if another replaces it, ends here with its own outcome.
    if (IsBusy(base.state) && base.target_digest != p.target->digest && t->superseded != SupersededOutcome::kNone) {
      const bool judged = t->superseded == SupersededOutcome::kRolledBack;
      outcomes.push_back(Outcome(base, judged ? "rolled_back" : "abandoned",
                                 (judged ? base.detail + "; " : std::string()) + "replaced by " + p.target->version +
                                     (p.target->envelope.empty() ? " (refused)" : "") + " before it ended",
                                 now));
    }
    next.target_version = p.target->version;
    next.target_digest = p.target->digest;
    next.target_envelope = p.target->envelope;
    next.target_local = p.target->local;
    next.pinned_generation = p.target->pinned_generation;
    next.bytes_total = p.target->bytes_total;
    next.bytes_done = 0;
  }
  if (p.event == UpdateEvent::kRefused) next.target_envelope.clear();  // marks the failure as a refusal
  next.state = t->next;
  next.detail = p.detail;
  next.updated_at = now;
  switch (t->effect) {
    case EntryEffect::kStartProbation:
      next.probation_started_at = now;
      next.probation_restarts = 0;
      break;
    case EntryEffect::kCommitTarget:
      // Committing is this write: the target becomes the active version and the floor rises.
      next.active_version = next.target_version;
      next.active_digest = next.target_digest;
      next.active_security_version = SecurityVersionOf(next.target_envelope);
      next.floor = std::max(next.floor, next.active_security_version);
      next.bytes_done = next.bytes_total;
      next.detail = "active";
      break;
    case EntryEffect::kEndUpdate:
    case EntryEffect::kNone:
      break;
  }
  if (IsOutcome(next.state))
    outcomes.push_back(Outcome(next, std::string(StateName(next.state)),
                               next.state == UpdateState::kCommitted ? "" : next.detail, now));
  // Persist first: after a crash the agent runs the entry action of the state it finds. A state
  // that ends an update carries its outcome event(s) in the same write.
  if (auto s = ports_.Save(next, outcomes); !s) {
    log::Error("cannot persist agent state; the step waits and is retried",
               {{"model", model}, {"state", StateName(next.state)}, {"error", s.error().message}});
    stalled_[model] = p;
    return {};
  }
  stalled_.erase(model);
  records_[model] = next;
  const uint64_t epoch = ++epochs_[model];
  log::Info("state", {{"model", model}, {"state", StateName(next.state)}, {"target", next.target_version},
                      {"detail", p.detail}});
  if (t->action == UpdateAction::kNone) return {};
  return {Command{model, epoch, t->action, next}};
}

void UpdateDriver::NoteProgress(const std::string& model, uint64_t epoch, uint64_t bytes_done) {
  if (auto it = records_.find(model); it != records_.end() && Epoch(model) == epoch) it->second.bytes_done = bytes_done;
}

void UpdateDriver::NoteDetail(const std::string& model, uint64_t epoch, const std::string& detail) {
  if (auto it = records_.find(model); it != records_.end() && Epoch(model) == epoch) it->second.detail = detail;
}

uint64_t UpdateDriver::Epoch(const std::string& model) const {
  auto it = epochs_.find(model);
  return it == epochs_.end() ? 0 : it->second;
}

bool UpdateDriver::Busy() const {
  return std::any_of(records_.begin(), records_.end(), [](const auto& kv) { return IsBusy(kv.second.state); });
}

}  // namespace edge::agent
