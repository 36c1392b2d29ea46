// The arm64 tiers' element-wise kernels (kernels/elementwise_neon.cpp, depthwise_neon.cpp)
// against the scalar references on the inputs where a vector form is most likely to differ:
// every lookup index at every lane, every output zero point, NaN, infinities, huge and tiny
// scales, ties, bounds past int8 and past 2^22 (where the kernels defer to the scalar code),
// depthwise geometries of every kernel size, stride, dilation and padding the conv allows with
// 1 to 70 channels, and sources placed against an inaccessible page (no byte outside the
// buffer read). The elementwise table is the same for the three arm64 tiers; each runs here
// where the CPU has it (on x86-64 these cases have nothing to do).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/elementwise.h"
#include "tests/unit/engine/depthwise_geometry.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine {
namespace {

#define EDGE_ARM64_TIERS_UNDER_TEST(var) \
  EDGE_TIERS_UNDER_TEST(var, KernelTier::kNeon, KernelTier::kNeonDot, KernelTier::kI8mm)

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A copy of `bytes` bytes that ends (or starts) at an inaccessible page.
class GuardedCopy : public testing::GuardedBuffer {
 public:
  GuardedCopy(const void* src, size_t bytes, bool at_end) : GuardedBuffer(bytes, at_end, src) {}
  template <class T>
  const T* as() const {
    return GuardedBuffer::as<const T>();
  }
};

TEST_CASE("the arm64 lookup equals the scalar one for every index, length and lane", "[engine][kernels][tiers]") {
  EDGE_ARM64_TIERS_UNDER_TEST(tiers);
  std::mt19937 rng(256);
  auto byte = [&] { return static_cast<int8_t>(rng()); };
  for (KernelTier tier : tiers) {
    const LutFn lut = ElementwiseForTier(tier).lut;
    std::vector<int8_t> table(256);
    for (int rep = 0; rep < 6; ++rep) {
      for (auto& v : table) v = byte();
      for (int64_t n = 0; n <= 200; ++n) {
        std::vector<int8_t> x(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) x[i] = rep % 2 == 1 ? byte() : static_cast<int8_t>(i * 7 + rep);
        std::vector<int8_t> want(static_cast<size_t>(n) + 8, 0x11), got(want.size(), 0x11);
        LutScalar(x.data(), n, table.data(), want.data());
        const GuardedCopy in(x.data(), x.size(), true), tab(table.data(), table.size(), true);
        lut(in.as<int8_t>(), n, tab.as<int8_t>(), got.data());
        INFO("tier " << KernelTierName(tier) << " rep " << rep << " n " << n);
        REQUIRE(got == want);  // the 8 bytes after the output untouched too
      }
    }
    // Every index at every position of a 16- and 64-byte step, and in place.
    std::vector<int8_t> x(256 * 65);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>(i % 256 + i / 256);
    std::vector<int8_t> want(x.size()), got(x.size());
    LutScalar(x.data(), static_cast<int64_t>(x.size()), table.data(), want.data());
    lut(x.data(), static_cast<int64_t>(x.size()), table.data(), got.data());
    REQUIRE(got == want);
    lut(x.data(), static_cast<int64_t>(x.size()), table.data(), x.data());
    REQUIRE(x == want);
  }
}

TEST_CASE("the arm64 Add equals the scalar one at every zero point, NaN, inf and extreme bound",
          "[engine][kernels][tiers]") {
  EDGE_ARM64_TIERS_UNDER_TEST(tiers);
  std::mt19937 rng(9);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto byte = [&] { return static_cast<int8_t>(rng()); };
  const float scales[] = {0.5f, 1.7f, 0.9f, 1e-30f, 1e-40f, 1e30f, 3e38f, kInf, -kInf, kNaN, 0.0f, -0.0f, -0.3f, 1.0f};
  for (KernelTier tier : tiers) {
    const QAddFn qadd = ElementwiseForTier(tier).qadd;
    for (int trial = 0; trial < 2000; ++trial) {
      const int64_t n = trial % 50 == 0 ? 1000 : pick(0, 70);
      std::vector<int8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      for (auto& v : a) v = trial % 7 == 0 ? static_cast<int8_t>(pick(0, 1) != 0 ? 127 : -128) : byte();
      for (auto& v : b) v = byte();
      auto scale = [&](bool special) {
        return special ? scales[pick(0, static_cast<int>(std::size(scales)) - 1)]
                       : std::ldexp(static_cast<float>(pick(1, 1 << 20)), -pick(10, 30));
      };
      QAddArgs p{a.data(), b.data(), n, scale(trial % 3 == 0), scale(trial % 3 == 1), byte(), byte(),
                 trial < 256 ? trial - 128 : byte(),  // every output zero point
                 -128, 127, nullptr};
      switch (trial % 11) {
        case 1: p.qmin = p.zo; break;                 // a folded Relu
        case 2: p.qmax = pick(p.zo, 127); break;      // Relu6-like
        case 3: std::swap(p.qmin, p.qmax); break;     // inverted bounds: every output qmin
        case 4: p.qmax = 300; break;                  // past int8: the low byte, as the scalar cast
        case 5: p.zo = 5000000; break;                // bounds past 2^22: the scalar kernel
        case 6:                                       // results past 2^23 within the bounds
          p.zo = pick(-3, 3);
          p.qmin = -(1 << 26);
          p.qmax = 1 << 26;
          p.ra = static_cast<float>(pick(30000, 70000));
          p.rb = static_cast<float>(pick(1, 1000));
          break;
        default: break;
      }
      std::vector<int8_t> want(static_cast<size_t>(n) + 4, 0x22), got(want.size(), 0x22);
      p.y = want.data();
      QAddScalar(p);
      const GuardedCopy ga(a.data(), a.size(), true), gb(b.data(), b.size(), true);
      p.a = ga.as<int8_t>();
      p.b = gb.as<int8_t>();
      p.y = got.data();
      qadd(p);
      INFO("tier " << KernelTierName(tier) << " trial " << trial << " n " << n << " ra " << p.ra << " rb " << p.rb
                   << " za " << p.za << " zb " << p.zb << " zo " << p.zo << " bounds " << p.qmin << ".." << p.qmax);
      REQUIRE(got == want);
    }
  }
}

TEST_CASE("the arm64 QuantizeLinear equals the scalar one at every zero point, NaN, inf, tie and scale",
          "[engine][kernels][tiers]") {
  EDGE_ARM64_TIERS_UNDER_TEST(tiers);
  std::mt19937 rng(17);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const float scales[] = {0.25f, 1.0f,  0.1f, 3.7f, 1e-30f, 1e-40f, 1e-45f,
                          1e30f, 3e38f, kInf, kNaN, 0.0f,   -0.0f,  -0.5f};
  const std::vector<float> specials = {kNaN,   -kNaN,  kInf,   -kInf,   0.0f,    -0.0f,      1e38f,     -1e38f,
                                       3.4e38f, 1e-45f, 1e-38f, 0.5f,    1.5f,    2.5f,       -0.5f,     -1.5f,
                                       -2.5f,  127.5f, 128.5f, -128.5f, -129.5f, 8388608.0f, 4194304.5f};
  for (KernelTier tier : tiers) {
    const QuantizeFn quantize = ElementwiseForTier(tier).quantize;
    for (float scale : scales) {
      for (int32_t zp = -128; zp <= 127; ++zp) {
        const int64_t n = pick(0, 70);
        std::vector<float> x(static_cast<size_t>(n));
        for (auto& v : x) {
          const int kind = pick(0, 9);
          if (kind == 0) {
            v = specials[static_cast<size_t>(pick(0, static_cast<int>(specials.size()) - 1))];
          } else if (kind == 1) {
            v = scale * (static_cast<float>(pick(-400, 400)) + 0.5f);  // a tie after the division
          } else if (kind == 2) {
            const uint32_t bits = static_cast<uint32_t>(rng());  // any float, NaN payloads too
            std::memcpy(&v, &bits, 4);
          } else {
            v = static_cast<float>(pick(-100000, 100000)) / 1000.0f;
          }
        }
        std::vector<int8_t> want(static_cast<size_t>(n) + 4, 0x33), got(want.size(), 0x33);
        QuantizeScalar(x.data(), n, scale, zp, want.data());
        const GuardedCopy in(x.data(), x.size() * sizeof(float), true);
        quantize(in.as<float>(), n, scale, zp, got.data());
        INFO("tier " << KernelTierName(tier) << " scale " << scale << " zp " << zp << " n " << n);
        REQUIRE(got == want);
      }
    }
    // Every special at every lane of a 16-float step; zero points no int8 model has (the scalar
    // kernel: bounds past 2^22, or quotients past 2^23 inside them).
    for (int32_t zp : {-128, 0, 127, 300, 5000000, -5000000, -9000000, -9000001}) {
      std::vector<float> x;
      for (int rep = 0; rep < 17; ++rep) x.insert(x.end(), specials.begin(), specials.end());
      if (std::abs(zp) > 1000000) {
        for (int i = 0; i < 64; ++i) x.push_back(0.25f * static_cast<float>(-zp + pick(-300, 300)));
      }
      std::vector<int8_t> want(x.size()), got(x.size());
      QuantizeScalar(x.data(), static_cast<int64_t>(x.size()), 0.25f, zp, want.data());
      quantize(x.data(), static_cast<int64_t>(x.size()), 0.25f, zp, got.data());
      INFO("tier " << KernelTierName(tier) << " zp " << zp);
      REQUIRE(got == want);
    }
  }
}

TEST_CASE("the arm64 depthwise kernel equals the scalar one on every geometry, 1 to 70 channels",
          "[engine][kernels][tiers]") {
  EDGE_ARM64_TIERS_UNDER_TEST(tiers);
  std::mt19937 rng(70);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto byte = [&] { return static_cast<int8_t>(rng()); };
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int trial = 0; trial < 800; ++trial) {
      const ConvGeometry g = testing::RandomDepthwiseGeometry(rng, trial, 3);
      const DepthwisePlan plan = MakeDepthwisePlan(g);
      const int64_t channels = trial < 70 ? trial + 1 : pick(1, 70);
      const bool extreme = trial % 3 == 0;
      auto value = [&] { return extreme ? static_cast<int8_t>(pick(0, 1) != 0 ? 127 : -128) : byte(); };
      std::vector<int8_t> x(static_cast<size_t>(channels * g.in_h * g.in_w));
      for (auto& v : x) v = value();
      std::vector<int8_t> weights(static_cast<size_t>(channels * plan.taps), 0);
      std::vector<int32_t> bias(static_cast<size_t>(channels));
      std::vector<float> mult(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) {
        for (int t = 0; t < plan.real_taps; ++t) weights[c * plan.taps + t] = value();
        switch (trial % 13) {
          case 5:  // next to the int32 limits: the accumulator wraps
            bias[c] = pick(0, 1) != 0 ? 2147483647 - pick(0, 1000) : -2147483647 - 1 + pick(0, 1000);
            break;
          default: bias[c] = pick(extreme ? -4000000 : -20000, extreme ? 4000000 : 20000); break;
        }
        switch (trial % 13) {
          case 6: mult[c] = 1e30f; break;
          case 7: mult[c] = 1e-30f; break;
          case 8: mult[c] = c % 2 != 0 ? kInf : 1e-3f; break;  // inf * 0 = NaN: converts to 0 + zp
          default: mult[c] = extreme ? 0.5f : std::ldexp(static_cast<float>(pick(1, 1 << 20)), -pick(20, 34));
        }
      }
      DepthwiseArgs a;
      std::vector<int8_t> phases(static_cast<size_t>(channels * plan.phase_bytes));
      a.src = x.data();
      a.src_stride = g.in_h * g.in_w;
      if (plan.split) {
        k.depthwise_split(x.data(), g, plan, channels, phases.data());
        a.src = phases.data();
        a.src_stride = plan.phase_bytes;
      }
      const int64_t stride = plan.grid + 3;  // guard bytes after each channel's grid
      std::vector<int8_t> want(static_cast<size_t>(channels * stride), 0x5A), got(want.size(), 0x5A);
      a.out_stride = stride;
      a.channels = channels;
      a.plan = &plan;
      a.weights = weights.data();
      const std::vector<int32_t> words = PackDepthwiseWords(plan, weights.data(), channels);
      a.word_weights = words.data();
      a.bias = bias.data();
      a.mult = mult.data();
      a.zx = trial % 4 == 0 ? -128 : trial % 4 == 1 ? 127 : byte();
      a.zero_point = trial % 5 == 0 ? -128 : trial % 5 == 1 ? 127 : pick(-128, 127);
      if (trial % 7 == 2) a.qmin = a.zero_point;
      if (trial % 29 == 3) a.qmax = 1000;  // past int8: the low byte, as the scalar cast
      if (trial % 31 == 4) {               // requantized values past 2^23 inside the bounds: the scalar kernel
        a.zero_point = -9000000;
        for (int64_t c = 0; c < channels; ++c) {
          bias[c] = 9000000 + pick(-100, 100);
          mult[c] = 1.0f;
        }
      }
      a.out = want.data();
      DepthwiseScalar(a);
      // The source against an inaccessible page at its end, then at its start.
      const GuardedCopy src(a.src, static_cast<size_t>(channels * a.src_stride), trial % 2 == 0);
      a.src = src.as<int8_t>();
      a.out = got.data();
      k.depthwise(a);
      INFO("tier " << KernelTierName(tier) << " trial " << trial << " in " << g.in_h << "x" << g.in_w << " kernel "
                   << g.kernel_h << "x" << g.kernel_w << " stride " << g.stride_h << "x" << g.stride_w << " dilation "
                   << g.dilation_h << "x" << g.dilation_w << " pad " << g.pad_top << "," << g.pad_left << " channels "
                   << channels);
      REQUIRE(got == want);  // the whole grid and the guard bytes
    }
  }
}

}  // namespace
}  // namespace edge::engine
