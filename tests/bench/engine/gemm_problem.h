// A random int8 GEMM problem for the benchmarks: operands, per-channel requantization and an
// output buffer, with the QGemmArgs that address them.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "agent/engine/kernels/qgemm.h"

namespace edge::engine::bench {

// One problem with random operands. `scattered` addresses the right operand through a group
// table in swapped pairs, as uneven as an implicit-GEMM conv's taps: the AMX kernel gathers
// every k-step, its worst case.
struct GemmProblem {
  std::vector<uint8_t> left, right;
  std::vector<int16_t> left_widened;  // weights on the left: as a conv packs them for the AVX2 tier
  std::vector<const uint8_t*> groups;
  std::vector<int32_t> bias;
  std::vector<float> mult;
  std::vector<int8_t> out;
  QGemmArgs args;

  GemmProblem(QGemmWeights weights, int64_t m, int64_t n, int64_t k, bool scattered, std::mt19937& rng) {
    const int64_t kp = RoundUp(k, 4), np = PackedColumns(n);
    left.resize(static_cast<size_t>(m * kp));
    right.resize(static_cast<size_t>(kp * np));
    for (auto& v : left) v = static_cast<uint8_t>(rng());
    for (auto& v : right) v = static_cast<uint8_t>(rng());
    const int64_t channels = weights == QGemmWeights::kLeft ? m : np;
    bias.assign(static_cast<size_t>(channels), 7);
    mult.assign(static_cast<size_t>(channels), 1e-4f);
    out.resize(static_cast<size_t>(m * n));
    for (int64_t g = 0; g < kp / 4; ++g) {
      const int64_t slot = (g ^ 1) < kp / 4 ? g ^ 1 : g;
      groups.push_back(right.data() + slot * np * 4);
    }
    args.weights = weights;
    args.m = m;
    args.n = n;
    args.kp = kp;
    args.np = np;
    args.left = left.data();
    if (weights == QGemmWeights::kLeft) {
      left_widened.resize(static_cast<size_t>(m * kp));
      WidenLeftS8(reinterpret_cast<const int8_t*>(left.data()), m, kp, left_widened.data());
      args.left_widened = left_widened.data();
    }
    args.right = right.data();
    if (scattered) args.right_groups = groups.data();
    args.bias = bias.data();
    args.bias_signed = bias.data();  // the values do not matter for timing
    args.mult = mult.data();
    args.out = out.data();
    args.ldo = n;
  }
  GemmProblem(const GemmProblem&) = delete;  // args points into the vectors
  GemmProblem& operator=(const GemmProblem&) = delete;
};

}  // namespace edge::engine::bench
