#include "agent/core/update_machine.h"

#include <catch2/catch.hpp>

#include <tuple>
#include <vector>

using namespace edge::agent;
using S = UpdateState;
using E = UpdateEvent;
using A = UpdateAction;

namespace {

const S kAllStates[] = {S::kIdle,      S::kDownloading, S::kVerifying,   S::kStaged,     S::kActivating,
                        S::kProbation, S::kCommitted,   S::kRollingBack, S::kRolledBack, S::kFailed};
const E kAllEvents[] = {E::kNewTarget, E::kDownloaded, E::kVerified,  E::kInstalled,
                        E::kActivated, E::kSoakPassed, E::kRolledBack, E::kFailed};

// The whole table, as DESIGN §7 states it. Every (state, event) pair not listed is invalid.
const std::vector<std::tuple<S, E, S, A>> kExpected = {
    {S::kIdle, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kCommitted, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kFailed, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kRolledBack, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kDownloading, E::kDownloaded, S::kVerifying, A::kVerify},
    {S::kDownloading, E::kFailed, S::kFailed, A::kReportFailure},
    {S::kDownloading, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kVerifying, E::kVerified, S::kStaged, A::kInstall},
    {S::kVerifying, E::kFailed, S::kFailed, A::kReportFailure},
    {S::kVerifying, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kStaged, E::kInstalled, S::kActivating, A::kActivate},
    {S::kStaged, E::kFailed, S::kFailed, A::kReportFailure},
    {S::kStaged, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kActivating, E::kActivated, S::kProbation, A::kWatch},
    {S::kActivating, E::kFailed, S::kRollingBack, A::kRollBack},
    {S::kActivating, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kProbation, E::kSoakPassed, S::kCommitted, A::kCommit},
    {S::kProbation, E::kFailed, S::kRollingBack, A::kRollBack},
    {S::kProbation, E::kNewTarget, S::kDownloading, A::kDownload},
    {S::kRollingBack, E::kRolledBack, S::kRolledBack, A::kReportFailure},
    {S::kRollingBack, E::kNewTarget, S::kDownloading, A::kDownload},
};

const std::tuple<S, E, S, A>* FindExpected(S s, E e) {
  for (const auto& row : kExpected)
    if (std::get<0>(row) == s && std::get<1>(row) == e) return &row;
  return nullptr;
}

S Step(S s, E e) {
  auto t = NextTransition(s, e);
  REQUIRE(t);
  return t->next;
}

}  // namespace

TEST_CASE("Every row of the transition table", "[update_machine]") {
  for (const auto& [state, event, next, action] : kExpected) {
    INFO("state " << StateName(state) << " event " << static_cast<int>(event));
    auto t = NextTransition(state, event);
    REQUIRE(t);
    CHECK(t->next == next);
    CHECK(t->action == action);
  }
}

TEST_CASE("Every pair not in the table is invalid and returns nullopt", "[update_machine]") {
  int invalid = 0;
  for (auto s : kAllStates) {
    for (auto e : kAllEvents) {
      if (FindExpected(s, e)) continue;
      INFO("state " << StateName(s) << " event " << static_cast<int>(e));
      CHECK_FALSE(NextTransition(s, e).has_value());
      ++invalid;
    }
  }
  CHECK(invalid == 10 * 8 - static_cast<int>(kExpected.size()));
  // A few named stale events.
  CHECK_FALSE(NextTransition(S::kIdle, E::kDownloaded));
  CHECK_FALSE(NextTransition(S::kIdle, E::kFailed));
  CHECK_FALSE(NextTransition(S::kCommitted, E::kActivated));
  CHECK_FALSE(NextTransition(S::kFailed, E::kFailed));
  CHECK_FALSE(NextTransition(S::kDownloading, E::kVerified));
}

TEST_CASE("ResumeAction re-runs the busy state's action and nothing for resting states", "[update_machine]") {
  CHECK(ResumeAction(S::kIdle) == A::kNone);
  CHECK(ResumeAction(S::kDownloading) == A::kDownload);
  CHECK(ResumeAction(S::kVerifying) == A::kVerify);
  CHECK(ResumeAction(S::kStaged) == A::kInstall);
  CHECK(ResumeAction(S::kActivating) == A::kActivate);
  CHECK(ResumeAction(S::kProbation) == A::kWatch);
  CHECK(ResumeAction(S::kRollingBack) == A::kRollBack);
  CHECK(ResumeAction(S::kCommitted) == A::kNone);
  CHECK(ResumeAction(S::kRolledBack) == A::kNone);
  CHECK(ResumeAction(S::kFailed) == A::kNone);
}

TEST_CASE("ResumeAction matches the action that led into each busy state", "[update_machine]") {
  for (const auto& [state, event, next, action] : kExpected) {
    if (action == A::kCommit || action == A::kReportFailure) continue;
    INFO(StateName(next));
    CHECK(ResumeAction(next) == action);
  }
}

TEST_CASE("StateName and ParseState round trip", "[update_machine]") {
  for (auto s : kAllStates) {
    auto parsed = ParseState(StateName(s));
    REQUIRE(parsed);
    CHECK(*parsed == s);
  }
  CHECK(StateName(S::kActivating) == "activating");
  CHECK_FALSE(ParseState("Idle"));
  CHECK_FALSE(ParseState(""));
  CHECK_FALSE(ParseState("rolling-back"));
}

TEST_CASE("IsBusy is true only mid-update", "[update_machine]") {
  CHECK_FALSE(IsBusy(S::kIdle));
  CHECK_FALSE(IsBusy(S::kCommitted));
  CHECK_FALSE(IsBusy(S::kFailed));
  CHECK_FALSE(IsBusy(S::kRolledBack));
  CHECK(IsBusy(S::kProbation));
  CHECK(IsBusy(S::kRollingBack));
  CHECK(IsBusy(S::kDownloading));
  CHECK(IsBusy(S::kVerifying));
  CHECK(IsBusy(S::kStaged));
  CHECK(IsBusy(S::kActivating));
}

TEST_CASE("Happy path from idle to committed", "[update_machine]") {
  S s = S::kIdle;
  s = Step(s, E::kNewTarget);
  CHECK(s == S::kDownloading);
  s = Step(s, E::kDownloaded);
  CHECK(s == S::kVerifying);
  s = Step(s, E::kVerified);
  CHECK(s == S::kStaged);
  s = Step(s, E::kInstalled);
  CHECK(s == S::kActivating);
  s = Step(s, E::kActivated);
  CHECK(s == S::kProbation);
  s = Step(s, E::kSoakPassed);
  CHECK(s == S::kCommitted);
  // And a later target starts again from committed.
  CHECK(Step(s, E::kNewTarget) == S::kDownloading);
}

TEST_CASE("Failure before activation goes to failed, from activation on it rolls back", "[update_machine]") {
  for (auto s : {S::kDownloading, S::kVerifying, S::kStaged}) {
    INFO(StateName(s));
    auto t = NextTransition(s, E::kFailed);
    REQUIRE(t);
    CHECK(t->next == S::kFailed);
    CHECK(t->action == A::kReportFailure);
  }
  for (auto s : {S::kActivating, S::kProbation}) {
    INFO(StateName(s));
    auto t = NextTransition(s, E::kFailed);
    REQUIRE(t);
    CHECK(t->next == S::kRollingBack);
    CHECK(t->action == A::kRollBack);
    CHECK(Step(t->next, E::kRolledBack) == S::kRolledBack);
  }
  // A rollback cannot itself fail into another state: it is retried until it completes.
  CHECK_FALSE(NextTransition(S::kRollingBack, E::kFailed));
}

TEST_CASE("Outcomes are exactly the resting states an update ends in", "[update_machine]") {
  for (auto s : kAllStates) {
    INFO(StateName(s));
    CHECK(IsOutcome(s) == (s == S::kCommitted || s == S::kRolledBack || s == S::kFailed));
  }
}

TEST_CASE("A new target abandons any busy step and restarts the download", "[update_machine]") {
  for (auto s : kAllStates) {
    INFO(StateName(s));
    auto t = NextTransition(s, E::kNewTarget);
    REQUIRE(t);
    CHECK(t->next == S::kDownloading);
    CHECK(t->action == A::kDownload);
  }
}
