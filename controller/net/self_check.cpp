#include "controller/net/self_check.h"

#include <algorithm>

namespace edge::controller::net {

SelfCheck::SelfCheck(Options options, std::vector<std::string> targets, Instant start)
    : options_(options), next_round_(start + options.interval) {
  for (auto& name : targets) targets_.push_back(Target{std::move(name)});
}

std::vector<size_t> SelfCheck::StartRoundIfDue(Instant now) {
  if (now < next_round_) return {};
  Evaluate(now);  // a probe still in flight from the last round has failed by now
  ++round_;
  // The next round is one interval after this one was due, not after `now`: a late tick
  // (a busy loop) does not push the schedule back for ever.
  next_round_ = std::max(next_round_ + options_.interval, now + options_.interval / 2);
  std::vector<size_t> due;
  for (size_t i = 0; i < targets_.size(); ++i) {
    targets_[i].in_flight = true;
    targets_[i].started = now;
    targets_[i].deadline = now + options_.timeout;
    due.push_back(i);
  }
  return due;
}

void SelfCheck::Record(Target& t, bool ok) {
  t.in_flight = false;
  t.consecutive_failures = ok ? 0 : t.consecutive_failures + 1;
  if (ok) t.silent_since.reset();
}

// A probe past its deadline with no answer: a miss, whose answer may still come.
void SelfCheck::TimedOut(Target& t) {
  if (t.consecutive_failures == 0) t.silent_since.reset();  // a new run of failures
  if (!t.silent_since) t.silent_since = t.started;
  Record(t, false);
}

bool SelfCheck::Settled(const Target& t, Instant now) const {
  return !t.silent_since || now >= *t.silent_since + AnswerWindow();
}

void SelfCheck::Finished(size_t target, uint64_t round, bool ok, Instant now) {
  if (target >= targets_.size()) return;
  auto& t = targets_[target];
  const bool current = round == round_ && t.in_flight;
  if (current && now <= t.deadline) return Record(t, ok);
  if (current) Record(t, false);  // past its deadline: a miss (answered, so not a silent one)...
  // ...but an answer, however late and from whichever round, shows the listener alive: on a
  // saturated host its answers are slow, and exiting would turn a busy controller into a
  // reconnect storm. (A late error leaves a silent probe's mark: the verdict may wait longer.)
  if (ok) {
    t.consecutive_failures = 0;
    t.silent_since.reset();
  }
}

std::optional<SelfCheck::Failure> SelfCheck::Evaluate(Instant now) {
  for (auto& t : targets_)
    if (t.in_flight && now > t.deadline) TimedOut(t);
  for (const auto& t : targets_)
    if (t.consecutive_failures >= options_.failures && Settled(t, now)) return Failure{t.name, t.consecutive_failures};
  return std::nullopt;
}

Instant SelfCheck::NextWake() const {
  Instant wake = next_round_;
  for (const auto& t : targets_) {
    if (t.in_flight) wake = std::min(wake, t.deadline + std::chrono::milliseconds(1));
    if (t.consecutive_failures >= options_.failures && t.silent_since) wake = std::min(wake, *t.silent_since + AnswerWindow());
  }
  return wake;
}

}  // namespace edge::controller::net
