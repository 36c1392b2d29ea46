// The tiers' float Tanh, Erf, Gelu and GeluTanh (kernels/float_math_simd.h: AVX2, AVX-512)
// against the scalar definitions (ops/portable_math.h, ApplyUnary) bit for bit, NaN payloads
// and signs of zero included: every 4099th float bit pattern, the special values and the
// neighbours of the range boundaries; every length 1-37 (the vector tails) against an
// inaccessible page (a read past the input faults) with guard floats after the output; and the
// float UnaryStep (Tanh, Erf, Gelu, Mish) at each tier against the scalar tier.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/ops/unary_math.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

uint32_t BitsOf(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
float FloatOf(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

struct TranscendentalCase {
  FloatTranscendental op;
  UnaryKind kind;
  const char* name;
};
constexpr TranscendentalCase kCases[] = {
    {FloatTranscendental::kTanh, UnaryKind::kTanh, "Tanh"},
    {FloatTranscendental::kErf, UnaryKind::kErf, "Erf"},
    {FloatTranscendental::kGelu, UnaryKind::kGelu, "Gelu"},
    {FloatTranscendental::kGeluTanh, UnaryKind::kGeluTanh, "GeluTanh"},
};

// The special values (zeros, infinities, quiet and signalling NaNs of both signs, the smallest
// and largest subnormals and normals) and the four floats either side of each range boundary of
// Tanh, Expm1, Erf and the Gelu arguments that reach them, of both signs.
std::vector<float> SpecialInputs() {
  std::vector<float> x;
  for (uint32_t bits : {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7FC12345u,
                        0x7F800001u, 0xFF812345u, 0x7FBFFFFFu, 0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu,
                        0x00800000u, 0x80800000u, 0x7F7FFFFFu, 0xFF7FFFFFu}) {
    x.push_back(FloatOf(bits));
  }
  for (float edge : {0.25f, 0.5f, 2.0f, 6.0f, 10.0f, 20.0f, 20.5f, 2.0f * 1.41421356f, 6.0f * 1.41421356f, 1e-20f}) {
    for (float sign : {1.0f, -1.0f}) {
      float v = sign * edge;
      for (int s = 0; s < 4; ++s) v = std::nextafter(v, -sign * INFINITY);
      for (int s = 0; s < 9; ++s, v = std::nextafter(v, sign * INFINITY)) x.push_back(v);
    }
  }
  return x;
}

// Every 4099th bit pattern, then the special values.
std::vector<float> SweepInputs() {
  std::vector<float> x;
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 4099) x.push_back(FloatOf(static_cast<uint32_t>(b)));
  const std::vector<float> special = SpecialInputs();
  x.insert(x.end(), special.begin(), special.end());
  return x;
}

std::vector<float> Reference(UnaryKind kind, const std::vector<float>& x) {
  UnaryParams p;
  p.kind = kind;
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = ApplyUnary(p, x[i]);
  return y;
}

// got[i] and want[i] have the same bits for every i < n, or INFO names the first that does not.
void RequireSameBits(const float* got, const float* want, const float* x, size_t n) {
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < n; ++i) {
    if (BitsOf(got[i]) != BitsOf(want[i]) && differ++ == 0) first = i;
  }
  if (differ == 0) return;
  INFO(differ << " differ; the first at x = " << x[first] << " (0x" << std::hex << BitsOf(x[first]) << "): 0x"
              << BitsOf(got[first]) << " against 0x" << BitsOf(want[first]));
  REQUIRE(differ == 0);
}

}  // namespace

TEST_CASE("every tier's float Tanh/Erf/Gelu/GeluTanh rows equal the portable functions bit for bit",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  const std::vector<float> x = SweepInputs();
  for (const TranscendentalCase& c : kCases) {
    const std::vector<float> want = Reference(c.kind, x);
    for (KernelTier tier : tiers) {
      const FloatTranscendentalFn fn = ElementwiseForTier(tier).float_transcendental;
      if (fn == nullptr) continue;  // the tier runs ApplyUnary's own loop
      INFO(c.name << " at tier " << KernelTierName(tier));
      std::vector<float> got(x.size(), 123.0f);
      fn(c.op, x.data(), static_cast<int64_t>(x.size()), got.data());
      RequireSameBits(got.data(), want.data(), x.data(), x.size());
      got = x;  // in place, as a step whose output reuses its input
      fn(c.op, got.data(), static_cast<int64_t>(got.size()), got.data());
      RequireSameBits(got.data(), want.data(), x.data(), x.size());
    }
  }
}

TEST_CASE("every tier's float Tanh/Erf/Gelu/GeluTanh rows of every length to 37 stay inside their arrays",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  const std::vector<float> values = SpecialInputs();
  constexpr size_t kGuard = 16;
  for (const TranscendentalCase& c : kCases) {
    const std::vector<float> want = Reference(c.kind, values);
    for (KernelTier tier : tiers) {
      const FloatTranscendentalFn fn = ElementwiseForTier(tier).float_transcendental;
      if (fn == nullptr) continue;
      for (size_t n = 1; n <= 37; ++n) {
        for (size_t at = 0; at + n <= values.size(); at += 41) {
          INFO(c.name << " at tier " << KernelTierName(tier) << ", n " << n << " from " << at);
          const GuardedBuffer input(n * sizeof(float), true, values.data() + at);  // a page that faults after
          std::vector<float> got(n + kGuard, 123.0f);
          fn(c.op, input.as<float>(), static_cast<int64_t>(n), got.data());
          RequireSameBits(got.data(), want.data() + at, values.data() + at, n);
          for (size_t g = n; g < got.size(); ++g) REQUIRE(BitsOf(got[g]) == BitsOf(123.0f));
        }
      }
    }
  }
}

TEST_CASE("the float Tanh/Erf/Gelu/Mish steps give the scalar tier's bits at every tier", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::vector<float> x = SweepInputs();
  x.resize(x.size() / 8 * 8);
  const int64_t n = static_cast<int64_t>(x.size());
  for (const char* op : {"Tanh", "Erf", "Gelu", "GeluTanh", "Mish"}) {
    Builder m(20);  // Gelu from opset 20
    m.Input("x", {n / 8, 8}).Output("y");
    const bool tanh_form = std::string(op) == "GeluTanh";
    auto* node = m.Node(tanh_form ? "Gelu" : op, {"x"}, {"y"});
    if (tanh_form) StrAttr(node, "approximate", "tanh");
    const auto model = LoadOk(m);
    const auto want = RunAll(model, {x}, KernelTier::kScalar)[0];
    REQUIRE(want.size() == x.size());
    for (KernelTier tier : tiers) {
      INFO(op << " at tier " << KernelTierName(tier));
      const auto got = RunAll(model, {x}, tier)[0];
      REQUIRE(got.size() == want.size());
      RequireSameBits(got.data(), want.data(), x.data(), x.size());
    }
  }
}

}  // namespace edge::engine::testing
