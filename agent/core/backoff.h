// Exponential backoff with full jitter: the delay before attempt n is uniform in
// [0, min(max, initial * 2^n)]. Randomness is injected so tests are deterministic.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>

namespace edge::agent {

class Backoff {
 public:
  // `uniform01` returns a number in [0, 1).
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::function<double()> uniform01)
      : initial_(initial), max_(max), uniform01_(std::move(uniform01)) {}

  // Jitter from a randomly seeded generator (the daemons; tests inject their own).
  static Backoff WithRandomJitter(std::chrono::milliseconds initial, std::chrono::milliseconds max) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    return Backoff(initial, max, [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); });
  }

  std::chrono::milliseconds NextDelay() {
    const int64_t ceiling = Ceiling().count();
    if (attempt_ < 62) ++attempt_;
    return std::chrono::milliseconds(static_cast<int64_t>(uniform01_() * static_cast<double>(ceiling)));
  }
  // The upper bound for the next delay.
  std::chrono::milliseconds Ceiling() const {
    const int64_t shift = std::min<int64_t>(attempt_, 30);
    return std::min<std::chrono::milliseconds>(max_, initial_ * (int64_t{1} << shift));
  }
  void Reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::function<double()> uniform01_;
  int64_t attempt_ = 0;
};

}  // namespace edge::agent
