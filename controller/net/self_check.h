// The decision half of the listener self-check: when to probe each listener, and when the
// results mean the process must not go on looking healthy. A listener whose accept loop has
// died still completes TCP handshakes in the kernel's backlog, so a probe counts as passed
// only if the TLS handshake answers within the deadline. Pure: time is passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/net/admission.h"

namespace edge::controller::net {

class SelfCheck {
 public:
  using Duration = std::chrono::steady_clock::duration;
  struct Options {
    Duration interval;   // between the starts of two rounds
    Duration timeout;    // a probe not finished by then has failed (< interval)
    int64_t failures;    // consecutive failed probes of one target → verdict failed
  };
  struct Failure {
    std::string target;
    int64_t consecutive = 0;
  };

  // The first round is due one interval after `start` (the listeners have just come up).
  SelfCheck(Options options, std::vector<std::string> targets, Instant start);

  // Indices of the targets to probe now: all of them when a round is due, else none. The
  // caller reports each with Finished(index, round, ok).
  std::vector<size_t> StartRoundIfDue(Instant now);
  uint64_t round() const { return round_; }
  // A probe's result. Past its deadline the probe counted as a miss; a late answer, or one for
  // an earlier round, still resets the count (a slow listener is alive: only one that answers
  // nothing for `failures` rounds in a row fails the process). A late error is ignored.
  void Finished(size_t target, uint64_t round, bool ok, Instant now);
  // How long a probe may wait for its answer at all (it counts as a miss after `timeout`).
  Duration AnswerWindow() const { return options_.interval * options_.failures; }
  // Counts probes past their deadline as failed; returns the first target with `failures`
  // consecutive failures, if any, and, where one of those was a probe that never answered,
  // once that probe's answer window has passed too (its late answer would have reset them).
  std::optional<Failure> Evaluate(Instant now);
  // When Evaluate/StartRoundIfDue next have something to do.
  Instant NextWake() const;

  const std::string& target(size_t i) const { return targets_[i].name; }
  int64_t consecutive_failures(size_t i) const { return targets_[i].consecutive_failures; }

 private:
  struct Target {
    std::string name;
    bool in_flight = false;
    Instant started{}, deadline{};
    int64_t consecutive_failures = 0;
    // When the oldest probe of the current run of failures that missed its deadline without
    // an answer started: its answer may still come until started + AnswerWindow().
    std::optional<Instant> silent_since{};
  };
  void Record(Target& t, bool ok);
  void TimedOut(Target& t);
  bool Settled(const Target& t, Instant now) const;

  Options options_;
  std::vector<Target> targets_;
  Instant next_round_;
  uint64_t round_ = 0;
};

}  // namespace edge::controller::net
