// When the agent sends status reports (DESIGN §7). Pure: the caller passes the time.
//  - periodically: every `busy_interval` while an update runs (progress), every `interval`
//    otherwise;
//  - soon after a state change, but never two within `min_gap`: a change inside the gap is
//    sent once, when the gap ends, with every change up to then.
#pragma once

#include <chrono>

namespace edge::agent {

class ReportPacer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  ReportPacer(Duration min_gap, Duration busy_interval, Duration interval)
      : min_gap_(min_gap), busy_interval_(busy_interval), interval_(interval) {}

  struct Soon {
    bool send_now = false;   // send at once (then call Sent)
    bool schedule = false;   // arm a timer for `at` (none is armed yet); call Fired when it runs
    TimePoint at{};
  };
  // A state changed at `now`.
  Soon StateChanged(TimePoint now) {
    if (now - last_sent_ >= min_gap_) return {true, false, now};
    if (pending_) return {false, false, last_sent_ + min_gap_};
    pending_ = true;
    return {false, true, last_sent_ + min_gap_};
  }
  // The timer armed by StateChanged ran (or was cancelled).
  void Fired() { pending_ = false; }
  // Whether the periodic report is due at `now`; if so it counts as sent.
  bool PeriodicDue(TimePoint now, bool busy) {
    if (now - last_periodic_ < (busy ? busy_interval_ : interval_)) return false;
    last_periodic_ = now;
    return true;
  }
  // A report went out at `now` (whatever made it).
  void Sent(TimePoint now) { last_sent_ = now; }

 private:
  Duration min_gap_, busy_interval_, interval_;
  TimePoint last_sent_{};
  TimePoint last_periodic_{};
  bool pending_ = false;
};

}  // namespace edge::agent
