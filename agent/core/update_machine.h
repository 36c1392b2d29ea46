// The agent's per-model update state machine (DESIGN §7) as one transition table.
// Pure: no I/O. The daemon persists the new state BEFORE performing the action, so after a
// crash it re-runs the action of the persisted state (every action is idempotent).
//
//   idle → downloading → verifying → staged → activating → probation → committed
//                  ↘ failed (nothing was switched)        ↘ rolling_back → rolled_back
#pragma once

#include <optional>
#include <string_view>

namespace edge::agent {

enum class UpdateState {
  kIdle,
  kDownloading,
  kVerifying,
  kStaged,
  kActivating,   // health gate, then the switch of `current` and of serving
  kProbation,    // the new version serves; it is watched for the soak period
  kCommitted,    // resting: the target is the active version
  kRollingBack,  // `current` and serving go back to the active version
  kRolledBack,   // resting: the target is bad on this device and is never retried by itself
  kFailed,       // resting: the target never served (refused, download/verify/install error)
};

enum class UpdateEvent {
  kNewTarget,   // a verified, different desired version arrived
  kDownloaded,  // every blob is on disk
  kVerified,    // blob digests, sizes and manifest re-verified
  kInstalled,   // models/<name>/<version> complete
  kActivated,   // the gate passed; current → new version, previous → old; new requests use it
  kSoakPassed,  // the soak period ended with healthy numbers and a passing self-test re-run
  kRolledBack,  // current and serving are back on the active version
  kFailed,      // the running step failed, or probation judged the version bad (detail says why)
};

enum class UpdateAction {
  kNone,
  kDownload,        // fetch missing blobs (resuming partial ones)
  kVerify,
  kInstall,
  kActivate,        // load next to the serving version, health gate, switch
  kWatch,           // probation: count a restart, then watch until the soak period ends
  kCommit,          // previous becomes collectable; report
  kRollBack,        // switch back to the active version (or to nothing if none was committed)
  kReportFailure,   // keep the old version, record and report why
};

struct Transition {
  UpdateState next;
  UpdateAction action;
};

// The table. Returns nullopt for an event that is not valid in `state` (a bug in the caller,
// or a stale event from an abandoned step: the daemon drops it).
std::optional<Transition> NextTransition(UpdateState state, UpdateEvent event);

// The action to re-run after a restart in `state` (kNone for resting states).
UpdateAction ResumeAction(UpdateState state);

std::string_view StateName(UpdateState state);
std::optional<UpdateState> ParseState(std::string_view name);
// Whether the state is in the middle of an update (not idle, committed, rolled_back or failed).
bool IsBusy(UpdateState state);
// Resting states that end an update: each is reported as the update's outcome exactly once.
bool IsOutcome(UpdateState state);

}  // namespace edge::agent
