#include "tests/bench/engine/amx_sweep.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "agent/engine/kernels/cpu_features.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_amx.h"
#include "tests/bench/engine/gemm_problem.h"

namespace edge::engine::bench {
namespace {

double Seconds(QGemmFn fn, const QGemmArgs& a, int calls) {
  const auto s = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) fn(a);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count() / calls;
}

// Best of `rounds` for each kernel, the two alternating so a busy moment hits both.
std::pair<double, double> TimePair(QGemmFn first, QGemmFn second, const QGemmArgs& a) {
  const double ops = 2.0 * double(a.m) * double(a.n) * double(a.kp);
  const int calls = static_cast<int>(std::clamp(2e7 / ops, 1.0, 2000.0));
  double best_first = 1e9, best_second = 1e9;
  first(a);
  second(a);
  for (int r = 0; r < 15; ++r) {
    best_first = std::min(best_first, Seconds(first, a, calls));
    best_second = std::min(best_second, Seconds(second, a, calls));
  }
  return {best_first, best_second};
}

}  // namespace

int RunAmxCrossover(std::FILE* out) {
  if (!TierSupported(KernelTier::kAmx)) {
    std::fprintf(out, "AMX crossover skipped: no AMX here (or no OS permission for tile data)\n");
    return 0;
  }
  struct Shape {
    QGemmWeights weights;
    int64_t m, n, k;
    bool scattered;
  };
  std::vector<Shape> shapes;
  for (int64_t m : {16, 32, 64}) {
    for (int64_t n : {64, 256, 1024}) {
      for (int64_t k : {16, 36, 64, 144, 576}) shapes.push_back({QGemmWeights::kLeft, m, n, k, false});
    }
  }
  for (int64_t m : {16, 32, 64}) {
    for (int64_t k : {144, 576}) shapes.push_back({QGemmWeights::kLeft, m, 1088, k, true});
  }
  for (int64_t m : {1, 4, 8, 16, 64}) {
    for (int64_t n : {16, 64, 256}) {
      for (int64_t k : {64, 256, 1024}) shapes.push_back({QGemmWeights::kRight, m, n, k, false});
    }
  }
  std::mt19937 rng(5);
  std::fprintf(out, "| weights | M | N | K | right operand | VNNI GOP/s | AMX tiles GOP/s | AMX / VNNI | AmxPays |\n");
  std::fprintf(out, "|---|---|---|---|---|---|---|---|---|\n");
  for (const Shape& s : shapes) {
    GemmProblem p(s.weights, s.m, s.n, s.k, s.scattered, rng);
    const auto [vnni, amx] = TimePair(&QGemmAvx512Vnni, &QGemmAmxTiles, p.args);
    const double ops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    std::fprintf(out, "| %s | %lld | %lld | %lld | %s | %.1f | %.1f | %.2f | %s |\n",
                 s.weights == QGemmWeights::kLeft ? "left (conv)" : "right (gemm)", static_cast<long long>(s.m),
                 static_cast<long long>(s.n), static_cast<long long>(s.k), s.scattered ? "group table" : "packed",
                 ops / vnni / 1e9, ops / amx / 1e9, vnni / amx, AmxPays(p.args) ? "yes" : "no");
  }
  return 0;
}

}  // namespace edge::engine::bench
