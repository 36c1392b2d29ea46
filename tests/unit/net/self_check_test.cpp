#include <catch2/catch.hpp>

#include "controller/net/self_check.h"

using namespace edge::controller::net;
using namespace std::chrono_literals;

namespace {
const Instant start{};
SelfCheck Make() { return SelfCheck({5s, 2s, 3}, {"agent (public)", "agent (internal)"}, start); }

// Runs one round at `at`: target 0 answers `ok0`, target 1 answers ok.
std::optional<SelfCheck::Failure> Round(SelfCheck& c, Instant at, bool ok0) {
  auto due = c.StartRoundIfDue(at);
  REQUIRE(due.size() == 2);
  c.Finished(0, c.round(), ok0, at + 10ms);
  c.Finished(1, c.round(), true, at + 10ms);
  return c.Evaluate(at + 10ms);
}
}  // namespace

TEST_CASE("Self-check: rounds come once per interval, starting one interval after start") {
  auto c = Make();
  CHECK(c.StartRoundIfDue(start).empty());
  CHECK(c.StartRoundIfDue(start + 4s).empty());
  CHECK(c.NextWake() == start + 5s);
  CHECK(c.StartRoundIfDue(start + 5s).size() == 2);
  CHECK(c.StartRoundIfDue(start + 6s).empty());
  CHECK(c.NextWake() <= start + 7s + 1ms);  // the in-flight probes' deadline
}

TEST_CASE("Self-check: N consecutive failures of one listener fail the process, a success resets") {
  auto c = Make();
  CHECK_FALSE(Round(c, start + 5s, false));
  CHECK_FALSE(Round(c, start + 10s, false));
  CHECK_FALSE(Round(c, start + 15s, true));  // reset
  CHECK(c.consecutive_failures(0) == 0);
  CHECK_FALSE(Round(c, start + 20s, false));
  CHECK_FALSE(Round(c, start + 25s, false));
  auto failure = Round(c, start + 30s, false);
  REQUIRE(failure);
  CHECK(failure->target == "agent (public)");
  CHECK(failure->consecutive == 3);
}

TEST_CASE("Self-check: a probe that never answers fails at its deadline, three in a row fail the process") {
  auto c = Make();
  for (int round = 1; round <= 3; ++round) {
    const Instant at = start + round * 5s;
    REQUIRE(c.StartRoundIfDue(at).size() == 2);
    c.Finished(1, c.round(), true, at + 10ms);  // only the internal listener answers
    CHECK_FALSE(c.Evaluate(at + 1s));           // not yet past the deadline
    CHECK_FALSE(c.Evaluate(at + 2s + 1ms));
    CHECK(c.consecutive_failures(0) == round);
    if (round < 3) c.Finished(0, c.round(), false, at + 3s);  // a late error changes nothing
  }
  // Three misses at 17 s, but the first probe (sent at 5 s) may still answer until 5 s + the
  // answer window (15 s): the verdict waits for that, and the wake-up is set for it.
  CHECK(c.NextWake() <= start + 20s);
  CHECK_FALSE(c.Evaluate(start + 19s));
  auto verdict = c.Evaluate(start + 20s);
  REQUIRE(verdict);
  CHECK(verdict->target == "agent (public)");
}

TEST_CASE("Self-check: the first silent probe answering within its window saves a listener with three misses") {
  auto c = Make();
  REQUIRE(c.StartRoundIfDue(start + 5s).size() == 2);
  const auto first = c.round();
  c.Finished(1, first, true, start + 5s + 10ms);  // the internal listener answers every round
  for (int round = 2; round <= 3; ++round) {
    REQUIRE(c.StartRoundIfDue(start + round * 5s).size() == 2);
    c.Finished(1, c.round(), true, start + round * 5s + 10ms);
  }
  CHECK_FALSE(c.Evaluate(start + 17s + 1ms));
  CHECK(c.consecutive_failures(0) == 3);
  c.Finished(0, first, true, start + 19s);  // 14 s late: alive
  CHECK(c.consecutive_failures(0) == 0);
  CHECK_FALSE(c.Evaluate(start + 21s));
  // Three errors answered at once after that: a verdict on the third, no window to wait for
  // (the late answer cleared the silent probe's mark).
  for (int round = 4; round <= 6; ++round) {
    REQUIRE(c.StartRoundIfDue(start + round * 5s).size() == 2);
    c.Finished(1, c.round(), true, start + round * 5s + 10ms);
    c.Finished(0, c.round(), false, start + round * 5s + 10ms);
  }
  auto verdict = c.Evaluate(start + 30s + 20ms);
  REQUIRE(verdict);
  CHECK(verdict->consecutive == 3);
}

TEST_CASE("Self-check: a late answer is a miss at its deadline, but it shows the listener alive") {
  auto c = Make();
  CHECK(c.AnswerWindow() == 15s);
  // A saturated host: every answer comes 4 s after its probe (deadline 2 s).
  for (int round = 1; round <= 6; ++round) {
    const Instant at = start + round * 5s;
    REQUIRE(c.StartRoundIfDue(at).size() == 2);
    c.Finished(1, c.round(), true, at + 10ms);
    CHECK_FALSE(c.Evaluate(at + 2s + 1ms));
    CHECK(c.consecutive_failures(0) == 1);
    c.Finished(0, c.round(), true, at + 4s);
    CHECK(c.consecutive_failures(0) == 0);
  }
  // Answers later than a round: the next round's miss counts, the old answer resets.
  REQUIRE(c.StartRoundIfDue(start + 35s).size() == 2);
  const auto slow_round = c.round();
  CHECK_FALSE(c.Evaluate(start + 37s + 1ms));
  REQUIRE(c.StartRoundIfDue(start + 40s).size() == 2);
  CHECK_FALSE(c.Evaluate(start + 42s + 1ms));
  CHECK(c.consecutive_failures(0) == 2);
  c.Finished(0, slow_round, true, start + 43s);
  CHECK(c.consecutive_failures(0) == 0);
}

TEST_CASE("Self-check: a probe still out when the next round starts is a miss") {
  auto c = Make();
  REQUIRE(c.StartRoundIfDue(start + 5s).size() == 2);
  REQUIRE(c.StartRoundIfDue(start + 10s).size() == 2);
  CHECK(c.consecutive_failures(0) == 1);
  c.Finished(0, c.round(), true, start + 10s + 2ms);
  CHECK(c.consecutive_failures(0) == 0);
}

TEST_CASE("Self-check: a late tick does not delay every later round") {
  auto c = Make();
  REQUIRE(c.StartRoundIfDue(start + 8s).size() == 2);  // 3 s late
  c.Finished(0, c.round(), true, start + 8s + 1ms);
  c.Finished(1, c.round(), true, start + 8s + 1ms);
  // Not 8 s + a whole interval: the schedule catches up (but keeps half an interval apart).
  CHECK(c.NextWake() <= start + 10500ms);
  CHECK(c.NextWake() >= start + 10s);
}
