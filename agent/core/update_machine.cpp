#include "agent/core/update_machine.h"

#include <array>

namespace edge::agent {
namespace {

using S = UpdateState;
using E = UpdateEvent;
using A = UpdateAction;

struct Row {
  S state;
  E event;
  S next;
  A action;
};

// Read top to bottom: where an update goes from each state. A new target may arrive at any
// time; it abandons whatever step was running (the active version is restored if it fails).
constexpr std::array kTable{
    Row{S::kIdle, E::kNewTarget, S::kDownloading, A::kDownload},
    Row{S::kCommitted, E::kNewTarget, S::kDownloading, A::kDownload},
    Row{S::kFailed, E::kNewTarget, S::kDownloading, A::kDownload},
    Row{S::kRolledBack, E::kNewTarget, S::kDownloading, A::kDownload},

    Row{S::kDownloading, E::kDownloaded, S::kVerifying, A::kVerify},
    Row{S::kDownloading, E::kFailed, S::kFailed, A::kReportFailure},
    Row{S::kDownloading, E::kNewTarget, S::kDownloading, A::kDownload},

    Row{S::kVerifying, E::kVerified, S::kStaged, A::kInstall},
    Row{S::kVerifying, E::kFailed, S::kFailed, A::kReportFailure},
    Row{S::kVerifying, E::kNewTarget, S::kDownloading, A::kDownload},

    Row{S::kStaged, E::kInstalled, S::kActivating, A::kActivate},
    Row{S::kStaged, E::kFailed, S::kFailed, A::kReportFailure},
    Row{S::kStaged, E::kNewTarget, S::kDownloading, A::kDownload},

    // From here on the new version may have served: every failure goes through rolling_back.
    Row{S::kActivating, E::kActivated, S::kProbation, A::kWatch},
    Row{S::kActivating, E::kFailed, S::kRollingBack, A::kRollBack},
    Row{S::kActivating, E::kNewTarget, S::kDownloading, A::kDownload},

    Row{S::kProbation, E::kSoakPassed, S::kCommitted, A::kCommit},
    Row{S::kProbation, E::kFailed, S::kRollingBack, A::kRollBack},
    Row{S::kProbation, E::kNewTarget, S::kDownloading, A::kDownload},

    Row{S::kRollingBack, E::kRolledBack, S::kRolledBack, A::kReportFailure},
    Row{S::kRollingBack, E::kNewTarget, S::kDownloading, A::kDownload},
};

constexpr std::array kAllStates{S::kIdle,      S::kDownloading, S::kVerifying,   S::kStaged,     S::kActivating,
                                S::kProbation, S::kCommitted,   S::kRollingBack, S::kRolledBack, S::kFailed};

}  // namespace

std::optional<Transition> NextTransition(UpdateState state, UpdateEvent event) {
  for (const auto& row : kTable)
    if (row.state == state && row.event == event) return Transition{row.next, row.action};
  return std::nullopt;
}

UpdateAction ResumeAction(UpdateState state) {
  switch (state) {
    case S::kDownloading: return A::kDownload;
    case S::kVerifying: return A::kVerify;
    case S::kStaged: return A::kInstall;
    case S::kActivating: return A::kActivate;
    case S::kProbation: return A::kWatch;
    case S::kRollingBack: return A::kRollBack;
    default: return A::kNone;
  }
}

std::string_view StateName(UpdateState state) {
  switch (state) {
    case S::kIdle: return "idle";
    case S::kDownloading: return "downloading";
    case S::kVerifying: return "verifying";
    case S::kStaged: return "staged";
    case S::kActivating: return "activating";
    case S::kProbation: return "probation";
    case S::kCommitted: return "committed";
    case S::kRollingBack: return "rolling_back";
    case S::kRolledBack: return "rolled_back";
    case S::kFailed: return "failed";
  }
  return "idle";
}

std::optional<UpdateState> ParseState(std::string_view name) {
  for (auto s : kAllStates)
    if (StateName(s) == name) return s;
  return std::nullopt;
}

bool IsBusy(UpdateState state) { return state != S::kIdle && !IsOutcome(state); }

bool IsOutcome(UpdateState state) {
  return state == S::kCommitted || state == S::kRolledBack || state == S::kFailed;
}

}  // namespace edge::agent
