// The agent's per-model update state machine (DESIGN §7) as one table. Pure: no I/O.
//
//   idle → downloading → verifying → staged → activating → probation → committed
//                  ↘ failed (nothing was switched)        ↘ rolling_back → rolled_back
//
// Each state has one entry action and one entry effect (kStates in update_machine.cpp). The
// driver (update_driver.h) persists the new state, with its entry effect applied, BEFORE the
// action runs; after a crash it runs the entry action of the state it finds again, so every
// action is idempotent and the resume action is the entry action — there is no second mapping.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace edge::agent {

enum class UpdateState {
  kIdle,
  kDownloading,  // the active version serves (a version abandoned mid-activation is switched off)
  kVerifying,
  kStaged,
  kActivating,   // health gate, then the switch of `current` and of serving
  kProbation,    // the new version serves; it is watched for the soak period
  kCommitted,    // resting: the target is the active version
  kRollingBack,  // `current` and serving go back to the active version
  kRolledBack,   // resting: the target is bad on this device and is never retried by itself
  kFailed,       // resting: the target never served, or was refused before any work
};

enum class UpdateEvent {
  kNewTarget,   // a verified, different desired version arrived
  kRefused,     // a target was refused before any work: signature, trust policy, floor
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
  kDownload,       // the active version serves; fetch missing blobs (resuming partial ones)
  kVerify,
  kInstall,
  kActivate,       // load next to the serving version, health gate, switch
  kWatch,          // probation: watch the serving numbers until the soak period ends
  kCommit,         // collect what the committed version no longer needs
  kRollBack,       // switch back to the active version, then report kRolledBack
  kRestoreActive,  // the active version serves (nothing when none was committed); collect the rest
};

// What entering a state does to the model's record, in the same durable write as the state.
enum class EntryEffect {
  kNone,
  kStartProbation,  // probation starts now, with no restarts counted
  kCommitTarget,    // the target becomes the active version and the floor rises to it
  kEndUpdate,       // an outcome event for the target (committed, rolled_back or failed)
};

// What becomes of the target that was in flight when a transition replaces it with another.
enum class SupersededOutcome {
  kNone,        // nothing was in flight (a resting state), or the event does not replace it
  kAbandoned,   // it had not been judged: outcome "abandoned"
  kRolledBack,  // it was being rolled back (judged bad): outcome "rolled_back"
};

struct Transition {
  UpdateState next;
  UpdateAction action;   // the entry action of `next`
  EntryEffect effect;    // the entry effect of `next`
  SupersededOutcome superseded;  // for the target in flight, when the event brings another one
};

// The table. Returns nullopt for an event that is not valid in `state` (a bug in the caller,
// or a stale event from an abandoned step: the driver drops it).
std::optional<Transition> NextTransition(UpdateState state, UpdateEvent event);

// The action to run again after a restart in `state`: its entry action.
UpdateAction ResumeAction(UpdateState state);
EntryEffect EntryEffectOf(UpdateState state);

std::string_view StateName(UpdateState state);
std::optional<UpdateState> ParseState(std::string_view name);
std::string_view EventName(UpdateEvent event);
std::string_view ActionName(UpdateAction action);
// Whether the state is in the middle of an update (not idle, committed, rolled_back or failed).
bool IsBusy(UpdateState state);
// Resting states that end an update: each is reported as the update's outcome exactly once.
bool IsOutcome(UpdateState state);

// Everything, for property tests and docs.
std::vector<UpdateState> AllStates();
std::vector<UpdateEvent> AllEvents();

}  // namespace edge::agent
