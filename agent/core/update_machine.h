// The agent's per-model update state machine (DESIGN §7) as one transition table.
// Pure: no I/O. The daemon persists the new state BEFORE performing the action, so after a
// crash it re-runs the action of the persisted state (every action is idempotent).
#pragma once

#include <optional>
#include <string_view>

namespace edge::agent {

enum class UpdateState { kIdle, kDownloading, kVerifying, kStaged, kActivating, kCommitted, kFailed };

enum class UpdateEvent {
  kNewTarget,        // a verified, different desired version arrived
  kDownloaded,       // every blob is on disk
  kVerified,         // blob digests, sizes and manifest re-verified
  kInstalled,        // models/<name>/<version> complete
  kActivated,        // current → new version, previous → old
  kFailed,           // the running step failed (detail says why)
};

enum class UpdateAction {
  kNone,
  kDownload,         // fetch missing blobs (resuming partial ones)
  kVerify,
  kInstall,
  kActivate,
  kCommit,           // record the new active version, raise the anti-rollback floor, report
  kReportFailure,    // keep the old version, record and report why
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
// Whether the state is in the middle of an update (not idle, committed or failed).
bool IsBusy(UpdateState state);

}  // namespace edge::agent
