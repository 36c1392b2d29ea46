// A hostile review of the arm64 target (kernel tiers neon, neondot, i8mm; cross-architecture
// bit-exactness). Two kinds of case:
//   - the int8 matrix kernel of every tier against the scalar reference with each operand,
//     bias, multiplier and output buffer sized exactly and placed against an inaccessible page
//     (qgemm_tier_test uses vectors, where a read or write a few bytes past the end goes
//     unseen), on the shapes the arm64 kernels special-case: m = 1 with weights right (i8mm
//     defers to the SDOT kernel and its bias_signed), kp % 8 == 4 (i8mm's odd last k-group),
//     n not a multiple of 8 or 16 with the engine's extra 16 padded columns (PackedColumns),
//     grid stores with and without a k-group pointer table, and a K whose int32 sums wrap;
//   - libm: the float functions ApplyUnary (ops/unary_math.h) calls must give x86-64's bits,
//     since a self-test recorded on an x86-64 machine is checked with tolerance 0 on an arm64
//     gateway (cross_arch_test.cpp, docs/install.md). glibc's tanhf, erff and log1pf did not
//     (arm64's differed in the last bit; found by sweeping every 997th float bit pattern on
//     both), so those come from ops/portable_math.h; the case below holds them to x86-64's bits.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/ops/unary_math.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine {
namespace {

using testing::GuardedBuffer;

struct Shape {
  QGemmWeights weights;
  int64_t m, n, k, np;
  int64_t pitch, width;  // grid store when pitch > 0
  bool groups;           // right operand through a k-group pointer table
  int fill;              // -1: random bytes; else every activation byte this, every weight -127
};

std::string Describe(const Shape& s, KernelTier tier, bool at_end) {
  return std::string(KernelTierName(tier)) + (s.weights == QGemmWeights::kLeft ? " weights left" : " weights right") +
         " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         " np=" + std::to_string(s.np) + " pitch=" + std::to_string(s.pitch) + " width=" + std::to_string(s.width) +
         (s.groups ? " groups" : "") + (at_end ? " guard after" : " guard before");
}

// Builds the operands from `seed` in guarded buffers and runs `fn`; returns the output bytes.
std::vector<int8_t> RunGuarded(QGemmFn fn, const Shape& s, uint32_t seed, bool at_end) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  const bool left_weights = s.weights == QGemmWeights::kLeft;
  const int64_t kp = RoundUp(s.k, 4), np = s.np;
  auto activation = [&] { return static_cast<uint8_t>(s.fill < 0 ? byte(rng) : s.fill); };
  auto weight = [&] { return static_cast<uint8_t>(s.fill < 0 ? byte(rng) : 0x81); };
  GuardedBuffer left(static_cast<size_t>(s.m * kp), at_end), right(static_cast<size_t>(kp * np), at_end);
  uint8_t* l = left.as<uint8_t>();
  uint8_t* r = right.as<uint8_t>();
  std::memset(l, 0, static_cast<size_t>(s.m * kp));
  std::memset(r, 0, static_cast<size_t>(kp * np));
  for (int64_t row = 0; row < s.m; ++row)
    for (int64_t c = 0; c < s.k; ++c) l[row * kp + c] = left_weights ? weight() : activation();
  for (int64_t c = 0; c < s.k; ++c)
    for (int64_t col = 0; col < s.n; ++col) r[((c >> 2) * np + col) * 4 + (c & 3)] = left_weights ? activation() : weight();
  const int64_t channels = left_weights ? s.m : np;
  GuardedBuffer bias(static_cast<size_t>(channels) * 4, at_end), bias_signed(static_cast<size_t>(channels) * 4, at_end),
      mult(static_cast<size_t>(channels) * 4, at_end);
  std::uniform_int_distribution<int32_t> bias_value(-2000000, 2000000);
  for (int64_t ch = 0; ch < channels; ++ch) {
    bias.as<int32_t>()[ch] = bias_value(rng);
    mult.as<float>()[ch] = std::ldexp(0.7f, -(byte(rng) % 20));
    uint32_t sum = 0;
    for (int64_t k = 0; k < kp; ++k) {
      const uint8_t w = left_weights ? l[ch * kp + k] : r[((k >> 2) * np + ch) * 4 + (k & 3)];
      sum += static_cast<uint32_t>(int32_t{static_cast<int8_t>(w)});
    }
    bias_signed.as<int32_t>()[ch] = static_cast<int32_t>(static_cast<uint32_t>(bias.as<int32_t>()[ch]) + 128u * sum);
  }
  const int64_t ldo = s.pitch > 0 ? (s.n + s.pitch - 1) / s.pitch * s.width : s.n;
  GuardedBuffer out(static_cast<size_t>(s.m * ldo), at_end);
  std::memset(out.as<int8_t>(), 0x5A, static_cast<size_t>(s.m * ldo));
  const int64_t group_count = kp / 4;
  GuardedBuffer table(static_cast<size_t>(group_count) * sizeof(void*), at_end);
  const uint8_t** groups = table.as<const uint8_t*>();
  for (int64_t g = 0; g < group_count; ++g) groups[g] = r + g * np * 4;
  QGemmArgs a;
  a.weights = s.weights;
  a.m = s.m;
  a.n = s.n;
  a.kp = kp;
  a.np = np;
  a.left = l;
  a.right = r;
  if (s.groups) a.right_groups = groups;
  a.bias = bias.as<int32_t>();
  a.bias_signed = bias_signed.as<int32_t>();
  a.mult = mult.as<float>();
  a.zero_point = static_cast<int32_t>(seed % 256) - 128;
  a.out = out.as<int8_t>();
  a.ldo = ldo;
  a.grid_pitch = s.pitch;
  a.grid_width = s.width;
  fn(a);
  return std::vector<int8_t>(out.as<int8_t>(), out.as<int8_t>() + s.m * ldo);
}

TEST_CASE("hostile: qgemm tiers read and write only inside exactly sized operands", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::vector<Shape> shapes;
  for (QGemmWeights w : {QGemmWeights::kLeft, QGemmWeights::kRight}) {
    for (int64_t m : {1, 2, 3, 8, 9}) {
      for (int64_t k : {1, 4, 12, 13, 36, 260}) {  // kp % 8 == 4: 4, 12, 36, 260
        for (int64_t n : {1, 7, 9, 17, 113}) {
          const int64_t np = (m + k + n) % 2 != 0 ? PackedColumns(n) : RoundUp(n, 16) + 16;
          shapes.push_back({w, m, n, k, np, 0, 0, (m + n) % 3 == 0, -1});
          if (n >= 9) {
            const int64_t pitch = 3 + n % 5;
            shapes.push_back({w, m, n, k, np, pitch, pitch - k % 3, k % 2 == 0, -1});
          }
        }
      }
    }
    // |sum| = 255 * 127 * K wraps int32 several times
    for (int64_t m : {1, 2, 3}) shapes.push_back({w, m, 9, 70004, 16, 0, 0, false, 255});
  }
  uint32_t seed = 0;
  for (const Shape& s : shapes) {
    for (bool at_end : {true, false}) {
      ++seed;
      const std::vector<int8_t> reference = RunGuarded(&QGemmScalar, s, seed, at_end);
      for (KernelTier tier : tiers) {
        INFO(Describe(s, tier, at_end));
        REQUIRE(RunGuarded(QGemmForTier(tier), s, seed, at_end) == reference);
      }
    }
  }
}

uint32_t Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float FromBits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}


// The functions glibc computes differently on x86-64 and arm64 (tanhf, erff, log1pf) come from
// ops/portable_math.h. A sweep of every 4099th float bit pattern through each activation that
// uses them must hash to the value recorded on x86-64, and stay within 1 ulp of glibc's double
// functions rounded to float.
TEST_CASE("hostile: float Tanh, Erf, Softplus, Mish and Gelu give x86-64's bits on every architecture",
          "[engine][cross-arch]") {
  struct Op {
    UnaryKind kind;
    uint64_t recorded;  // FNV-1a of the outputs' bits, recorded on x86-64
    double (*reference)(double);
  };
  const Op ops[] = {
      {UnaryKind::kTanh, 0x80d430a6ac49de09ull, [](double x) { return std::tanh(x); }},
      {UnaryKind::kErf, 0x400032b04494b525ull, [](double x) { return std::erf(x); }},
      {UnaryKind::kSoftplus, 0x902cd4436bc4101full,
       [](double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }},
      {UnaryKind::kMish, 0x799409d95a216eecull, nullptr},
      {UnaryKind::kGelu, 0xfb1f94f9fb5a19c9ull, nullptr},
      {UnaryKind::kGeluTanh, 0x32ca17b4df0cdeb1ull, nullptr},
  };
  for (const Op& op : ops) {
    UnaryParams params;
    params.kind = op.kind;
    uint64_t hash = 1469598103934665603ull;
    int64_t worst_ulp = 0;
    float worst_x = 0;
    for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 4099) {
      const float x = FromBits(static_cast<uint32_t>(b));
      const float y = ApplyUnary(params, x);
      const uint32_t bits = Bits(y);
      for (int i = 0; i < 4; ++i) hash = (hash ^ ((bits >> (8 * i)) & 0xFF)) * 1099511628211ull;
      if (op.reference == nullptr || std::isnan(x)) continue;
      const float ref = static_cast<float>(op.reference(x));
      if (std::isnan(ref) || y == ref) continue;
      const int64_t ulp = std::llabs(static_cast<int64_t>(Bits(y) & 0x7FFFFFFF) - static_cast<int64_t>(Bits(ref) & 0x7FFFFFFF));
      if (std::signbit(y) != std::signbit(ref) || ulp > worst_ulp) {
        worst_ulp = std::signbit(y) != std::signbit(ref) ? INT64_MAX : ulp;
        worst_x = x;
      }
    }
    INFO("op " << static_cast<int>(op.kind) << ": hash 0x" << std::hex << hash << std::dec << ", worst " << worst_ulp
               << " ulp at " << worst_x);
    CHECK(worst_ulp <= 1);
    CHECK(hash == op.recorded);
  }
}

}  // namespace
}  // namespace edge::engine
