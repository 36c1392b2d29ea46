// Monotonic time for measured durations, injected so that tests of timed code step it.
#pragma once

#include <chrono>
#include <cstdint>

namespace edge::metrics {

class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  virtual int64_t NowNs() const = 0;
  double SecondsSince(int64_t start_ns) const {
    return static_cast<double>(NowNs() - start_ns) * 1e-9;
  }
};

class SteadyClock final : public MonotonicClock {
 public:
  int64_t NowNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class FakeMonotonicClock final : public MonotonicClock {
 public:
  int64_t NowNs() const override { return now_ns_; }
  void Advance(std::chrono::nanoseconds by) { now_ns_ += by.count(); }

 private:
  int64_t now_ns_ = 0;
};

}  // namespace edge::metrics
