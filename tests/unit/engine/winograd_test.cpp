// The Winograd F(2x2, 3x3) conv (kernels/winograd.h) of the tiers that have one, against the
// convolution's definition: every output byte equal, on maps whose tiles do not fill a block
// (1x1 up to 33 wide, odd sizes), asymmetric padding up to 20, odd channel counts up to the
// limit, extreme codes and weights (the int16 bounds of U and V), biases at the int32 limits
// (the accumulator wraps, as the GEMM's does), folded Relu and Clip bounds. Batches, the
// channel limit's fallback and the step around it: strided_conv_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/winograd.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

struct Problem {
  int64_t cin, cout, ih, iw, pad_t, pad_l, pad_b, pad_r;
  bool extreme;
};

std::vector<int8_t> Run(WinogradFn fn, const Problem& p, std::mt19937& rng, std::vector<int8_t>* want) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int64_t oh = p.ih + p.pad_t + p.pad_b - 2, ow = p.iw + p.pad_l + p.pad_r - 2;
  std::vector<int8_t> x(static_cast<size_t>(p.cin * p.ih * p.iw)), w(static_cast<size_t>(p.cout * p.cin * 9));
  for (auto& v : x) v = static_cast<int8_t>(p.extreme ? (pick(0, 1) ? 127 : -128) : pick(-128, 127));
  for (auto& v : w) v = static_cast<int8_t>(p.extreme ? (pick(0, 1) ? 127 : -128) : pick(-128, 127));
  const int8_t zx = static_cast<int8_t>(p.extreme ? (pick(0, 1) ? 127 : -128) : pick(-128, 127));
  std::vector<int32_t> bias_q(static_cast<size_t>(p.cout)), bias_signed(bias_q.size());
  std::vector<float> mult(bias_q.size());
  for (int64_t o = 0; o < p.cout; ++o) {
    const int kind = pick(0, 5);
    bias_q[o] = kind == 0 ? std::numeric_limits<int32_t>::max() - pick(0, 1000)
              : kind == 1 ? std::numeric_limits<int32_t>::min() + pick(0, 1000)
                          : pick(-20000, 20000);
    int64_t sum = 0;
    for (int k = 0; k < 9 * p.cin; ++k) sum += w[o * p.cin * 9 + k];
    bias_signed[o] = static_cast<int32_t>(static_cast<uint32_t>(bias_q[o]) - static_cast<uint32_t>(zx * sum));
    mult[o] = p.extreme ? 0.5f : std::uniform_real_distribution<float>(1e-5f, 2e-3f)(rng);
  }
  const int32_t zero_point = pick(-20, 20), qmin = pick(0, 3) == 0 ? zero_point : -128;
  const int32_t qmax = pick(0, 3) == 0 ? zero_point + 60 : 127;  // a folded Clip's upper bound
  // the definition
  want->clear();
  for (int64_t o = 0; o < p.cout; ++o) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        int32_t acc = bias_q[o];
        for (int64_t c = 0; c < p.cin; ++c) {
          for (int k = 0; k < 9; ++k) {
            const int64_t iy = oy - p.pad_t + k / 3, ix = ox - p.pad_l + k % 3;
            if (iy < 0 || iy >= p.ih || ix < 0 || ix >= p.iw) continue;
            acc = WrapAdd(acc, w[(o * p.cin + c) * 9 + k] * (x[(c * p.ih + iy) * p.iw + ix] - zx));
          }
        }
        want->push_back(Requantize(acc, mult[o], zero_point, qmin, qmax));
      }
    }
  }
  std::vector<int16_t> u(static_cast<size_t>(16 * p.cout * WinogradPairs(p.cin) * 2));
  PackWinogradWeights(w.data(), p.cout, p.cin, u.data());
  std::vector<int8_t> scratch(static_cast<size_t>(WinogradScratchBytes(p.cin, oh, ow)));
  std::vector<int8_t> out(static_cast<size_t>(p.cout * oh * ow + 1), int8_t{0x5A});  // + a guard byte
  WinogradArgs a;
  a.x = x.data();
  a.cin = p.cin;
  a.cout = p.cout;
  a.ih = p.ih;
  a.iw = p.iw;
  a.oh = oh;
  a.ow = ow;
  a.pad_t = p.pad_t;
  a.pad_l = p.pad_l;
  a.zx = zx;
  a.u = u.data();
  a.bias = bias_signed.data();
  a.mult = mult.data();
  a.zero_point = zero_point;
  a.qmin = qmin;
  a.qmax = qmax;
  a.out = out.data();
  a.scratch = scratch.data();
  fn(a);
  CHECK(out.back() == int8_t{0x5A});
  out.pop_back();
  return out;
}

TEST_CASE("Winograd 3x3 convs equal the conv definition byte for byte", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2, KernelTier::kAvxVnni,
                        KernelTier::kAvx512Vnni, KernelTier::kNeon,
                        KernelTier::kNeonDot, KernelTier::kI8mm);
  std::vector<Problem> problems = {
      {16, 16, 32, 32, 1, 1, 1, 1, false},  // ResNet-8's shapes
      {32, 32, 16, 16, 1, 1, 1, 1, false},  {64, 64, 8, 8, 1, 1, 1, 1, true},
      {3, 16, 32, 32, 1, 1, 1, 1, false},   {1, 1, 3, 3, 0, 0, 0, 0, false},  // one output
      {kWinogradMaxChannels, 7, 5, 9, 1, 1, 1, 1, true},                     // the channel limit, extremes
      {127, 13, 6, 6, 2, 0, 0, 2, false},   {5, 3, 4, 35, 1, 1, 1, 1, false},  // 33 wide, odd channels
      {2, 1, 9, 2, 1, 2, 1, 2, false},      {7, 8, 7, 7, 0, 0, 0, 0, true},   // 5 x 5, extremes
      {4, 5, 3, 3, 20, 17, 18, 20, false},  {3, 2, 1, 1, 5, 16, 5, 16, true},  // pads past 16
  };
  std::mt19937 rng(7007);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int i = 0; i < 60; ++i) {
    problems.push_back({pick(1, 40), pick(1, 20), pick(1, 20), pick(1, 20), pick(0, 2), pick(0, 2), pick(0, 2),
                        pick(0, 2), i % 4 == 0});
  }
  int covered = 0;
  for (KernelTier tier : tiers) {
    const WinogradFn fn = ElementwiseForTier(tier).winograd3x3;
    if (fn == nullptr) continue;  // this tier's convs take the GEMM forms
    for (size_t i = 0; i < problems.size(); ++i) {
      Problem p = problems[i];
      // at least one output
      if (p.ih + p.pad_t + p.pad_b < 3) p.pad_b = 3 - p.ih - p.pad_t;
      if (p.iw + p.pad_l + p.pad_r < 3) p.pad_r = 3 - p.iw - p.pad_l;
      INFO("tier " << KernelTierName(tier) << " problem " << i << ": cin " << p.cin << " cout " << p.cout << " in "
                   << p.ih << "x" << p.iw << " pads " << p.pad_t << "," << p.pad_l << "," << p.pad_b << "," << p.pad_r);
      std::vector<int8_t> want;
      REQUIRE(Run(fn, p, rng, &want) == want);
      ++covered;
    }
  }
  if (!tiers.empty() && std::find(tiers.begin(), tiers.end(), KernelTier::kAvx2) != tiers.end()) {
    CHECK(covered >= static_cast<int>(problems.size()));
  }
}

}  // namespace
}  // namespace edge::engine::testing
