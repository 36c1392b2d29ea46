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
    targets_[i].deadline = now + options_.timeout;
    due.push_back(i);
  }
  return due;
}

void SelfCheck::Record(Target& t, bool ok) {
  t.in_flight = false;
  t.consecutive_failures = ok ? 0 : t.consecutive_failures + 1;
}

void SelfCheck::Finished(size_t target, uint64_t round, bool ok, Instant now) {
  if (target >= targets_.size()) return;
  auto& t = targets_[target];
  const bool current = round == round_ && t.in_flight;
  if (current && now <= t.deadline) return Record(t, ok);
  if (current) Record(t, false);  // past its deadline: a miss...
  // ...but an answer, however late and from whichever round, shows the listener alive: on a
  // saturated host its answers are slow, and exiting would turn a busy controller into a
  // reconnect storm.
  if (ok) t.consecutive_failures = 0;
}

std::optional<SelfCheck::Failure> SelfCheck::Evaluate(Instant now) {
  for (auto& t : targets_)
    if (t.in_flight && now > t.deadline) Record(t, false);
  for (const auto& t : targets_)
    if (t.consecutive_failures >= options_.failures) return Failure{t.name, t.consecutive_failures};
  return std::nullopt;
}

Instant SelfCheck::NextWake() const {
  Instant wake = next_round_;
  for (const auto& t : targets_)
    if (t.in_flight) wake = std::min(wake, t.deadline + std::chrono::milliseconds(1));
  return wake;
}

}  // namespace edge::controller::net
