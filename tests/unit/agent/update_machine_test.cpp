// Properties of the update table (agent/core/update_machine.h), checked over every (state, event)
// pair rather than by copying the table's rows.
#include <catch2/catch.hpp>

#include <map>
#include <queue>
#include <set>

#include "agent/core/update_machine.h"

using namespace edge::agent;
using S = UpdateState;
using E = UpdateEvent;
using A = UpdateAction;

namespace {

// Every state reachable from `from` through the table.
std::set<S> Reachable(S from, const std::set<E>& excluded = {}) {
  std::set<S> seen{from};
  std::queue<S> todo;
  todo.push(from);
  while (!todo.empty()) {
    const S s = todo.front();
    todo.pop();
    for (E e : AllEvents()) {
      if (excluded.count(e)) continue;
      if (auto t = NextTransition(s, e); t && seen.insert(t->next).second) todo.push(t->next);
    }
  }
  return seen;
}

// The events a step of `state` reports (everything but arrivals of another target).
bool IsStepEvent(E e) { return e != E::kNewTarget && e != E::kRefused; }

bool Restores(A action) { return action == A::kRollBack || action == A::kRestoreActive; }

}  // namespace

TEST_CASE("Every state is reachable from idle", "[update_machine]") {
  const auto reachable = Reachable(S::kIdle);
  for (S s : AllStates()) {
    INFO(StateName(s));
    CHECK(reachable.count(s));
  }
}

TEST_CASE("Every busy state has a failure path and reaches an outcome by its own steps", "[update_machine]") {
  for (S s : AllStates()) {
    if (!IsBusy(s)) continue;
    INFO(StateName(s));
    bool failure_path = false;
    for (E e : {E::kFailed, E::kRefused})
      if (auto t = NextTransition(s, e)) failure_path = true;
    // rolling_back is the failure path itself: it has no failure of its own (a restore is retried).
    CHECK((failure_path || s == S::kRollingBack));
    // Without any new target arriving, some outcome is reachable.
    const auto reachable = Reachable(s, {E::kNewTarget, E::kRefused});
    bool outcome = false;
    for (S r : reachable) outcome = outcome || IsOutcome(r);
    CHECK(outcome);
  }
}

TEST_CASE("Nothing that may have served reaches a resting state without the active version restored",
          "[update_machine]") {
  // From activating, probation and rolling_back, every transition into a resting state other
  // than committed (where the version that served becomes the active one) has an entry action
  // that restores the active version. (Into downloading, the download's first step restores it.)
  for (S s : {S::kActivating, S::kProbation, S::kRollingBack}) {
    for (E e : AllEvents()) {
      auto t = NextTransition(s, e);
      if (!t) continue;
      INFO(StateName(s) << " --" << EventName(e) << "--> " << StateName(t->next));
      if (!IsBusy(t->next) && t->next != S::kCommitted) CHECK(Restores(t->action));
      if (t->next == S::kFailed) CHECK(t->action == A::kRestoreActive);
    }
  }
  // A version that failed on its own after it may have served is rolled back first.
  for (S s : {S::kActivating, S::kProbation}) {
    auto t = NextTransition(s, E::kFailed);
    REQUIRE(t);
    CHECK(t->next == S::kRollingBack);
  }
  // Before activation nothing was switched: a failure is just failed.
  for (S s : {S::kDownloading, S::kVerifying, S::kStaged}) {
    auto t = NextTransition(s, E::kFailed);
    REQUIRE(t);
    CHECK(t->next == S::kFailed);
  }
}

TEST_CASE("A new target is accepted in every state and a refusal ends in failed from every state",
          "[update_machine]") {
  for (S s : AllStates()) {
    INFO(StateName(s));
    auto n = NextTransition(s, E::kNewTarget);
    REQUIRE(n);
    CHECK(n->next == S::kDownloading);
    auto r = NextTransition(s, E::kRefused);
    REQUIRE(r);
    CHECK(r->next == S::kFailed);
    // The target in flight gets an outcome of its own: abandoned, or rolled_back when it was
    // already judged bad. Resting states have nothing in flight.
    const SupersededOutcome expected = !IsBusy(s)                ? SupersededOutcome::kNone
                                       : s == S::kRollingBack ? SupersededOutcome::kRolledBack
                                                                 : SupersededOutcome::kAbandoned;
    CHECK(n->superseded == expected);
    CHECK(r->superseded == expected);
  }
}

TEST_CASE("Step events are valid only in the state whose step reports them", "[update_machine]") {
  // Each step event is valid in exactly one state (a stale one elsewhere is dropped).
  std::map<E, int> valid_in;
  for (S s : AllStates())
    for (E e : AllEvents())
      if (IsStepEvent(e) && NextTransition(s, e)) ++valid_in[e];
  CHECK(valid_in[E::kDownloaded] == 1);
  CHECK(valid_in[E::kVerified] == 1);
  CHECK(valid_in[E::kInstalled] == 1);
  CHECK(valid_in[E::kActivated] == 1);
  CHECK(valid_in[E::kSoakPassed] == 1);
  CHECK(valid_in[E::kRolledBack] == 1);
  // kFailed: the five states with a step that can fail.
  CHECK(valid_in[E::kFailed] == 5);
  // Resting states take no step events at all.
  for (S s : AllStates()) {
    if (IsBusy(s)) continue;
    for (E e : AllEvents())
      if (IsStepEvent(e)) CHECK_FALSE(NextTransition(s, e));
  }
}

TEST_CASE("The resume action is the entry action of every state and matches every way in", "[update_machine]") {
  for (S s : AllStates())
    for (E e : AllEvents())
      if (auto t = NextTransition(s, e)) {
        INFO(StateName(s) << " --" << EventName(e) << "--> " << StateName(t->next));
        CHECK(t->action == ResumeAction(t->next));
        CHECK(t->effect == EntryEffectOf(t->next));
      }
  // Only idle has nothing to do after a restart; every other state re-establishes itself.
  for (S s : AllStates()) {
    INFO(StateName(s));
    CHECK((ResumeAction(s) == A::kNone) == (s == S::kIdle));
  }
}

TEST_CASE("Entry effects: probation starts a soak, committed commits, outcomes end the update", "[update_machine]") {
  CHECK(EntryEffectOf(S::kProbation) == EntryEffect::kStartProbation);
  CHECK(EntryEffectOf(S::kCommitted) == EntryEffect::kCommitTarget);
  for (S s : AllStates()) {
    INFO(StateName(s));
    CHECK(IsOutcome(s) == (s == S::kCommitted || s == S::kRolledBack || s == S::kFailed));
    CHECK(IsBusy(s) == (s != S::kIdle && !IsOutcome(s)));
  }
  // committed is reachable only through a passed soak.
  for (S s : AllStates())
    for (E e : AllEvents())
      if (auto t = NextTransition(s, e); t && t->next == S::kCommitted) CHECK((s == S::kProbation && e == E::kSoakPassed));
}

TEST_CASE("Names round trip and unknown names are refused", "[update_machine]") {
  std::set<std::string_view> names;
  for (S s : AllStates()) {
    auto parsed = ParseState(StateName(s));
    REQUIRE(parsed);
    CHECK(*parsed == s);
    names.insert(StateName(s));
  }
  CHECK(names.size() == AllStates().size());
  CHECK_FALSE(ParseState("Idle"));
  CHECK_FALSE(ParseState(""));
  CHECK_FALSE(ParseState("rolling-back"));
}
