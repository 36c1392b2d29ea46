#include "agent/core/update_machine.h"

#include <array>

namespace edge::agent {
namespace {

using S = UpdateState;
using E = UpdateEvent;
using A = UpdateAction;
using F = EntryEffect;
using O = SupersededOutcome;

// Each state: its name, its entry action (also what a restart in it runs again) and its entry
// effect (applied in the same write that records the state).
struct StateRow {
  S state;
  std::string_view name;
  A action;
  F effect;
};

constexpr std::array kStates{
    StateRow{S::kIdle, "idle", A::kNone, F::kNone},
    StateRow{S::kDownloading, "downloading", A::kDownload, F::kNone},
    StateRow{S::kVerifying, "verifying", A::kVerify, F::kNone},
    StateRow{S::kStaged, "staged", A::kInstall, F::kNone},
    StateRow{S::kActivating, "activating", A::kActivate, F::kNone},
    StateRow{S::kProbation, "probation", A::kWatch, F::kStartProbation},
    StateRow{S::kCommitted, "committed", A::kCommit, F::kCommitTarget},
    StateRow{S::kRollingBack, "rolling_back", A::kRollBack, F::kNone},
    StateRow{S::kRolledBack, "rolled_back", A::kRestoreActive, F::kEndUpdate},
    StateRow{S::kFailed, "failed", A::kRestoreActive, F::kEndUpdate},
};

struct Row {
  S state;
  E event;
  S next;
  O superseded = O::kNone;
};

// Read top to bottom: where an update goes from each state. A new target, or a refused one,
// may arrive at any time; it replaces whatever target was in flight, which gets its own
// outcome. A refused target ends in failed from everywhere: failed's entry action restores the
// active version, so a version that was activating or on probation stops serving.
constexpr std::array kTable{
    Row{S::kIdle, E::kNewTarget, S::kDownloading},
    Row{S::kIdle, E::kRefused, S::kFailed},
    Row{S::kCommitted, E::kNewTarget, S::kDownloading},
    Row{S::kCommitted, E::kRefused, S::kFailed},
    Row{S::kFailed, E::kNewTarget, S::kDownloading},
    Row{S::kFailed, E::kRefused, S::kFailed},
    Row{S::kRolledBack, E::kNewTarget, S::kDownloading},
    Row{S::kRolledBack, E::kRefused, S::kFailed},

    Row{S::kDownloading, E::kDownloaded, S::kVerifying},
    Row{S::kDownloading, E::kFailed, S::kFailed},
    Row{S::kDownloading, E::kNewTarget, S::kDownloading, O::kAbandoned},
    Row{S::kDownloading, E::kRefused, S::kFailed, O::kAbandoned},

    Row{S::kVerifying, E::kVerified, S::kStaged},
    Row{S::kVerifying, E::kFailed, S::kFailed},
    Row{S::kVerifying, E::kNewTarget, S::kDownloading, O::kAbandoned},
    Row{S::kVerifying, E::kRefused, S::kFailed, O::kAbandoned},

    Row{S::kStaged, E::kInstalled, S::kActivating},
    Row{S::kStaged, E::kFailed, S::kFailed},
    Row{S::kStaged, E::kNewTarget, S::kDownloading, O::kAbandoned},
    Row{S::kStaged, E::kRefused, S::kFailed, O::kAbandoned},

    // From here on the new version may have served: a failure of its own goes through
    // rolling_back; a replacement goes to downloading or failed, whose entry restores the
    // active version.
    Row{S::kActivating, E::kActivated, S::kProbation},
    Row{S::kActivating, E::kFailed, S::kRollingBack},
    Row{S::kActivating, E::kNewTarget, S::kDownloading, O::kAbandoned},
    Row{S::kActivating, E::kRefused, S::kFailed, O::kAbandoned},

    Row{S::kProbation, E::kSoakPassed, S::kCommitted},
    Row{S::kProbation, E::kFailed, S::kRollingBack},
    Row{S::kProbation, E::kNewTarget, S::kDownloading, O::kAbandoned},
    Row{S::kProbation, E::kRefused, S::kFailed, O::kAbandoned},

    Row{S::kRollingBack, E::kRolledBack, S::kRolledBack},
    Row{S::kRollingBack, E::kNewTarget, S::kDownloading, O::kRolledBack},
    Row{S::kRollingBack, E::kRefused, S::kFailed, O::kRolledBack},
};

const StateRow& RowOf(S state) {
  for (const auto& s : kStates)
    if (s.state == state) return s;
  return kStates[0];
}

}  // namespace

std::optional<Transition> NextTransition(UpdateState state, UpdateEvent event) {
  for (const auto& row : kTable)
    if (row.state == state && row.event == event) {
      const auto& entry = RowOf(row.next);
      return Transition{row.next, entry.action, entry.effect, row.superseded};
    }
  return std::nullopt;
}

UpdateAction ResumeAction(UpdateState state) { return RowOf(state).action; }
EntryEffect EntryEffectOf(UpdateState state) { return RowOf(state).effect; }
std::string_view StateName(UpdateState state) { return RowOf(state).name; }

std::optional<UpdateState> ParseState(std::string_view name) {
  for (const auto& s : kStates)
    if (s.name == name) return s.state;
  return std::nullopt;
}

std::string_view EventName(UpdateEvent event) {
  switch (event) {
    case E::kNewTarget: return "new_target";
    case E::kRefused: return "refused";
    case E::kDownloaded: return "downloaded";
    case E::kVerified: return "verified";
    case E::kInstalled: return "installed";
    case E::kActivated: return "activated";
    case E::kSoakPassed: return "soak_passed";
    case E::kRolledBack: return "rolled_back";
    case E::kFailed: return "failed";
  }
  return "?";
}

std::string_view ActionName(UpdateAction action) {
  switch (action) {
    case A::kNone: return "none";
    case A::kDownload: return "download";
    case A::kVerify: return "verify";
    case A::kInstall: return "install";
    case A::kActivate: return "activate";
    case A::kWatch: return "watch";
    case A::kCommit: return "commit";
    case A::kRollBack: return "roll_back";
    case A::kRestoreActive: return "restore_active";
  }
  return "?";
}

bool IsBusy(UpdateState state) { return state != S::kIdle && !IsOutcome(state); }
bool IsOutcome(UpdateState state) { return RowOf(state).effect == F::kEndUpdate || state == S::kCommitted; }

std::vector<UpdateState> AllStates() {
  std::vector<UpdateState> out;
  for (const auto& s : kStates) out.push_back(s.state);
  return out;
}

std::vector<UpdateEvent> AllEvents() {
  return {E::kNewTarget, E::kRefused,  E::kDownloaded, E::kVerified, E::kInstalled,
          E::kActivated, E::kSoakPassed, E::kRolledBack, E::kFailed};
}

}  // namespace edge::agent
