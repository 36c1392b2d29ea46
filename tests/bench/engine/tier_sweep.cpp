#include "tests/bench/engine/tier_sweep.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/cpu_features.h"
#include "agent/engine/kernels/qgemm.h"
#include "tests/bench/engine/gemm_problem.h"

namespace edge::engine::bench {
namespace {

// Best of `repeats` runs after a warm-up: on a shared machine the minimum is the kernel's speed.
double BestSeconds(QGemmFn fn, const QGemmArgs& a, int repeats) {
  fn(a);
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto s = std::chrono::steady_clock::now();
    fn(a);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  return best;
}

struct Shape {
  const char* label;
  QGemmWeights weights;
  int64_t m, n, k;
};

}  // namespace

int RunTierSweep(std::FILE* out) {
  std::vector<KernelTier> tiers;
  for (KernelTier t : kAllTiers)
    if (TierSupported(t)) tiers.push_back(t);
  const std::vector<Shape> shapes = {
      {"64x64x64", QGemmWeights::kRight, 64, 64, 64},
      {"256x256x256", QGemmWeights::kRight, 256, 256, 256},
      {"conv 64ch 32x32 3x3 (M=64 N=1024 K=576)", QGemmWeights::kLeft, 64, 1024, 576},
      {"GEMV 1x1024x512", QGemmWeights::kRight, 1, 512, 1024},
  };
  std::fprintf(out, "int8 GEMM by kernel tier, GOP/s (2*M*N*K per second), best of 3 passes x 5-50 runs, one "
                    "thread. auto = %s here.\n\n| shape |",
               std::string(KernelTierName(BestSupportedTier())).c_str());
  for (KernelTier t : tiers) std::fprintf(out, " %s |", std::string(KernelTierName(t)).c_str());
  std::fprintf(out, "\n|---|");
  for (size_t i = 0; i < tiers.size(); ++i) std::fprintf(out, "---|");
  std::fprintf(out, "\n");
  std::mt19937 rng(11);
  for (const Shape& s : shapes) {
    GemmProblem problem(s.weights, s.m, s.n, s.k, /*scattered=*/false, rng);
    const double ops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    std::vector<double> best(tiers.size(), 0.0);
    for (int pass = 0; pass < 3; ++pass) {
      for (size_t i = 0; i < tiers.size(); ++i) {
        // the scalar reference is slow: fewer runs
        const int repeats = tiers[i] == KernelTier::kScalar ? 5 : 50;
        best[i] = std::max(best[i], ops / BestSeconds(QGemmForTier(tiers[i]), problem.args, repeats));
      }
    }
    std::fprintf(out, "| %s |", s.label);
    for (double b : best) std::fprintf(out, " %.2f |", b / 1e9);
    std::fprintf(out, "\n");
  }
  return 0;
}

}  // namespace edge::engine::bench
