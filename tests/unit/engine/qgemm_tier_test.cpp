// Every SIMD tier of the int8 matrix kernel must produce exactly the scalar reference's bytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "agent/engine/kernels/cpu_features.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_amx.h"
#include "tests/unit/core/skip.h"
#include "tests/unit/engine/depthwise_geometry.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine {
namespace {

struct Problem {
  QGemmWeights weights;
  int64_t m, n, k;
  int32_t zero_point, qmin, qmax;
  bool extreme;  // saturating inputs, extreme zero points and multipliers
};

struct Buffers {
  std::vector<uint8_t> left, right;
  std::vector<int32_t> bias;
  std::vector<float> mult;
};

Buffers MakeBuffers(const Problem& p, std::mt19937& rng, int64_t kp, int64_t np) {
  Buffers b;
  std::uniform_int_distribution<int> byte(0, 255);
  auto value = [&](bool extreme) {
    if (!extreme) return static_cast<uint8_t>(byte(rng));
    const int pick = byte(rng) % 4;  // mostly the ends of the range
    return static_cast<uint8_t>(pick == 0 ? 0 : pick == 1 ? 255 : pick == 2 ? 128 : byte(rng));
  };
  b.left.assign(static_cast<size_t>(p.m * kp), 0);
  for (int64_t r = 0; r < p.m; ++r) {
    for (int64_t c = 0; c < p.k; ++c) b.left[r * kp + c] = value(p.extreme);
  }
  b.right.assign(static_cast<size_t>(kp * np), 0);
  for (int64_t c = 0; c < p.k; ++c) {
    for (int64_t col = 0; col < p.n; ++col) b.right[((c >> 2) * np + col) * 4 + (c & 3)] = value(p.extreme);
  }
  const int64_t channels = p.weights == QGemmWeights::kLeft ? p.m : np;
  std::uniform_int_distribution<int32_t> bias(p.extreme ? -4000000 : -20000, p.extreme ? 4000000 : 20000);
  std::uniform_real_distribution<float> mult(p.extreme ? 1e-6f : 1e-4f, p.extreme ? 0.5f : 5e-3f);
  for (int64_t c = 0; c < channels; ++c) {
    b.bias.push_back(bias(rng));
    b.mult.push_back(mult(rng));
  }
  return b;
}

// Output rows of n columns, or with a grid store (pitch > 0) of the columns a grid of rows of
// `pitch` stores (the first `width` of each), followed by guard bytes: writes past them show.
int64_t OutputRow(const Problem& p, int64_t pitch, int64_t width) {
  return (pitch == 0 ? p.n : (p.n + pitch - 1) / pitch * width) + 7;
}

std::vector<int8_t> RunKernel(QGemmFn fn, const Problem& p, const Buffers& b, int64_t kp, int64_t np,
                              bool use_groups = false, int64_t pitch = 0, int64_t width = 0,
                              const uint8_t* const* group_table = nullptr, bool prewidened = false) {
  // The same packed operand addressed through a per-k-group pointer table (implicit GEMM).
  std::vector<const uint8_t*> groups;
  for (int64_t g = 0; g < kp / 4; ++g) groups.push_back(b.right.data() + g * np * 4);
  const int64_t ldo = OutputRow(p, pitch, width);
  std::vector<int8_t> out(static_cast<size_t>(p.m * ldo), int8_t{0x5A});
  QGemmArgs a;
  a.weights = p.weights;
  a.m = p.m;
  a.n = p.n;
  a.kp = kp;
  a.np = np;
  a.left = b.left.data();
  std::vector<int16_t> widened(static_cast<size_t>(p.m * kp));
  if (prewidened) {
    WidenLeftS8(reinterpret_cast<const int8_t*>(b.left.data()), p.m, kp, widened.data());
    a.left_widened = widened.data();
  }
  a.right = b.right.data();
  if (use_groups) a.right_groups = group_table != nullptr ? group_table : groups.data();
  a.bias = b.bias.data();
  // The bias for kernels that multiply the activations as signed bytes (arm64's SDOT tier):
  // bias + 128 * the channel's weight sum, wrapping like the accumulator. Computed here, from
  // the bias as it is now, because some cases overwrite b.bias after MakeBuffers.
  std::vector<int32_t> bias_signed(b.bias.size());
  for (size_t ch = 0; ch < b.bias.size(); ++ch) {
    uint32_t sum = 0;
    for (int64_t k = 0; k < kp; ++k) {
      const uint8_t w = p.weights == QGemmWeights::kLeft ? b.left[ch * kp + k] : b.right[((k >> 2) * np + ch) * 4 + (k & 3)];
      sum += static_cast<uint32_t>(int32_t{static_cast<int8_t>(w)});
    }
    bias_signed[ch] = static_cast<int32_t>(static_cast<uint32_t>(b.bias[ch]) + 128u * sum);
  }
  a.bias_signed = bias_signed.data();
  a.mult = b.mult.data();
  a.zero_point = p.zero_point;
  a.qmin = p.qmin;
  a.qmax = p.qmax;
  a.out = out.data();
  a.ldo = ldo;
  a.grid_pitch = pitch;
  a.grid_width = width;
  fn(a);
  return out;
}

TEST_CASE("every qgemm tier equals the scalar reference on random shapes", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int64_t> dim_m(1, 19), dim_n(1, 70), dim_k(1, 300);
  std::uniform_int_distribution<int32_t> zp(-128, 127);
  std::vector<Problem> problems;
  // Fixed edge shapes: K not a multiple of 4, N not a multiple of 16, single rows/columns.
  for (int64_t k : {1, 3, 5, 7, 27, 144, 145}) {
    for (int64_t n : {1, 15, 16, 17, 33, 64, 65}) {
      for (int64_t m : {1, 6, 7}) {
        problems.push_back({QGemmWeights::kLeft, m, n, k, 0, -128, 127, false});
        problems.push_back({QGemmWeights::kRight, m, n, k, -3, -128, 127, false});
      }
    }
  }
  // The AVX2 kernel widens the left rows into a 16384-element buffer, whole 6-row tiles at a
  // time: several passes of rows (m * kp past it), a last pass of a partial tile, and rows too
  // long for one tile's share (kp > 2730), which it reads as bytes.
  for (auto [m, k] : {std::pair<int64_t, int64_t>{40, 600}, {61, 1024}, {13, 2732}, {7, 3001}}) {
    problems.push_back({QGemmWeights::kLeft, m, 37, k, 5, -128, 127, false});
    problems.push_back({QGemmWeights::kRight, m, 29, k, -9, -128, 127, true});
  }
  // The AVX-512 VNNI kernel's K-blocking threshold: 128 k-groups for weights right, 170 for
  // weights left (a narrower panel); either side of both.
  for (int64_t k : {512, 516, 680, 684}) {
    problems.push_back({QGemmWeights::kLeft, 17, 100, k, 3, -128, 127, false});
    problems.push_back({QGemmWeights::kRight, 13, 70, k, -2, -128, 127, false});
  }
  // Batch-1 Gemm (GEMV): one row over long K, k-groups in several accumulator chains with a
  // remainder of 1-3 groups, panels of 1-4 vectors.
  for (int64_t k : {9, 13, 1020, 1025, 2049}) {
    for (int64_t n : {1, 17, 64, 65, 200, 257}) problems.push_back({QGemmWeights::kRight, 1, n, k, 7, -128, 127, false});
  }
  for (int i = 0; i < 300; ++i) {
    const bool extreme = i % 3 == 0;
    const int32_t z = extreme ? (i % 2 == 0 ? -128 : 127) : zp(rng);
    int32_t lo = -128, hi = 127;
    if (i % 5 == 1) lo = z;  // a folded Relu clamps at the zero point
    if (i % 7 == 2) hi = std::min(127, z + 50);
    if (lo > hi) std::swap(lo, hi);
    problems.push_back({i % 2 == 0 ? QGemmWeights::kLeft : QGemmWeights::kRight, dim_m(rng), dim_n(rng),
                        dim_k(rng), z, lo, hi, extreme});
  }
  for (const Problem& p : problems) {
    const int64_t kp = RoundUp(p.k, 4), np = RoundUp(p.n, kQGemmColumnAlign);
    const Buffers b = MakeBuffers(p, rng, kp, np);
    const auto reference = RunKernel(&QGemmScalar, p, b, kp, np);
    for (KernelTier tier : tiers) {
      const auto got = RunKernel(QGemmForTier(tier), p, b, kp, np);
      const auto got_groups = RunKernel(QGemmForTier(tier), p, b, kp, np, /*use_groups=*/true);
      // the conv's weights widened once at load (QGemmArgs::left_widened), with and without groups
      const bool left = p.weights == QGemmWeights::kLeft;
      const auto got_widened = RunKernel(QGemmForTier(tier), p, b, kp, np, false, 0, 0, nullptr, left);
      const auto got_widened_groups = RunKernel(QGemmForTier(tier), p, b, kp, np, true, 0, 0, nullptr, left);
      INFO("tier " << KernelTierName(tier) << " m=" << p.m << " n=" << p.n << " k=" << p.k
                   << " zp=" << p.zero_point << " weights " << (p.weights == QGemmWeights::kLeft ? "left" : "right"));
      REQUIRE(got == reference);
      REQUIRE(got_groups == reference);
      REQUIRE(got_widened == reference);
      REQUIRE(got_widened_groups == reference);
    }
    REQUIRE(RunKernel(&QGemmScalar, p, b, kp, np, /*use_groups=*/true) == reference);
  }
}

// Found by tests/fuzz (fuzz_onnx_load): a model's int32 bias (or the bias after the zero-point
// correction is folded in) can sit next to INT32_MAX, and `acc + bias` in the scalar reference
// was signed overflow, undefined behaviour, while the SIMD tiers' vector adds wrap. The int32
// accumulator is defined to wrap (two's complement): the reference computes exactly that and
// every tier equals it.
TEST_CASE("a bias at the int32 limits wraps the accumulator in every tier, no overflow", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(2147483647);
  for (const int32_t base : {std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
    for (const QGemmWeights weights : {QGemmWeights::kLeft, QGemmWeights::kRight}) {
      const Problem p{weights, 5, 33, 77, 0, -128, 127, true};
      const int64_t kp = RoundUp(p.k, 4), np = RoundUp(p.n, kQGemmColumnAlign);
      Buffers b = MakeBuffers(p, rng, kp, np);
      for (auto& bias : b.bias) bias = base - (base > 0 ? 1 : -1) * static_cast<int32_t>(rng() % 64);
      for (auto& mult : b.mult) mult = 1e-7f;
      const auto reference = RunKernel(&QGemmScalar, p, b, kp, np);
      // The definition: int32 sums modulo 2^32, then requantized.
      const int64_t ldo = OutputRow(p, 0, 0);
      for (int64_t m = 0; m < p.m; ++m) {
        for (int64_t n = 0; n < p.n; ++n) {
          uint32_t acc = 0;
          for (int64_t k = 0; k < p.k; ++k) {
            const uint8_t lb = b.left[m * kp + k], rb = b.right[((k >> 2) * np + n) * 4 + (k & 3)];
            const int32_t l = weights == QGemmWeights::kLeft ? int32_t{static_cast<int8_t>(lb)} : int32_t{lb};
            const int32_t r = weights == QGemmWeights::kLeft ? int32_t{rb} : int32_t{static_cast<int8_t>(rb)};
            acc += static_cast<uint32_t>(l * r);
          }
          acc += static_cast<uint32_t>(b.bias[weights == QGemmWeights::kLeft ? m : n]);
          const auto want = Requantize(static_cast<int32_t>(acc), 1e-7f, 0, -128, 127);
          INFO("m " << m << " n " << n);
          REQUIRE(reference[m * ldo + n] == want);
        }
      }
      for (KernelTier tier : tiers) {
        INFO("tier " << KernelTierName(tier));
        REQUIRE(RunKernel(QGemmForTier(tier), p, b, kp, np) == reference);
      }
    }
  }
}

TEST_CASE("every qgemm tier stores the valid columns of a grid like the reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> dim_m(1, 19), dim_n(1, 200), dim_k(1, 80), pick(0, 1 << 20);
  for (int i = 0; i < 200; ++i) {
    const Problem p{i % 3 == 0 ? QGemmWeights::kRight : QGemmWeights::kLeft, dim_m(rng), dim_n(rng), dim_k(rng),
                    static_cast<int32_t>(pick(rng) % 41) - 20, -128, 127, i % 4 == 0};
    const int64_t pitch = 1 + i % 37, width = 1 + pick(rng) % pitch;
    const int64_t kp = RoundUp(p.k, 4), np = RoundUp(p.n, kQGemmColumnAlign);
    const Buffers b = MakeBuffers(p, rng, kp, np);
    // The plain output, its grid columns moved to where the grid store puts them.
    const auto plain = RunKernel(&QGemmScalar, p, b, kp, np);
    const int64_t ldo = OutputRow(p, pitch, width), plain_ldo = OutputRow(p, 0, 0);
    std::vector<int8_t> want(static_cast<size_t>(p.m * ldo), int8_t{0x5A});
    for (int64_t r = 0; r < p.m; ++r) {
      for (int64_t n = 0; n < p.n; ++n) {
        if (n % pitch < width) want[r * ldo + n / pitch * width + n % pitch] = plain[r * plain_ldo + n];
      }
    }
    INFO("m=" << p.m << " n=" << p.n << " k=" << p.k << " pitch " << pitch << " width " << width);
    REQUIRE(RunKernel(&QGemmScalar, p, b, kp, np, false, pitch, width) == want);
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier));
      // AMX: the tile kernel at every size, not only where it pays.
#if defined(__x86_64__)
      const auto kernel = tier == KernelTier::kAmx ? &QGemmAmxTiles : QGemmForTier(tier);
#else
      const auto kernel = QGemmForTier(tier);
#endif
      REQUIRE(RunKernel(kernel, p, b, kp, np, false, pitch, width) == want);
      REQUIRE(RunKernel(kernel, p, b, kp, np, /*use_groups=*/true, pitch, width) == want);
    }
  }
}

// The right operand's k-groups copied to the slots `order` names in a new buffer, and the
// table that addresses them: reversed order is a negative even stride, shuffled is uneven.
struct ScatteredRight {
  std::vector<uint8_t> bytes;
  std::vector<const uint8_t*> table;
};
ScatteredRight Scatter(const Buffers& b, int64_t kp, int64_t np, const std::vector<int64_t>& order) {
  ScatteredRight s;
  const int64_t group_bytes = np * 4;
  s.bytes.assign(static_cast<size_t>(kp * np), 0);
  for (int64_t g = 0; g < kp / 4; ++g) {
    std::copy_n(b.right.begin() + g * group_bytes, group_bytes, s.bytes.begin() + order[g] * group_bytes);
  }
  for (int64_t g = 0; g < kp / 4; ++g) s.table.push_back(s.bytes.data() + order[g] * group_bytes);
  return s;
}

#if defined(__x86_64__)  // the AMX kernel is compiled for x86-64 only
// QGemmAmxTiles ignores the size threshold, so the tile path meets every edge: M, N and K
// below, at and between tile multiples (16 rows, 16 columns, 64-deep steps), operands loaded
// in place or staged.
TEST_CASE("the AMX tile kernel equals the scalar reference on random shapes", "[engine][kernels]") {
  if (!TierSupported(KernelTier::kAmx)) {
    EDGE_SKIP("no AMX here (needs amx-tile, amx-int8, XCR0 tile state and the kernel's permission for tile data)");
  }
  std::mt19937 rng(20261123);
  std::uniform_int_distribution<int64_t> dim_m(1, 80), dim_n(1, 150), dim_k(1, 600);
  std::uniform_int_distribution<int32_t> zp(-128, 127);
  std::vector<Problem> problems;
  int i = 0;
  for (int64_t m : {1, 15, 16, 17, 33, 64}) {
    for (int64_t n : {1, 16, 17, 31, 32, 33, 100}) {
      for (int64_t k : {3, 64, 65, 144, 257}) {
        const QGemmWeights w = ++i % 2 == 0 ? QGemmWeights::kLeft : QGemmWeights::kRight;
        problems.push_back({w, m, n, k, zp(rng), -128, 127, false});
      }
    }
  }
  // Past the kernel's column panel (kp > 1024): B tiles load in place again.
  problems.push_back({QGemmWeights::kRight, 48, 40, 1100, zp(rng), -128, 127, false});
  problems.push_back({QGemmWeights::kLeft, 35, 33, 1030, zp(rng), -128, 127, false});
  // K tails staged once per call (m <= 256) and, past that, per block.
  problems.push_back({QGemmWeights::kLeft, 256, 20, 150, zp(rng), -128, 127, false});
  problems.push_back({QGemmWeights::kLeft, 257, 20, 150, zp(rng), -128, 127, false});
  problems.push_back({QGemmWeights::kRight, 270, 18, 90, zp(rng), -128, 127, false});
  for (int r = 0; r < 200; ++r) {
    const bool extreme = r % 3 == 0;
    const int32_t z = extreme ? (r % 2 == 0 ? -128 : 127) : zp(rng);
    int32_t lo = -128, hi = 127;
    if (r % 5 == 1) lo = z;
    if (r % 7 == 2) hi = std::min(127, z + 50);
    if (lo > hi) std::swap(lo, hi);
    problems.push_back({r % 2 == 0 ? QGemmWeights::kLeft : QGemmWeights::kRight, dim_m(rng), dim_n(rng),
                        dim_k(rng), z, lo, hi, extreme});
  }
  for (size_t t = 0; t < problems.size(); ++t) {
    const Problem& p = problems[t];
    // Both column paddings the engine uses: to 16, and PackedColumns' extra 16.
    const int64_t kp = RoundUp(p.k, 4), np = t % 2 == 0 ? RoundUp(p.n, kQGemmColumnAlign) : PackedColumns(p.n);
    const Buffers b = MakeBuffers(p, rng, kp, np);
    const auto reference = RunKernel(&QGemmScalar, p, b, kp, np);
    std::vector<int64_t> order(static_cast<size_t>(kp / 4));
    for (size_t g = 0; g < order.size(); ++g) order[g] = static_cast<int64_t>(order.size() - 1 - g);
    const ScatteredRight reversed = Scatter(b, kp, np, order);
    std::shuffle(order.begin(), order.end(), rng);
    const ScatteredRight shuffled = Scatter(b, kp, np, order);
    INFO("m=" << p.m << " n=" << p.n << " k=" << p.k << " np=" << np << " zp=" << p.zero_point << " weights "
              << (p.weights == QGemmWeights::kLeft ? "left" : "right"));
    REQUIRE(RunKernel(&QGemmAmxTiles, p, b, kp, np) == reference);
    REQUIRE(RunKernel(&QGemmAmxTiles, p, b, kp, np, /*use_groups=*/true) == reference);
    REQUIRE(RunKernel(&QGemmAmxTiles, p, b, kp, np, true, 0, 0, reversed.table.data()) == reference);
    REQUIRE(RunKernel(&QGemmAmxTiles, p, b, kp, np, true, 0, 0, shuffled.table.data()) == reference);
    REQUIRE(RunKernel(&QGemmAmx, p, b, kp, np, true, 0, 0, shuffled.table.data()) == reference);
  }
}
#endif

// The VNNI kernel splits K > 512 into near-equal k-blocks of at most 128 k-groups whose partial
// sums wait on the stack, per block of 120 rows, and reads a copy of each k-block's column
// panel: M across row blocks (119, 121, 241), K on both sides of the threshold and across two
// and three k-blocks, N and M off the tile sizes, every way of addressing the right
// operand and grid stores. Multipliers up to 1e5 push (float)acc * mult past the int32 range
// in both directions, and zero points outside int8 take the int16 headroom of the epilogue
// (and past it, the scalar fallback).
TEST_CASE("the VNNI kernel equals the reference across its k-blocks and row blocks", "[engine][kernels]") {
  if (!TierSupported(KernelTier::kAvx512Vnni)) {
    EDGE_SKIP("no AVX-512 VNNI here");
  }
  std::mt19937 rng(20261124);
  std::uniform_int_distribution<int32_t> zp(-128, 127);
  std::vector<Problem> problems;
  int i = 0;
  for (int64_t m : {1, 7, 119, 121, 241}) {
    for (int64_t n : {1, 17, 48, 63, 100}) {
      for (int64_t k : {509, 513, 777, 1030}) {
        const bool extreme = ++i % 3 == 0;
        const int32_t z = extreme ? (i % 2 == 0 ? -128 : 127) : zp(rng);
        problems.push_back({i % 2 == 0 ? QGemmWeights::kLeft : QGemmWeights::kRight, m, n, k, z,
                            i % 5 == 1 ? z : -128, 127, extreme});
      }
    }
  }
  for (int32_t z : {300, -300, 20000, -20000, 40000}) {
    problems.push_back({QGemmWeights::kLeft, 19, 40, 300, z, -128, 127, true});
    problems.push_back({QGemmWeights::kRight, 19, 40, 300, z, -100, 90, true});
  }
  const QGemmFn vnni = QGemmForTier(KernelTier::kAvx512Vnni);
  for (size_t t = 0; t < problems.size(); ++t) {
    const Problem& p = problems[t];
    const int64_t kp = RoundUp(p.k, 4), np = t % 2 == 0 ? RoundUp(p.n, kQGemmColumnAlign) : PackedColumns(p.n);
    Buffers b = MakeBuffers(p, rng, kp, np);
    if (p.extreme) {
      std::uniform_real_distribution<float> huge(1e3f, 1e5f);
      for (size_t c = 0; c < b.mult.size(); c += 3) b.mult[c] = huge(rng);
    }
    const auto reference = RunKernel(&QGemmScalar, p, b, kp, np);
    std::vector<int64_t> order(static_cast<size_t>(kp / 4));
    for (size_t g = 0; g < order.size(); ++g) order[g] = static_cast<int64_t>(order.size() - 1 - g);
    const ScatteredRight reversed = Scatter(b, kp, np, order);
    std::shuffle(order.begin(), order.end(), rng);
    const ScatteredRight shuffled = Scatter(b, kp, np, order);
    INFO("m=" << p.m << " n=" << p.n << " k=" << p.k << " np=" << np << " zp=" << p.zero_point << " weights "
              << (p.weights == QGemmWeights::kLeft ? "left" : "right"));
    REQUIRE(RunKernel(vnni, p, b, kp, np) == reference);
    REQUIRE(RunKernel(vnni, p, b, kp, np, /*use_groups=*/true) == reference);
    REQUIRE(RunKernel(vnni, p, b, kp, np, true, 0, 0, reversed.table.data()) == reference);
    REQUIRE(RunKernel(vnni, p, b, kp, np, true, 0, 0, shuffled.table.data()) == reference);
    // Grid stores: the scalar kernel's grid output is checked against the plain one above.
    const int64_t pitch = 1 + static_cast<int64_t>(t % 29), width = 1 + static_cast<int64_t>(t % 5) % pitch;
    const auto grid = RunKernel(&QGemmScalar, p, b, kp, np, false, pitch, width);
    REQUIRE(RunKernel(vnni, p, b, kp, np, false, pitch, width) == grid);
    REQUIRE(RunKernel(vnni, p, b, kp, np, true, pitch, width, shuffled.table.data()) == grid);
  }
}

// Every tier through k-group tables in reversed (a negative even stride) and shuffled order,
// with PackedColumns' extra 16 columns, grid stores, multipliers from 1e-9 to 1e5 (float
// results past the int32 range both ways), zero points past int16 and row counts 1-40 around
// the 8-row tiles of the arm64 kernels. The arm64 kernels also take clamp bounds outside int8
// (the byte is the int32 result truncated, as in the scalar kernel) and hand bounds more than
// 2^22 from the zero point to the scalar kernel; the x86 tiers' contract is int8 bounds within
// 2^22 (their packs saturate, cvtps2dq rounds past 2^22 unlike the reference), which is all
// that lowering produces.
TEST_CASE("every qgemm tier equals the reference through k-group tables and extreme requantization",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(20261125);
  std::uniform_int_distribution<int64_t> dim_m(1, 40), dim_n(1, 70), dim_k(1, 300), pick(0, 1 << 20);
  // Deep K: the arm64 kernels' row blocks (128 KB of left rows: 24 rows at K = 4100, 40 at
  // K = 3000) split these M into several blocks with a short last one.
  const std::pair<int64_t, int64_t> deep[] = {{77, 4100}, {45, 3000}, {9, 5000}, {130, 1100}};
  for (int t = 0; t < 164; ++t) {
    const bool extreme = t % 2 == 0;
    int32_t z = static_cast<int32_t>(pick(rng) % 256) - 128, lo = -128, hi = 127;
    if (t % 8 == 1) z = static_cast<int32_t>(pick(rng) % 4000001) - 2000000;  // past int16, within 2^22
    if (t % 8 == 3) z = (t % 16 == 3 ? 1 : -1) * ((1 << 22) + 7);             // past 2^22: scalar fallback
    if (t % 8 == 5) {  // bounds outside int8: the stored byte is the int32 result truncated
      lo = static_cast<int32_t>(pick(rng) % 400) - 300;
      hi = lo + static_cast<int32_t>(pick(rng) % 500);
    }
    Problem p{t % 3 == 0 ? QGemmWeights::kLeft : QGemmWeights::kRight, dim_m(rng), dim_n(rng), dim_k(rng), z,
              lo, hi, extreme};
    if (t >= 160) std::tie(p.m, p.k) = deep[t - 160];
    const int64_t kp = RoundUp(p.k, 4), np = t % 2 == 0 ? RoundUp(p.n, kQGemmColumnAlign) : PackedColumns(p.n);
    Buffers b = MakeBuffers(p, rng, kp, np);
    if (extreme) {
      std::uniform_real_distribution<float> huge(1e3f, 1e5f), tiny(1e-9f, 1e-7f);
      for (size_t c = 0; c < b.mult.size(); ++c) b.mult[c] = c % 3 == 0 ? huge(rng) : c % 3 == 1 ? tiny(rng) : b.mult[c];
    }
    const auto reference = RunKernel(&QGemmScalar, p, b, kp, np);
    std::vector<int64_t> order(static_cast<size_t>(kp / 4));
    for (size_t g = 0; g < order.size(); ++g) order[g] = static_cast<int64_t>(order.size() - 1 - g);
    const ScatteredRight reversed = Scatter(b, kp, np, order);
    std::shuffle(order.begin(), order.end(), rng);
    const ScatteredRight shuffled = Scatter(b, kp, np, order);
    const int64_t pitch = 1 + static_cast<int64_t>(t % 23), width = 1 + static_cast<int64_t>(t % 7) % pitch;
    const auto grid = RunKernel(&QGemmScalar, p, b, kp, np, false, pitch, width);
    const bool x86_contract = z >= -(1 << 22) + 128 && z <= (1 << 22) - 128 && lo >= -128 && hi <= 127;
    for (KernelTier tier : tiers) {
      const bool x86 = tier == KernelTier::kAvx2 || tier == KernelTier::kAvxVnni || tier == KernelTier::kAvx512Vnni ||
                       tier == KernelTier::kAmx;
      if (x86 && !x86_contract) continue;
      const QGemmFn fn = QGemmForTier(tier);
      INFO("tier " << KernelTierName(tier) << " m=" << p.m << " n=" << p.n << " k=" << p.k << " np=" << np
                   << " zp=" << p.zero_point << " q=[" << p.qmin << "," << p.qmax << "] weights "
                   << (p.weights == QGemmWeights::kLeft ? "left" : "right"));
      REQUIRE(RunKernel(fn, p, b, kp, np) == reference);
      REQUIRE(RunKernel(fn, p, b, kp, np, true, 0, 0, reversed.table.data()) == reference);
      REQUIRE(RunKernel(fn, p, b, kp, np, true, 0, 0, shuffled.table.data()) == reference);
      REQUIRE(RunKernel(fn, p, b, kp, np, false, pitch, width) == grid);
      REQUIRE(RunKernel(fn, p, b, kp, np, true, pitch, width, shuffled.table.data()) == grid);
    }
  }
}

// The AVX2-class tiers requantize without the float clamp where every |sum * mult| provably
// stays below 2^29 and |zp| <= 2^14 (avx2_common.h, QuantRange): the saturating packs then
// stand in for the clamp. Multipliers from well inside to 16x past that bound (the real
// limit, int32, is 4x it), with one channel past it in some calls (the whole call then
// clamps; channel 3, inside the check's 8-wide vector part where there are 8 or more
// channels), sums driven to their extremes, zero points on both sides of 2^14 and past int16,
// either multiplier sign and narrowed output ranges (folded Relu) must all give the
// reference's bytes. A check loosened to 2^33 in its vector part only, or a zero-point bound
// loosened to 2^16, fails here.
TEST_CASE("every qgemm tier equals the reference at the edge of unclamped requantization", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(20261206);
  std::uniform_int_distribution<int64_t> dim_small(1, 7), dim_wide(8, 40), dim_k(1, 64);
  const float factors[] = {0.25f, 0.9f, 0.999f, 1.001f, 1.1f, 4.0f, 8.0f, 16.0f};
  const int32_t zero_points[] = {0, -128, 127, 1 << 14, -(1 << 14), (1 << 14) + 1, -40000, 40000};
  for (int t = 0; t < 256; ++t) {
    const int32_t z = zero_points[t % 8];
    const bool extreme_sums = (t / 8) % 2 == 0;
    const float factor = factors[(t / 16) % 8];
    const bool one_past = (t / 128) % 2 == 1;
    const bool relu = t % 3 == 1;
    const int32_t lo = relu ? std::max(-128, std::min(127, z)) : -128;
    const bool wide = t % 5 != 0;  // 8 or more channels, mostly
    Problem p{(t / 3) % 2 == 0 ? QGemmWeights::kLeft : QGemmWeights::kRight,
              wide ? dim_wide(rng) : dim_small(rng), wide ? dim_wide(rng) : dim_small(rng), dim_k(rng), z, lo, 127, true};
    const int64_t kp = RoundUp(p.k, 4), np = PackedColumns(p.n);
    Buffers b = MakeBuffers(p, rng, kp, np);
    if (extreme_sums) {
      // every sum at its bound: activations 255, weights -128, biases negative, K = kp
      p.k = kp;
      const uint8_t weight = 0x80, activation = 255;
      const bool left_weights = p.weights == QGemmWeights::kLeft;
      for (int64_t r = 0; r < p.m; ++r) {
        for (int64_t c = 0; c < kp; ++c) b.left[r * kp + c] = left_weights ? weight : activation;
      }
      for (int64_t c = 0; c < kp; ++c) {
        for (int64_t col = 0; col < p.n; ++col) b.right[((c >> 2) * np + col) * 4 + (c & 3)] = left_weights ? activation : weight;
      }
      for (int32_t& bias : b.bias) bias = -std::abs(bias);
    }
    const double reach = static_cast<double>(kp) * 255 * 128;
    for (size_t c = 0; c < b.mult.size(); ++c) {
      // one factor per call, or channel 3 beyond the bound and the others inside it
      const float f = one_past ? (c == 3 ? 16.0f : 0.5f) : factor;
      b.mult[c] = static_cast<float>(0x1p29 * f / (std::abs(static_cast<double>(b.bias[c])) + reach));
      if ((t / 2) % 2 == 1) b.mult[c] = -b.mult[c];  // the bound holds for |mult|
    }
    const auto reference = RunKernel(&QGemmScalar, p, b, kp, np);
    const auto reference_grid = RunKernel(&QGemmScalar, p, b, kp, np, false, 7, 5);
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier) << " m=" << p.m << " n=" << p.n << " k=" << p.k << " zp=" << z << " qmin="
                   << lo << " factor " << factor << (one_past ? " (one channel past)" : "") << " weights "
                   << (p.weights == QGemmWeights::kLeft ? "left" : "right"));
      const QGemmFn fn = QGemmForTier(tier);
      REQUIRE(RunKernel(fn, p, b, kp, np) == reference);
      REQUIRE(RunKernel(fn, p, b, kp, np, false, 7, 5) == reference_grid);
      if (p.weights == QGemmWeights::kLeft) REQUIRE(RunKernel(fn, p, b, kp, np, false, 0, 0, nullptr, true) == reference);
    }
  }
}

TEST_CASE("requantization rounds half to even like ONNX QuantizeLinear", "[engine][kernels]") {
  CHECK(Requantize(5, 0.5f, 0, -128, 127) == 2);    // 2.5 -> 2
  CHECK(Requantize(7, 0.5f, 0, -128, 127) == 4);    // 3.5 -> 4
  CHECK(Requantize(-5, 0.5f, 0, -128, 127) == -2);  // -2.5 -> -2
  CHECK(Requantize(-3, 0.5f, 10, -128, 127) == 8);  // -1.5 -> -2, + 10
  CHECK(Requantize(1000000, 1.0f, 0, -128, 127) == 127);
  CHECK(Requantize(-1000000, 1.0f, 5, -128, 127) == -128);
  CHECK(Requantize(-50, 1.0f, -128, -128, 127) == -128);  // relu clamp at the zero point
}

TEST_CASE("im2col pads with the zero point", "[engine][kernels]") {
  // 1 channel 2x2 input, 3x3 kernel, pad 1: the corner windows read padding. Im2colU8's
  // contract: 16 readable bytes after the input (vector loads may read past a row's end).
  const int8_t x[4 + 16] = {1, 2, 3, 4};
  ConvGeometry g{1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2};
  const int64_t kp = 12, np = 16;
  std::vector<uint8_t> col(static_cast<size_t>(kp * np), 0xEE);
  std::vector<int8_t> pad_row(static_cast<size_t>(Im2colPadRowLength(g)), int8_t{-5});
  Im2colU8(x, g, /*pad_byte=*/static_cast<uint8_t>(-5 + 128), pad_row.data(), kp, np, col.data());
  auto at = [&](int64_t k, int64_t p) { return col[((k >> 2) * np + p) * 4 + (k & 3)]; };
  CHECK(at(0, 0) == 123);      // top-left tap of output (0,0) is padding: zp + 128
  CHECK(at(4, 0) == 1 + 128);  // centre tap of output (0,0) is x[0][0]
  CHECK(at(8, 3) == 123);      // bottom-right tap of output (1,1) is padding
  CHECK(at(5, 0) == 2 + 128);  // tap (1,2) of output (0,0) is x[0][1]
}

}  // namespace
}  // namespace edge::engine

namespace edge::engine {
namespace {

TEST_CASE("the implicit-GEMM operand is the padded input, 4 channels per pixel", "[engine][kernels]") {
  std::mt19937 rng(5);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const bool avx512 = TierSupported(KernelTier::kAvx512Vnni);
  int whole_rows = 0;  // trials the AVX-512 form takes (rows of 16, 32 or 64 bytes)
  for (int trial = 0; trial < 300; ++trial) {
    ConvGeometry g;
    g.channels = pick(1, 11);
    g.in_h = pick(1, 12);
    g.in_w = trial % 3 == 2 ? 16 << pick(0, 2) : pick(1, 45);
    g.pad_top = pick(0, 3);
    g.pad_left = pick(0, 3);
    const int64_t hp = g.in_h + g.pad_top + pick(0, 3), wp = g.in_w + g.pad_left + pick(0, 3);
    const int8_t zp = static_cast<int8_t>(pick(-128, 127));
    const uint8_t pad_byte = static_cast<uint8_t>(zp + 128);
    std::vector<int8_t> x(static_cast<size_t>(g.channels * g.in_h * g.in_w));
    for (auto& v : x) v = static_cast<int8_t>(pick(-128, 127));
    std::vector<int8_t> pad_row(static_cast<size_t>(g.in_w + 64), zp);
    const int64_t blocks = (g.channels + 3) / 4, block_stride = hp * wp * 4 + 8;
    std::vector<uint8_t> got(static_cast<size_t>(blocks * block_stride), 0xEE);
    InterleavePaddedU8(x.data(), g, hp, wp, pad_byte, pad_row.data(), block_stride, got.data());
    if (avx512) {
      std::vector<uint8_t> wide(got.size(), 0xEE);
      ElementwiseForTier(KernelTier::kAvx512Vnni)
          .interleave_padded(x.data(), g, hp, wp, pad_byte, pad_row.data(), block_stride, wide.data());
      REQUIRE(wide == got);
      if (g.in_w >= 16 && 64 % g.in_w == 0 && g.in_h % (64 / g.in_w) == 0) ++whole_rows;
    }
    std::vector<uint8_t> want(got.size(), 0xEE);  // the 8 bytes after each block stay untouched
    for (int64_t c = 0; c < blocks * 4; ++c) {
      for (int64_t y = 0; y < hp; ++y) {
        for (int64_t xx = 0; xx < wp; ++xx) {
          const int64_t iy = y - g.pad_top, ix = xx - g.pad_left;
          const bool inside = c < g.channels && iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
          want[c / 4 * block_stride + (y * wp + xx) * 4 + c % 4] =
              inside ? static_cast<uint8_t>(x[(c * g.in_h + iy) * g.in_w + ix] + 128) : pad_byte;
        }
      }
    }
    INFO("trial " << trial << " channels " << g.channels << " in " << g.in_h << "x" << g.in_w << " padded " << hp
                  << "x" << wp);
    REQUIRE(got == want);
  }
  if (avx512) CHECK(whole_rows >= 20);
}

// The padded copy against its definition: narrow planes (the byte-fill path), wide ones (16-byte
// fills at the row ends), paddings past 16 bytes; bytes after the last plane stay untouched.
TEST_CASE("the padded copy of a conv's input is the input inside zero-point borders", "[engine][kernels]") {
  std::mt19937 rng(1234);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t planes = pick(1, 5), ih = pick(1, 9), iw = trial % 3 == 0 ? pick(1, 14) : pick(14, 70);
    const int64_t pad_t = pick(0, 3), pad_l = trial % 7 == 0 ? pick(17, 20) : pick(0, 3);
    const int64_t hp = ih + pad_t + pick(0, 3), wp = iw + pad_l + (trial % 11 == 0 ? pick(17, 20) : pick(0, 3));
    const int8_t zp = static_cast<int8_t>(pick(-128, 127));
    std::vector<int8_t> x(static_cast<size_t>(planes * ih * iw));
    for (auto& v : x) v = static_cast<int8_t>(pick(-128, 127));
    std::vector<int8_t> got(static_cast<size_t>(planes * hp * wp + 16), int8_t{0x5A});
    PadPlanesS8(x.data(), planes, ih, iw, pad_t, pad_l, hp, wp, zp, got.data());
    std::vector<int8_t> want(got.size(), int8_t{0x5A});
    for (int64_t c = 0; c < planes; ++c) {
      for (int64_t y = 0; y < hp; ++y) {
        for (int64_t xx = 0; xx < wp; ++xx) {
          const int64_t iy = y - pad_t, ix = xx - pad_l;
          want[(c * hp + y) * wp + xx] =
              iy >= 0 && iy < ih && ix >= 0 && ix < iw ? x[(c * ih + iy) * iw + ix] : zp;
        }
      }
    }
    INFO("trial " << trial << " planes " << planes << " " << ih << "x" << iw << " padded " << hp << "x" << wp
                  << " at " << pad_t << "," << pad_l);
    REQUIRE(got == want);
  }
}

// Runs Im2colU8 on random data for geometry g and compares every (k, pixel) entry with a
// direct gather from the input (zero point outside it).
void CheckIm2colAgainstGather(const ConvGeometry& g, std::mt19937& rng, int trial) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int64_t k = g.channels * g.kernel_h * g.kernel_w, kp = RoundUp(k, 4);
  const int64_t pixels = g.out_h * g.out_w, np = RoundUp(pixels, 16);
  // Im2colU8's contract: a little readable slack after the input (the arena provides it).
  std::vector<int8_t> x(static_cast<size_t>(g.channels * g.in_h * g.in_w + 64));
  for (auto& v : x) v = static_cast<int8_t>(pick(-128, 127));
  const int8_t zp = static_cast<int8_t>(pick(-128, 127));
  std::vector<int8_t> pad_row(static_cast<size_t>(Im2colPadRowLength(g)), zp);
  // Im2colU8's own stride-2 rows, and the AVX-512 forms (VBMI's where the CPU has it)
  std::vector<Im2colRowsFn> forms = {nullptr};
#if defined(__x86_64__)
  if (TierSupported(KernelTier::kAvx512Vnni)) forms.push_back(&Im2colRowsAvx512);
  if (TierSupported(KernelTier::kAvx512Vnni) && CpuHasAvx512Vbmi()) forms.push_back(&Im2colRowsAvx512Vbmi);
#endif
  constexpr uint8_t kGuard = 0xA5;
  for (Im2colRowsFn rows_fn : forms) {
    // a guard after the operand: nothing may be written past its last k-group's pixels
    std::vector<uint8_t> col(static_cast<size_t>(kp * np + 64), kGuard);
    Im2colU8(x.data(), g, static_cast<uint8_t>(zp + 128), pad_row.data(), kp, np, col.data(), rows_fn);
    for (size_t i = static_cast<size_t>(((kp / 4 - 1) * np + pixels) * 4); i < col.size(); ++i) {
      INFO("trial " << trial << " byte " << i << " past the last pixel of the last k-group");
      REQUIRE(col[i] == kGuard);
    }
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t c = kk / (g.kernel_h * g.kernel_w), ky = (kk / g.kernel_w) % g.kernel_h, kx = kk % g.kernel_w;
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t iy = (p / g.out_w) * g.stride_h - g.pad_top + ky * g.dilation_h;
        const int64_t ix = (p % g.out_w) * g.stride_w - g.pad_left + kx * g.dilation_w;
        const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
        const int expect = (inside ? x[(c * g.in_h + iy) * g.in_w + ix] : zp) + 128;
        const int got = col[((kk >> 2) * np + p) * 4 + (kk & 3)];
        if (got == expect) continue;  // the message only for a mismatch: building it per byte
                                      // dominated the test (minutes under qemu)
        INFO("trial " << trial << " channels " << g.channels << " in " << g.in_h << "x" << g.in_w << " kernel "
                      << g.kernel_h << "x" << g.kernel_w << " stride " << g.stride_h << "x" << g.stride_w << " pad "
                      << g.pad_top << "," << g.pad_left << " k " << kk << " pixel " << p << " avx512 rows "
                      << (rows_fn != nullptr));
        REQUIRE(got == expect);
      }
    }
  }
}

// Kernel widths of 4 and 8 at horizontal stride 2 make every k-group four adjacent taps of
// one row: the pair-interleave path (DS-CNN's 10x4 stem), with rows of 1 to 20 pixels so
// that every tail (1-3 pixels after a 4-pixel chunk, 5-7 from one load) occurs.
TEST_CASE("im2col of four adjacent stride-2 taps matches a naive gather", "[engine][kernels]") {
  std::mt19937 rng(4242);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int channel_counts[] = {1, 3, 16, 17};
  for (int trial = 0; trial < 240; ++trial) {
    ConvGeometry g;
    g.channels = channel_counts[trial % 4];
    g.kernel_h = pick(1, 10);
    g.kernel_w = trial % 3 == 2 ? 8 : 4;
    g.stride_h = pick(1, 3);
    g.stride_w = 2;
    const bool unpadded = trial % 2 == 0;
    g.pad_top = unpadded ? 0 : pick(0, 5);
    g.pad_left = unpadded ? 0 : pick(0, 3);
    const int64_t pad_bottom = unpadded ? 0 : pick(0, 5), pad_right = unpadded ? 0 : pick(0, 3);
    g.in_h = pick(static_cast<int>(std::max<int64_t>(1, g.kernel_h - g.pad_top - pad_bottom)), 30);
    g.in_w = pick(static_cast<int>(std::max<int64_t>(1, g.kernel_w - g.pad_left - pad_right)), 45) | 1;  // odd
    if (g.in_w + g.pad_left + pad_right < g.kernel_w) continue;
    g.out_h = (g.in_h + g.pad_top + pad_bottom - g.kernel_h) / g.stride_h + 1;
    g.out_w = (g.in_w + g.pad_left + pad_right - g.kernel_w) / g.stride_w + 1;
    CheckIm2colAgainstGather(g, rng, trial);
  }
}

// Stride-2 outputs up to 16 pixels wide take whole-row vectors (the row's stores past its
// width overwritten by the next row's, a last row that would store past the operand through
// a buffer; two 8-pixel rows per vector, an odd last row alone; VBMI's one or two rows per
// permute): every width, kernel shape, odd and even output heights.
TEST_CASE("im2col of stride-2 rows up to 16 pixels matches a naive gather", "[engine][kernels]") {
  std::mt19937 rng(816);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 320; ++trial) {
    ConvGeometry g;
    g.channels = pick(1, 9);
    g.kernel_h = pick(1, 3);
    g.kernel_w = pick(1, 3);
    g.stride_h = pick(1, 2);
    g.stride_w = 2;
    g.dilation_h = pick(1, 2);
    g.out_w = trial % 4 == 0 ? 16 : trial % 4 == 1 ? 8 : 1 + trial / 4 % 16;
    g.out_h = pick(1, 9);
    const bool padded = trial % 4 >= 2;
    g.pad_top = padded ? 1 : 0;
    g.pad_left = padded ? 1 : 0;
    g.in_w = (g.out_w - 1) * 2 + g.kernel_w + pick(0, 1) - (padded ? 1 : 0);
    g.in_h = (g.out_h - 1) * g.stride_h + g.dilation_h * (g.kernel_h - 1) + 1 + pick(0, 1) - (padded ? 1 : 0);
    if (g.in_w < 1 || g.in_h < 1) continue;
    CheckIm2colAgainstGather(g, rng, trial);
  }
}

TEST_CASE("im2col matches a naive gather on random geometries", "[engine][kernels]") {
  std::mt19937 rng(99);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 400; ++trial) {
    ConvGeometry g;
    g.channels = pick(1, 5);
    g.in_h = pick(1, 12);
    g.in_w = pick(1, 70);
    g.kernel_h = pick(1, std::min<int>(3, static_cast<int>(g.in_h) + 2));
    g.kernel_w = pick(1, 5);
    g.stride_h = pick(1, 2);
    g.stride_w = pick(1, 3);
    g.dilation_h = pick(1, 2);
    g.dilation_w = pick(1, 2);
    // Half the trials unpadded: every window inside the input (the padded-copy fast path).
    const bool unpadded = trial % 2 == 0;
    g.pad_top = unpadded ? 0 : pick(0, 2);
    g.pad_left = unpadded ? 0 : pick(0, 2);
    const int64_t pad_bottom = unpadded ? 0 : pick(0, 2), pad_right = unpadded ? 0 : pick(0, 2);
    const int64_t span_h = g.dilation_h * (g.kernel_h - 1) + 1, span_w = g.dilation_w * (g.kernel_w - 1) + 1;
    if (g.in_h + g.pad_top + pad_bottom < span_h || g.in_w + g.pad_left + pad_right < span_w) continue;
    g.out_h = (g.in_h + g.pad_top + pad_bottom - span_h) / g.stride_h + 1;
    g.out_w = (g.in_w + g.pad_left + pad_right - span_w) / g.stride_w + 1;
    CheckIm2colAgainstGather(g, rng, trial);
  }
}

}  // namespace
}  // namespace edge::engine

namespace edge::engine {
namespace {

// The 1x1 convs' operand: every tier's four-plane interleave against its definition, at
// lengths around the 8-, 16- and 64-pixel steps (the whole-vector loops and their tails).
TEST_CASE("every tier's four-plane interleave equals its definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(77);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 47, 49, 63, 64, 65, 100, 125, 127, 128, 200, 256, 1024, 1031}) {
      std::vector<std::vector<int8_t>> planes(4, std::vector<int8_t>(static_cast<size_t>(n)));
      for (auto& plane : planes) {
        for (auto& v : plane) v = static_cast<int8_t>(rng());
      }
      const int8_t* src[4] = {planes[0].data(), planes[1].data(), planes[2].data(), planes[3].data()};
      // 64 guard bytes after the n pixels: a tail step must not store past them
      std::vector<uint8_t> got(static_cast<size_t>(n * 4 + 64), 0xA5);
      k.interleave4(src, n, got.data());
      for (int64_t p = 0; p < n; ++p) {
        for (int j = 0; j < 4; ++j) {
          INFO("tier " << KernelTierName(tier) << " n " << n << " pixel " << p << " plane " << j);
          REQUIRE(got[static_cast<size_t>(p * 4 + j)] == static_cast<uint8_t>(planes[j][p] + 128));
        }
      }
      INFO("tier " << KernelTierName(tier) << " n " << n);
      REQUIRE(std::all_of(got.begin() + n * 4, got.end(), [](uint8_t b) { return b == 0xA5; }));
    }
  }
}

// The tier's strided interleave of src against its definition, and nothing stored past it.
void CheckStridedInterleave(const ElementwiseKernels& k, const int8_t* const src[4], int64_t sw, int64_t n) {
  std::vector<uint8_t> got(static_cast<size_t>(n * 4 + 64), 0xA5);
  k.interleave_strided(src, sw, n, got.data());
  for (int64_t p = 0; p < n; ++p) {
    for (int j = 0; j < 4; ++j) {
      INFO("pixel " << p << " row " << j);
      REQUIRE(got[static_cast<size_t>(p * 4 + j)] == static_cast<uint8_t>(src[j][p * sw] + 128));
    }
  }
  REQUIRE(std::all_of(got.begin() + n * 4, got.end(), [](uint8_t b) { return b == 0xA5; }));
}

// Phased convs' operand at column strides 1-9: every tier's strided interleave against its
// definition, around the 8- and 16-pixel steps, with the rows' readable slack (32 bytes) after
// them.
TEST_CASE("every tier's strided interleave equals its definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(1205);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t sw = 1; sw <= 9; ++sw) {
      for (int64_t n : {0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 44, 52, 100}) {
        std::vector<std::vector<int8_t>> rows(4, std::vector<int8_t>(static_cast<size_t>(n * sw + 32)));
        for (auto& row : rows) {
          for (auto& v : row) v = static_cast<int8_t>(rng());
        }
        const int8_t* src[4] = {rows[0].data(), rows[1].data(), rows[2].data(), rows[3].data()};
        INFO("tier " << KernelTierName(tier) << " stride " << sw << " n " << n);
        CheckStridedInterleave(k, src, sw, n);
      }
    }
  }
}

// The SIMD forms at strides 3 and 4 (AVX2) and 2-8 (AVX-512 VBMI) read nothing past a row's
// last used byte: each row ends there, against an inaccessible page.
TEST_CASE("every tier's strided interleave at strides 2-8 reads only the bytes it uses", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(1206);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    // the shared form's stride-2 steps (the AVX2 tiers', arm64's) read up to 31 bytes past:
    // its documented slack
    const bool vbmi = (tier == KernelTier::kAvx512Vnni || tier == KernelTier::kAmx) && CpuHasAvx512Vbmi();
    const int64_t first_stride = vbmi ? 2 : 3, last_stride = vbmi ? 8 : 4;
    for (int64_t sw = first_stride; sw <= last_stride; ++sw) {
      for (int64_t n : {1, 2, 7, 15, 16, 17, 23, 31, 32, 33, 47, 100}) {
        const int64_t len = (n - 1) * sw + 1;
        std::vector<std::unique_ptr<testing::GuardedBuffer>> rows;
        const int8_t* src[4];
        for (int j = 0; j < 4; ++j) {
          std::vector<int8_t> bytes(static_cast<size_t>(len));
          for (auto& v : bytes) v = static_cast<int8_t>(rng());
          rows.push_back(std::make_unique<testing::GuardedBuffer>(bytes.size(), true, bytes.data()));
          src[j] = rows.back()->as<int8_t>();
        }
        INFO("tier " << KernelTierName(tier) << " stride " << sw << " n " << n);
        CheckStridedInterleave(k, src, sw, n);
      }
    }
  }
}

TEST_CASE("every elementwise tier equals the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2, KernelTier::kAvxVnni,
                        KernelTier::kAvx512Vnni, KernelTier::kNeon, KernelTier::kNeonDot,
                        KernelTier::kI8mm);
  std::mt19937 rng(5);
  auto byte = [&] { return static_cast<int8_t>(rng()); };
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {0, 1, 31, 32, 33, 63, 64, 65, 200, 1000}) {
      std::vector<int8_t> table(256), x(static_cast<size_t>(n));
      for (auto& v : table) v = byte();
      for (auto& v : x) v = byte();
      if (n > 2) {
        x[0] = -128;
        x[1] = 127;
      }
      std::vector<int8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      LutScalar(x.data(), n, table.data(), want.data());
      k.lut(x.data(), n, table.data(), got.data());
      INFO("lut tier " << KernelTierName(tier) << " n " << n);
      REQUIRE(got == want);
    }
    // Tables flat at one or both ends (the AVX2 kernel shortens its chains there), over every
    // code: flat runs ending just before, at and just after block boundaries, and whole tables.
    std::vector<int8_t> codes(300), want(300), got(300);
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<int8_t>(i);
    for (int bottom : {-1, 0, 14, 15, 16, 17, 63, 64, 65, 111, 112, 113, 127, 200, 255}) {
      for (int top : {-1, 0, 15, 16, 17, 100, 112, 113, 255}) {
        std::vector<int8_t> table(256);
        for (auto& v : table) v = byte();
        const int8_t low_value = byte(), high_value = bottom == 200 ? low_value : byte();
        for (int i = 0; i <= bottom; ++i) table[static_cast<uint8_t>(-128 + i)] = low_value;
        for (int i = 0; i <= top; ++i) table[static_cast<uint8_t>(127 - i)] = high_value;
        LutScalar(codes.data(), 300, table.data(), want.data());
        k.lut(codes.data(), 300, table.data(), got.data());
        INFO("lut tier " << KernelTierName(tier) << " flat bottom " << bottom << " top " << top);
        REQUIRE(got == want);
      }
    }
    // Residual adds and input quantization, with saturation, extreme zero points, NaN and inf.
    for (int64_t n : {1, 15, 16, 17, 100, 1000}) {
      std::vector<int8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      for (auto& v : a) v = byte();
      for (auto& v : b) v = byte();
      for (int variant = 0; variant < 4; ++variant) {
        QAddArgs p{a.data(), b.data(), n, variant == 0 ? 0.5f : 1.7f, variant == 1 ? 0.25f : 0.9f,
                   variant == 2 ? -128 : 3, variant == 3 ? 127 : -7, variant == 1 ? -128 : 11,
                   variant == 2 ? 0 : -128, 127, nullptr};
        std::vector<int8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        p.y = want.data();
        QAddScalar(p);
        p.y = got.data();
        k.qadd(p);
        INFO("qadd n " << n << " variant " << variant);
        REQUIRE(got == want);
      }
      std::vector<float> x(static_cast<size_t>(n));
      std::normal_distribution<float> dist(0.0f, 30.0f);
      for (auto& v : x) v = dist(rng);
      if (n > 4) {
        x[0] = std::numeric_limits<float>::quiet_NaN();
        x[1] = std::numeric_limits<float>::infinity();
        x[2] = -std::numeric_limits<float>::infinity();
        x[3] = 0.5f;  // a tie: rounds to even
      }
      for (int32_t zp : {-128, 0, 127}) {
        std::vector<int8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        QuantizeScalar(x.data(), n, 0.25f, zp, want.data());
        k.quantize(x.data(), n, 0.25f, zp, got.data());
        INFO("quantize n " << n << " zp " << zp);
        REQUIRE(got == want);
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine

#include "agent/engine/kernels/depthwise.h"

namespace edge::engine {
namespace {

// A depthwise problem: the geometry, per-channel weights and requantization, random data.
struct DepthwiseProblem {
  ConvGeometry g;
  int64_t channels = 0;
  std::vector<int8_t> x, weights;  // weights [channels][plan.taps], zero past the real taps
  std::vector<int32_t> bias_q, bias_eff;
  std::vector<float> mult;
  int8_t zx = 0;
  int32_t zero_point = 0, qmin = -128, qmax = 127;
  DepthwisePlan plan;
};

DepthwiseProblem MakeDepthwiseProblem(std::mt19937& rng, int trial, const ConvGeometry* fixed = nullptr) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  DepthwiseProblem p;
  ConvGeometry& g = p.g;
  g = fixed != nullptr ? *fixed : testing::RandomDepthwiseGeometry(rng, trial, 2);
  const bool extreme = trial % 3 == 0;
  p.channels = pick(1, 21);  // not a multiple of 16 or 64
  p.plan = MakeDepthwisePlan(g);
  p.x.resize(static_cast<size_t>(p.channels * g.in_h * g.in_w));
  for (auto& v : p.x) v = static_cast<int8_t>(extreme ? (pick(0, 1) ? 127 : -128) : pick(-128, 127));
  p.zx = static_cast<int8_t>(trial % 4 == 0 ? -128 : trial % 4 == 1 ? 127 : pick(-128, 127));
  p.zero_point = trial % 5 == 0 ? -128 : trial % 5 == 1 ? 127 : pick(-20, 20);
  // zero points past int16 (no int8 model has one; the kernels' contract allows them)
  if (trial % 13 == 6) p.zero_point = trial % 2 == 0 ? 40000 : -40000;
  if (trial % 7 == 2 && p.zero_point <= 127 && p.zero_point >= -128) p.qmin = p.zero_point;  // a folded Relu
  p.weights.assign(static_cast<size_t>(p.channels * p.plan.taps), 0);
  const int64_t taps = g.kernel_h * g.kernel_w;
  for (int64_t c = 0; c < p.channels; ++c) {
    int64_t sum = 0;
    for (int64_t t = 0; t < taps; ++t) {
      const int w = extreme ? (pick(0, 1) ? 127 : -128) : pick(-128, 127);
      p.weights[c * p.plan.taps + t] = static_cast<int8_t>(w);
      sum += w;
    }
    p.bias_q.push_back(pick(extreme ? -4000000 : -20000, extreme ? 4000000 : 20000));
    // a fuzzed model's bias next to the int32 limits: every tier wraps like the scalar WrapAdd
    if (trial % 11 == 5) {
      p.bias_q.back() = pick(0, 1) == 1 ? std::numeric_limits<int32_t>::max() - pick(0, 2000)
                                        : std::numeric_limits<int32_t>::min() + pick(0, 2000);
    }
    p.bias_eff.push_back(static_cast<int32_t>(p.bias_q.back() - (128 + p.zx) * sum));
    p.mult.push_back(extreme ? 0.5f : std::uniform_real_distribution<float>(1e-4f, 2e-2f)(rng));
  }
  return p;
}

// The conv's definition: out = requantize(bias + sum over in-bounds taps of w * (x - zx)), the
// sum taken mod 2^32 like every kernel's int32 accumulator (a bias next to the int32 limits
// wraps).
std::vector<int8_t> NaiveDepthwise(const DepthwiseProblem& p) {
  const ConvGeometry& g = p.g;
  std::vector<int8_t> y;
  for (int64_t c = 0; c < p.channels; ++c) {
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        uint32_t acc = static_cast<uint32_t>(p.bias_q[c]);
        for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
          for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
            const int64_t iy = oy * g.stride_h - g.pad_top + ky * g.dilation_h;
            const int64_t ix = ox * g.stride_w - g.pad_left + kx * g.dilation_w;
            if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
            acc += static_cast<uint32_t>(p.weights[c * p.plan.taps + ky * g.kernel_w + kx] *
                                         (p.x[(c * g.in_h + iy) * g.in_w + ix] - p.zx));
          }
        }
        y.push_back(Requantize(static_cast<int32_t>(acc), p.mult[c], p.zero_point, p.qmin, p.qmax));
      }
    }
  }
  return y;
}

// Runs a depthwise kernel the way the conv step does: phase split if the plan asks for it,
// then the output planes (copied out of the grid when it is wider than the output). The
// kernel's source (the input or its phases) ends at an inaccessible page (guard_after) or
// starts right after one: a tier may read any byte of the source, never one outside it.
// With `unsplit` (a split plan the tier's depthwise_unsplit accepts), the kernel gets the input
// planes unsplit instead, in a buffer with the 15 bytes of slack the contract gives them before
// its guard page (or right after one).
std::vector<int8_t> RunDepthwise(DepthwiseFn fn, const DepthwiseProblem& p, bool guard_after = true,
                                 bool unsplit = false) {
  const DepthwisePlan& plan = p.plan;
  std::vector<int8_t> phases(static_cast<size_t>(p.channels * plan.phase_bytes));
  const int8_t* src = p.x.data();
  std::vector<int8_t> slack = p.x;
  slack.resize(slack.size() + 15);
  const testing::GuardedBuffer input(slack.size(), guard_after, slack.data());
  if (unsplit) {
    REQUIRE(plan.split);
    src = phases.data();  // (zeros: the kernel reads `input` unsplit; the phases' size, not p.x's)
  } else if (plan.split) {
    // the split's contract: 15 readable bytes after the input (the arena gives every tensor 64)
    std::vector<int8_t> x = p.x;
    x.resize(x.size() + 15);
    SplitDepthwisePhases(x.data(), p.g, plan, p.channels, phases.data());
    src = phases.data();
  }
  const int64_t src_stride = plan.split ? plan.phase_bytes : p.g.in_h * p.g.in_w;
  const testing::GuardedBuffer guarded(static_cast<size_t>(p.channels * src_stride), guard_after, src);
  // The grid, with a guard byte after each channel so writes past the grid are caught.
  const int64_t stride = plan.grid + 1;
  std::vector<int8_t> grid(static_cast<size_t>(p.channels * stride), int8_t{0x5A});
  DepthwiseArgs a;
  a.src = guarded.as<int8_t>();
  a.src_stride = src_stride;
  a.out = grid.data();
  a.out_stride = stride;
  a.channels = p.channels;
  a.plan = &plan;
  a.weights = p.weights.data();
  const std::vector<int32_t> word_weights = PackDepthwiseWords(plan, p.weights.data(), p.channels);
  a.word_weights = word_weights.data();
  a.bias = p.bias_eff.data();
  a.mult = p.mult.data();
  a.zx = p.zx;
  a.zero_point = p.zero_point;
  a.qmin = p.qmin;
  a.qmax = p.qmax;
  if (unsplit) {
    a.unsplit = input.as<int8_t>();
    a.unsplit_stride = p.g.in_h * p.g.in_w;
    a.geom = &p.g;
  }
  fn(a);
  std::vector<int8_t> y;
  for (int64_t c = 0; c < p.channels; ++c) {
    REQUIRE(grid[c * stride + plan.grid] == 0x5A);
    for (int64_t oy = 0; oy < p.g.out_h; ++oy) {
      for (int64_t ox = 0; ox < p.g.out_w; ++ox) y.push_back(grid[c * stride + oy * plan.pitch + ox]);
    }
  }
  return y;
}

// The stride-phase split against its definition: phase (rp, cp) row r column j holds input
// (r * sh + rp, j * sw + cp); every other byte of the phase buffer stays untouched. Widths
// 16 and 32 (the paired-row and 32-byte paths), odd widths, rows past 64 bytes (whole and
// masked 64-byte loads), 1-3 strides, channels 1, 3, 16+; the AVX-512 split too (its 16-byte
// rows four at a time, other rows at column stride 2 64 bytes per vector).
TEST_CASE("the depthwise stride-phase split places every input byte", "[engine][kernels]") {
  std::mt19937 rng(77);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int widths[] = {16, 32, 48, 64, 15, 17, 31, 33, 8, 128, 65, 127, 200, 2000};
  const int channel_counts[] = {1, 3, 16, 21};
  int vector_path = 0, rows_path = 0;
  for (int trial = 0; trial < 500; ++trial) {
    ConvGeometry g;
    g.in_h = pick(1, 20);
    g.in_w = trial % 10 == 9 ? pick(1, 300) : widths[trial % 14];
    g.in_h = g.in_w > 500 ? pick(1, 3) : g.in_h;
    g.kernel_h = pick(1, 3);
    g.kernel_w = pick(1, 3);
    g.stride_h = trial % 4 == 3 ? pick(1, 3) : 2;
    g.stride_w = trial % 5 == 4 ? pick(1, 3) : 2;
    g.pad_top = pick(0, 1);
    g.pad_left = pick(0, 1);
    if (g.in_h + 2 * g.pad_top < g.kernel_h || g.in_w + 2 * g.pad_left < g.kernel_w) continue;
    g.out_h = (g.in_h + 2 * g.pad_top - g.kernel_h) / g.stride_h + 1;
    g.out_w = (g.in_w + 2 * g.pad_left - g.kernel_w) / g.stride_w + 1;
    const DepthwisePlan plan = MakeDepthwisePlan(g);
    if (!plan.split) continue;
    const int64_t channels = channel_counts[trial % 4];
    // the split's contract: 15 bytes of readable slack after the input (as the arena gives),
    // here the last ones before an inaccessible page
    std::vector<int8_t> x(static_cast<size_t>(channels * g.in_h * g.in_w + 15));
    for (auto& v : x) v = static_cast<int8_t>(pick(-128, 127));
    const testing::GuardedBuffer guarded_x(x.size(), true, x.data());
    std::vector<int8_t> got(static_cast<size_t>(channels * plan.phase_bytes), int8_t{0x5A});
    SplitDepthwisePhases(guarded_x.as<int8_t>(), g, plan, channels, got.data());
    if (TierSupported(KernelTier::kAvx512Vnni)) {  // its own paths for stride-2 columns, the generic one otherwise
      // the phases against an inaccessible page too (at their end, or at their start)
      const std::vector<int8_t> canary(got.size(), int8_t{0x5A});
      const testing::GuardedBuffer wide(got.size(), trial % 2 == 0, canary.data());
      ElementwiseForTier(KernelTier::kAvx512Vnni).depthwise_split(guarded_x.as<int8_t>(), g, plan, channels, wide.as<int8_t>());
      REQUIRE(std::vector<int8_t>(wide.as<int8_t>(), wide.as<int8_t>() + got.size()) == got);
      if (g.in_w == 16 && g.in_h % 4 == 0 && plan.pitch == 8 && g.stride_h == 2 && g.stride_w == 2 &&
          plan.row_phase_read[0] != 0 && plan.row_phase_read[1] != 0) {
        ++vector_path;
      } else if (g.stride_w == 2) {
        ++rows_path;
      }
    }
    std::vector<int8_t> want(got.size(), int8_t{0x5A});
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t iy = 0; iy < g.in_h; ++iy) {
        // row phases no kernel row reads are left alone
        if (plan.row_phase_read[static_cast<size_t>(iy % g.stride_h)] == 0) continue;
        for (int64_t ix = 0; ix < g.in_w; ++ix) {
          const int64_t phase = (iy % g.stride_h) * g.stride_w + ix % g.stride_w;
          want[c * plan.phase_bytes + (phase * plan.phase_rows + iy / g.stride_h) * plan.pitch + ix / g.stride_w] =
              x[(c * g.in_h + iy) * g.in_w + ix];
        }
      }
    }
    INFO("trial " << trial << " channels " << channels << " in " << g.in_h << "x" << g.in_w << " stride "
                  << g.stride_h << "x" << g.stride_w << " pitch " << plan.pitch);
    REQUIRE(got == want);
  }
  if (TierSupported(KernelTier::kAvx512Vnni)) {
    CHECK(vector_path >= 5);
    CHECK(rows_path >= 50);
  }
}

// Every tier's kernel against the conv's definition; where the tier reads the plan's input
// unsplit, that way too. Returns how many tiers did.
int CheckDepthwiseTiers(const DepthwiseProblem& p, const std::vector<KernelTier>& tiers) {
  const auto want = NaiveDepthwise(p);
  REQUIRE(RunDepthwise(&DepthwiseScalar, p) == want);
  int unsplit = 0;
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    REQUIRE(RunDepthwise(k.depthwise, p, true) == want);
    REQUIRE(RunDepthwise(k.depthwise, p, false) == want);
    if (p.plan.split && k.depthwise_unsplit != nullptr && k.depthwise_unsplit(p.plan)) {
      INFO("unsplit");
      REQUIRE(RunDepthwise(k.depthwise, p, true, true) == want);
      REQUIRE(RunDepthwise(k.depthwise, p, false, true) == want);
      ++unsplit;
    }
  }
  return unsplit;
}

TEST_CASE("depthwise kernels equal the conv definition and each other", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2, KernelTier::kAvxVnni,
                        KernelTier::kAvx512Vnni, KernelTier::kNeon, KernelTier::kNeonDot,
                        KernelTier::kI8mm);
  std::mt19937 rng(31);
  int word_plans = 0, slot_plans = 0, gapped_plans = 0, unsplit = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const DepthwiseProblem p = MakeDepthwiseProblem(rng, trial);
    const ConvGeometry& g = p.g;
    if (p.plan.words > 0) ++word_plans;
    if (p.plan.slots > 0) ++slot_plans;
    if (p.plan.gap.avx2) ++gapped_plans;
    INFO("trial " << trial << " in " << g.in_h << "x" << g.in_w << " kernel " << g.kernel_h << "x" << g.kernel_w
                  << " stride " << g.stride_h << "x" << g.stride_w << " dilation " << g.dilation_h << "x"
                  << g.dilation_w << " pad " << g.pad_top << "," << g.pad_left << " out " << g.out_h << "x"
                  << g.out_w << " channels " << p.channels);
    unsplit += CheckDepthwiseTiers(p, tiers) > 0;
  }
  // the AVX2 pair slots on split plans read the input unsplit (strides 1-3, rows of any width)
  if (std::find(tiers.begin(), tiers.end(), KernelTier::kAvx2) != tiers.end()) CHECK(unsplit >= 30);
  // Both forms of the SIMD kernels were met (word groups: stride 1, few taps per row; the AVX2
  // tier's pair slots where they are cheaper than its per-tap form).
  CHECK(word_plans >= 30);
  CHECK(word_plans <= 570);
  CHECK(slot_plans >= 30);
  CHECK(slot_plans <= 570);
  // the AVX2 tier's gapped rows (output rows of 8 or more, where cheapest)
  CHECK(gapped_plans >= 20);
  CHECK(gapped_plans <= 400);
}

// One channel's depthwise geometry of ih x iw: a k x k kernel, the same stride, dilation and
// padding on both axes.
ConvGeometry DepthwiseGeometry(int64_t ih, int64_t iw, int64_t k, int64_t stride, int64_t dilation, int64_t pad) {
  ConvGeometry g;
  g.channels = 1;
  g.in_h = ih;
  g.in_w = iw;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = stride;
  g.dilation_h = g.dilation_w = dilation;
  g.pad_top = g.pad_left = pad;
  g.out_h = (ih + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
  g.out_w = (iw + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
  return g;
}

// Each case `trials` times (random channels, values and zero points): the AVX2 tier takes its
// gapped rows (copied in several bands where `banded`), and every tier equals the definition.
void CheckGappedCases(const std::vector<ConvGeometry>& cases, int trials, bool banded, unsigned seed,
                      const std::vector<KernelTier>& tiers) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < cases.size(); ++i) {
    for (int trial = 0; trial < trials; ++trial) {
      const DepthwiseProblem p = MakeDepthwiseProblem(rng, trial, &cases[i]);
      INFO("case " << i << " trial " << trial << " slots " << p.plan.gap.slots() << " band " << p.plan.gap.band
                   << " of " << p.g.out_h << " rows");
      REQUIRE(p.plan.gap.pitch > 0);
      REQUIRE(p.plan.gap.avx2);
      if (banded) REQUIRE(p.plan.gap.band < p.g.out_h);
      CheckDepthwiseTiers(p, tiers);
    }
  }
}

// The AVX2 tier's gapped rows on the shapes they are for: MobileNet's 16 x 16 and efflite_swish's
// 40 x 56 3x3 planes, its 20 x 28 5x5 one (two overlapping units a row), and rows of 32 read
// through stride phases (an odd input width: the copy's one value past the odd phase's row),
// dilated, and a 5x5 at stride 2; mnas_se's 15 x 15 5x5 outputs at strides 1 and 2 and a
// 3x3 on rows of 14 (units wider than the rows, spilling into the next row, one channel's last
// row stored exactly: the grid's guard byte). Every tier, guarded, unsplit and split.
TEST_CASE("depthwise kernels equal the conv definition on gapped-row plans", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2, KernelTier::kAvxVnni,
                        KernelTier::kAvx512Vnni, KernelTier::kNeon, KernelTier::kNeonDot,
                        KernelTier::kI8mm);
  const std::vector<ConvGeometry> cases = {
      DepthwiseGeometry(16, 16, 3, 1, 1, 1), DepthwiseGeometry(40, 56, 3, 1, 1, 1),
      DepthwiseGeometry(20, 28, 5, 1, 1, 2), DepthwiseGeometry(33, 63, 3, 2, 1, 1),
      DepthwiseGeometry(12, 32, 3, 1, 2, 2), DepthwiseGeometry(41, 63, 5, 2, 1, 2),
      DepthwiseGeometry(15, 15, 5, 1, 1, 2), DepthwiseGeometry(29, 29, 5, 2, 1, 2),
      DepthwiseGeometry(40, 14, 3, 1, 1, 1)};
  CheckGappedCases(cases, 4, /*banded=*/false, 2718, tiers);
}

// Gapped rows on planes whose copy takes several bands of output rows: a MobileNet-sized 112 x 112
// 3x3, a 5x5 at stride 2 on an odd width (phases in bands, the copy's value past the odd phase),
// a 5x5, rows of 40 (two overlapping units a row) and rows of 12 (narrow units spilling across
// a band's last row) on tall planes.
TEST_CASE("depthwise kernels equal the conv definition on gapped rows in bands", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2, KernelTier::kAvxVnni,
                        KernelTier::kAvx512Vnni, KernelTier::kNeon, KernelTier::kNeonDot,
                        KernelTier::kI8mm);
  const std::vector<ConvGeometry> cases = {
      DepthwiseGeometry(112, 112, 3, 1, 1, 1), DepthwiseGeometry(121, 121, 5, 2, 1, 2),
      DepthwiseGeometry(90, 90, 5, 1, 1, 2), DepthwiseGeometry(300, 40, 3, 1, 1, 1),
      DepthwiseGeometry(900, 12, 3, 1, 1, 1)};
  CheckGappedCases(cases, 3, /*banded=*/true, 1618, tiers);
}

// A randomized run of the AVX2 gapped rows: EDGE_STRESS_N geometries that take them (500 in
// tests/run.sh, ~2 s), seed EDGE_STRESS_SEED; the long run (docs/engine.md, "Tests"):
//   EDGE_STRESS_N=20000 build/ci/tests/unit/engine/edge_engine_tests "[stress-depthwise]"
// Rows of 8-70 outputs (mostly 8-17 and 31-33), planes of up to 400 rows (several bands),
// kernels up to 7x7 and non-square, strides and dilations 1-3 each way, pads up to the kernel's
// span; each against the definition at the avx2 tier, split and unsplit, between guard pages.
TEST_CASE("stress: the AVX2 gapped-row depthwise on random geometries", "[engine][kernels][stress-depthwise]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2);
  if (tiers.empty()) EDGE_SKIP("this CPU has no avx2 tier");  // (arm64, or x86-64 without AVX2)
  const char* count = std::getenv("EDGE_STRESS_N");
  const char* seed = std::getenv("EDGE_STRESS_SEED");
  const int budget = count != nullptr ? std::atoi(count) : 500;
  std::mt19937 rng(seed != nullptr ? static_cast<unsigned>(std::atoi(seed)) : 1u);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int gapped = 0, banded = 0, narrow = 0, split = 0;
  for (int trial = 0; gapped < budget && trial < 100 * budget; ++trial) {
    ConvGeometry g;
    g.channels = 1;
    g.kernel_h = pick(1, 7);
    g.kernel_w = pick(0, 2) == 0 ? g.kernel_h : pick(1, 7);
    g.stride_h = pick(1, 3);
    g.stride_w = pick(1, 3);
    g.dilation_h = pick(0, 2) == 0 ? pick(1, 3) : 1;
    g.dilation_w = pick(0, 2) == 0 ? pick(1, 3) : 1;
    const int64_t span_h = g.dilation_h * (g.kernel_h - 1) + 1, span_w = g.dilation_w * (g.kernel_w - 1) + 1;
    g.pad_top = pick(0, static_cast<int>(span_h - 1));
    g.pad_left = pick(0, static_cast<int>(span_w - 1));
    const int64_t pad_bottom = pick(0, static_cast<int>(span_h - 1)), pad_right = pick(0, static_cast<int>(span_w - 1));
    const int mode = pick(0, 9);
    const int64_t ow = mode < 4 ? pick(8, 17) : mode < 6 ? pick(31, 33) : pick(8, 70);
    g.in_w = (ow - 1) * g.stride_w + span_w - g.pad_left - pad_right + pick(0, static_cast<int>(g.stride_w - 1));
    g.in_h = pick(0, 3) == 0 ? pick(40, 400) : pick(1, 40);
    if (g.in_w < 1 || g.in_h + g.pad_top + pad_bottom < span_h) continue;
    g.out_h = (g.in_h + g.pad_top + pad_bottom - span_h) / g.stride_h + 1;
    g.out_w = (g.in_w + g.pad_left + pad_right - span_w) / g.stride_w + 1;
    if (!MakeDepthwisePlan(g).gap.avx2) continue;
    const DepthwiseProblem p = MakeDepthwiseProblem(rng, trial, &g);
    ++gapped;
    banded += p.plan.gap.band < g.out_h;
    narrow += g.out_w < 16;
    split += p.plan.split;
    INFO("trial " << trial << " in " << g.in_h << "x" << g.in_w << " kernel " << g.kernel_h << "x" << g.kernel_w
                  << " stride " << g.stride_h << "x" << g.stride_w << " dilation " << g.dilation_h << "x"
                  << g.dilation_w << " pad " << g.pad_top << "," << g.pad_left << " out " << g.out_h << "x"
                  << g.out_w << " channels " << p.channels);
    CheckDepthwiseTiers(p, tiers);
  }
  WARN(gapped << " gapped-row plans checked: " << banded << " in bands, " << narrow << " with rows under 16, "
              << split << " split");
  CHECK(gapped == budget);
}

// Word-group plans the random geometries meet only by chance: more than three groups (5x5, the
// kernel's general loop), groups over stride phases (5x5 stride 2), a 1x1 kernel, the 3x3 case;
// and two that may go either way (a dilated 3x3, a 4x4).
TEST_CASE("depthwise kernels equal the conv definition on fixed word-group plans", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kAvx2, KernelTier::kAvxVnni,
                        KernelTier::kAvx512Vnni, KernelTier::kNeon, KernelTier::kNeonDot,
                        KernelTier::kI8mm);
  auto geometry = [](int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pad) {
    ConvGeometry g;
    g.channels = 1;
    g.in_h = g.in_w = in;
    g.kernel_h = g.kernel_w = k;
    g.stride_h = g.stride_w = stride;
    g.dilation_h = g.dilation_w = dilation;
    g.pad_top = g.pad_left = pad;
    g.out_h = g.out_w = (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
    return g;
  };
  // The zoo's depthwise convs for the AVX2 tier's pair slots: DS-CNN's 25x5 planes (a source
  // of 125 values, not a multiple of 16), odd_strides' dilated stride-2 conv (the slots read
  // one of four phases), a 3x3 source shorter than 16 values, and a plane whose slot copy
  // would not fit (the per-tap form).
  ConvGeometry ds_cnn = geometry(5, 3, 1, 1, 1), odd = geometry(23, 3, 2, 2, 2), small = geometry(3, 3, 1, 1, 1);
  ds_cnn.in_h = ds_cnn.out_h = 25;
  odd.in_h = 21;
  odd.out_h = 11;
  const ConvGeometry large = geometry(120, 3, 1, 1, 1);
  const ConvGeometry cases[] = {geometry(12, 5, 1, 1, 2), geometry(13, 5, 2, 1, 2), geometry(11, 3, 1, 2, 2),
                                geometry(9, 1, 1, 1, 0),  geometry(20, 4, 1, 1, 1), geometry(16, 3, 1, 1, 1),
                                ds_cnn, odd, small, large};
  std::mt19937 rng(5150);
  for (size_t i = 0; i < std::size(cases); ++i) {
    for (int trial = 0; trial < 6; ++trial) {
      const DepthwiseProblem p = MakeDepthwiseProblem(rng, trial, &cases[i]);
      INFO("case " << i << " trial " << trial << " words " << p.plan.words << " slots " << p.plan.slots);
      if (i != 2 && i != 4 && i < 7) REQUIRE(p.plan.words > 0);  // dilated and 4-wide rows: either form
      if (i == 5 || i == 6 || i == 7) REQUIRE(p.plan.slots == 6);  // 3x3: three pairs and three single taps
      if (i == 7) REQUIRE(p.plan.slot_read_end - p.plan.slot_read_begin < p.plan.phase_bytes / 2);
      if (i == 9) REQUIRE(p.plan.slots == 0);
      CheckDepthwiseTiers(p, tiers);
    }
  }
}

TEST_CASE("depthwise word groups cover each tap once, stride 1 only where they pay", "[engine][kernels]") {
  ConvGeometry g;
  g.in_h = g.in_w = 16;
  g.kernel_h = g.kernel_w = 3;
  g.pad_top = g.pad_left = 1;
  g.out_h = g.out_w = 16;
  const DepthwisePlan s1 = MakeDepthwisePlan(g);
  REQUIRE(s1.words == 3);  // one group per kernel row
  for (int w = 0; w < s1.words; ++w) {
    for (int j = 0; j < 3; ++j) {
      const int t = s1.word_taps[static_cast<size_t>(4 * w + j)];
      REQUIRE(t == 3 * w + j);
      REQUIRE(s1.offsets[static_cast<size_t>(t)] == s1.word_offsets[static_cast<size_t>(w)] + j);
    }
    REQUIRE(s1.word_taps[static_cast<size_t>(4 * w + 3)] == -1);
  }
  g.stride_h = g.stride_w = 2;
  g.out_h = g.out_w = 8;
  REQUIRE(MakeDepthwisePlan(g).words == 0);  // six groups over the phases: the per-tap form is cheaper
}

}  // namespace
}  // namespace edge::engine
