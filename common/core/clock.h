// Injected time: pure code never reads the system clock itself.
#pragma once

#include <chrono>
#include <cstdint>

namespace edge {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock unix seconds (certificate validity, token expiry, manifest expiry).
  virtual int64_t NowUnix() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnix() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now) : now_(now) {}
  int64_t NowUnix() const override { return now_; }
  void Advance(int64_t seconds) { now_ += seconds; }
  void Set(int64_t now) { now_ = now; }

 private:
  int64_t now_;
};

}  // namespace edge
