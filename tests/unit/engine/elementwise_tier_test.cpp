// The int8 element-wise kernels behind broadcasting Add/Mul, Concat's requantization,
// DequantizeLinear, the one-pass float ops between DequantizeLinear and QuantizeLinear and
// Softmax's exponentials: every tier gives the scalar kernel's bytes, and the broadcast split into runs visits exactly the
// elements of the plain broadcast walk.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/ops/broadcast.h"
#include "tests/unit/engine/test_support.h"
#include "agent/engine/ops/element_types.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine {
namespace {

std::vector<int8_t> RandomBytes(std::mt19937& rng, int64_t n) {
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& b : v) b = static_cast<int8_t>(rng());
  if (n > 2) {
    v[0] = -128;
    v[1] = 127;
  }
  return v;
}

// A plane kernel (plane_max, plane_min) on `bytes` placed against inaccessible pages on either
// side (a read outside the planes faults) gives `want`.
void CheckPlanesGuarded(PlaneMaxFn fn, const std::vector<int8_t>& bytes, int64_t count, int64_t planes,
                        const std::vector<int8_t>& want) {
  const testing::GuardedBuffer before(static_cast<size_t>(count * planes), false, bytes.data());
  const testing::GuardedBuffer after(static_cast<size_t>(count * planes), true, bytes.data());
  for (const auto* buffer : {&before, &after}) {
    std::vector<int8_t> got(static_cast<size_t>(planes), 0x5A);
    fn(buffer->as<int8_t>(), count, planes, got.data());
    REQUIRE(got == want);
  }
}

struct BinaryCase {
  bool mul;
  float ra, rb;
  int32_t za, zb, zo, qmin, qmax;
};

TEST_CASE("every tier's broadcasting Add/Mul run equals the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(1205);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<BinaryCase> cases = {
      {false, 0.5f, 0.9f, 3, -7, 11, -128, 127},
      {false, 1.7f, 0.25f, -128, 127, -128, -128, 127},  // saturates at both ends
      {false, 0.031f, 0.77f, 0, 0, 5, 5, 127},            // a folded Relu: the floor is the zero point
      {false, 0.5f, 0.5f, 1, 1, 0, -128, 127},            // exact ties: half to even
      {true, 0.0123f, 1, 3, -9, -2, -128, 127},
      {true, 0.5f, 1, -128, 127, 127, -128, 127},  // the largest products, saturating
      {true, 1.0f / 64, 1, 0, 0, 0, -128, 100},    // ties and a lowered ceiling
      {false, nan, 0.5f, 0, 0, 0, -128, 127},      // NaN saturates low
      {true, inf, 1, 0, 0, 4, -128, 127},          // inf * 0 is NaN, the rest saturate
      // values past int32 (the AVX-512 kernels keep their float clamp) and just within 2^29
      // (where they leave it out), both signs
      {false, 3e7f, -2e7f, 5, -3, 1, -128, 127},
      {false, 1.9e6f, 1.9e6f, -128, 127, -4, -128, 127},
      {true, 4e4f, 1, 7, -7, 2, -128, 127},
      {false, 3e7f, 0.5f, 0, 0, -9, -128, 90},  // past int32 under a lowered ceiling
  };
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {0, 1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 33, 63, 64, 65, 100, 128, 143, 1000}) {
      const auto a = RandomBytes(rng, n), b = RandomBytes(rng, n);
      for (int steps = 0; steps < 4; ++steps) {
        const int64_t a_step = steps & 1, b_step = (steps >> 1) & 1;
        for (size_t c = 0; c < cases.size(); ++c) {
          const BinaryCase& bc = cases[c];
          // a broadcast operand is one value: make it an extreme one now and then
          std::vector<int8_t> a1 = a, b1 = b;
          if (n > 0 && a_step == 0) a1[0] = static_cast<int8_t>(c % 2 == 0 ? -128 : a[n / 2]);
          if (n > 0 && b_step == 0) b1[0] = static_cast<int8_t>(c % 3 == 0 ? 127 : b[n / 2]);
          QBinaryRunArgs args{a1.data(), b1.data(), a_step, b_step, n, bc.mul, bc.ra, bc.rb, bc.za, bc.zb,
                              bc.zo,     bc.qmin,   bc.qmax, nullptr};
          // 16 guard bytes after the output: a masked or vector tail stores nothing past n
          std::vector<int8_t> want(static_cast<size_t>(n) + 16, 0x5A), got(static_cast<size_t>(n) + 16, 0x5A);
          args.y = want.data();
          QBinaryRunScalar(args);
          args.y = got.data();
          k.qbinary_run(args);
          INFO("tier " << KernelTierName(tier) << " n " << n << " steps " << a_step << b_step << " case " << c);
          REQUIRE(got == want);
          if (a_step == 1) {  // in place over a contiguous operand: no step reads an element it wrote
            std::vector<int8_t> in_place = a1;
            in_place.resize(static_cast<size_t>(n) + 16, 0x5A);
            args.a = args.y = in_place.data();
            k.qbinary_run(args);
            REQUIRE(in_place == want);
          }
        }
      }
    }
  }
}

TEST_CASE("every tier's Add/Mul rows of runs equal the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(4242);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {1, 15, 16, 63, 64, 101, 130}) {
      for (int64_t rows : {1, 2, 5}) {
        // operand rows: contiguous (row = n), the same run repeated (row 0), spaced past a gap
        for (int64_t a_row : {n, int64_t{0}, n + 3}) {
          for (int64_t b_row : {n, int64_t{0}, 2 * n + 1}) {
            for (int steps = 0; steps < 4; ++steps) {
              const int64_t a_step = steps & 1, b_step = (steps >> 1) & 1;
              const auto a = RandomBytes(rng, rows * (n + 3) + n), b = RandomBytes(rng, rows * (2 * n + 1) + n);
              for (bool mul : {false, true}) {
                QBinaryRunArgs args{a.data(), b.data(), a_step, b_step, n, mul, mul ? 0.013f : 0.6f, 0.35f, 2, -5,
                                    -3, -128, 127, nullptr, rows, a_row, b_row};
                std::vector<int8_t> want(static_cast<size_t>(rows * n) + 16, 0x5A), got = want;
                args.y = want.data();
                QBinaryRunScalar(args);
                // the scalar rows are the runs one by one
                for (int64_t r = 0; r < rows; ++r) {
                  QBinaryRunArgs one = args;
                  one.rows = 1;
                  one.a += r * a_row;
                  one.b += r * b_row;
                  std::vector<int8_t> run(static_cast<size_t>(n));
                  one.y = run.data();
                  QBinaryRunScalar(one);
                  REQUIRE(std::equal(run.begin(), run.end(), want.begin() + r * n));
                }
                args.y = got.data();
                k.qbinary_run(args);
                INFO("tier " << KernelTierName(tier) << " n " << n << " rows " << rows << " a_row " << a_row
                              << " b_row " << b_row << " steps " << a_step << b_step << " mul " << mul);
                REQUIRE(got == want);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("every tier's requantization equals the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(512);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {0, 1, 15, 16, 17, 47, 64, 65, 250, 4096}) {
      const auto x = RandomBytes(rng, n);
      for (const QRequantArgs& p : {QRequantArgs{x.data(), n, 0.37f, 4, -3, -128, 127, nullptr},
                                    QRequantArgs{x.data(), n, 2.5f, -128, 127, -128, 127, nullptr},
                                    QRequantArgs{x.data(), n, 0.5f, 0, 0, -128, 127, nullptr},  // ties
                                    QRequantArgs{x.data(), n, 1.0f, 9, 9, 9, 127, nullptr},     // a Relu floor
                                    QRequantArgs{x.data(), n, 0.75f, 3, -5, -128, 60, nullptr},  // a lowered ceiling
                                    QRequantArgs{x.data(), n, -3e7f, 1, 0, -128, 127, nullptr},  // past int32
                                    QRequantArgs{x.data(), n, 2e6f, -128, 3, -128, 127, nullptr},  // within 2^29
                                    QRequantArgs{x.data(), n, std::numeric_limits<float>::quiet_NaN(), 0, 2,
                                                 -128, 127, nullptr}}) {
        std::vector<int8_t> want(static_cast<size_t>(n) + 16, 0x5A), got(static_cast<size_t>(n) + 16, 0x5A);
        QRequantArgs args = p;
        args.y = want.data();
        QRequantScalar(args);
        args.y = got.data();
        k.qrequant(args);
        INFO("tier " << KernelTierName(tier) << " n " << n << " ratio " << p.ratio << " zi " << p.zi);
        REQUIRE(got == want);
      }
    }
  }
}

TEST_CASE("every tier's plane sums equal the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(77);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t count : {1, 31, 32, 33, 63, 64, 65, 125, 127, 128, 129, 1000, 65536}) {
      for (int64_t planes : {1, 3, 24}) {
        auto x = RandomBytes(rng, count * planes);
        if (count == 65536) std::fill(x.begin(), x.begin() + count, int8_t{-128});  // the most negative sum
        std::vector<int32_t> want(static_cast<size_t>(planes)), got(static_cast<size_t>(planes), 12345);
        PlaneSumScalar(x.data(), count, planes, want.data());
        k.plane_sum(x.data(), count, planes, got.data());
        INFO("tier " << KernelTierName(tier) << " count " << count << " planes " << planes);
        REQUIRE(got == want);
      }
    }
  }
}

TEST_CASE("every tier's plane maxima equal the scalar reference and read only the planes", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(78);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t count : {1, 2, 9, 15, 16, 17, 31, 32, 33, 49, 63, 64, 65, 196, 1000, 3136}) {
      for (int64_t planes : {1, 3, 24}) {
        auto bytes = RandomBytes(rng, count * planes);
        // planes of one value, the maximum in the first or the last byte only
        if (planes == 3) {
          std::fill(bytes.begin(), bytes.begin() + count, int8_t{-128});
          std::fill(bytes.begin() + count, bytes.begin() + 3 * count, int8_t{-100});
          bytes[static_cast<size_t>(count)] = 127;
          bytes[static_cast<size_t>(3 * count - 1)] = 126;
        }
        std::vector<int8_t> want(static_cast<size_t>(planes));
        PlaneMaxScalar(bytes.data(), count, planes, want.data());
        INFO("tier " << KernelTierName(tier) << " count " << count << " planes " << planes);
        CheckPlanesGuarded(k.plane_max, bytes, count, planes, want);
      }
    }
  }
}

TEST_CASE("every tier's int8 plane minima are the smallest code of each plane and read only the planes",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(79);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t count : {1, 2, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 1024}) {
      for (int64_t planes : {1, 3, 24}) {
        auto bytes = RandomBytes(rng, count * planes);
        if (planes == 3) {  // a plane of 127 but one -128 first, one of -128 throughout, one with -127 last
          std::fill(bytes.begin(), bytes.begin() + count, int8_t{127});
          bytes[0] = -128;
          std::fill(bytes.begin() + count, bytes.begin() + 2 * count, int8_t{-128});
          std::fill(bytes.begin() + 2 * count, bytes.begin() + 3 * count, int8_t{100});
          bytes[static_cast<size_t>(3 * count - 1)] = -127;
        }
        std::vector<int8_t> want(static_cast<size_t>(planes), 127);
        for (int64_t i = 0; i < count * planes; ++i) {
          int8_t& w = want[static_cast<size_t>(i / count)];
          w = std::min(w, bytes[static_cast<size_t>(i)]);
        }
        INFO("tier " << KernelTierName(tier) << " count " << count << " planes " << planes);
        CheckPlanesGuarded(k.plane_min, bytes, count, planes, want);
      }
    }
  }
}

TEST_CASE("every tier's float plane extremes are the ReduceMax and ReduceMin chain, NaNs and zero signs included",
          "[engine][kernels][tiers]") {
  // The float ReduceStep's definition, computed here: acc from -inf (+inf), acc = Max(acc, v)
  // (ElementArith: a NaN element replaces acc, ties keep acc) in element order. Planes with
  // NaNs of other signs and payloads at the start, middle and end, zeros of both signs in both
  // orders as the extreme, infinities, the extreme in the last element (the vector form's
  // overlapping last load), lengths around its 32-float step; bits compared.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(80);
  std::uniform_real_distribution<float> u(-100.0f, 100.0f);
  auto nan_with = [](uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  };
  const float nan_a = nan_with(0x7FC00001u), nan_b = nan_with(0xFFC00123u);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t count : {1, 2, 7, 31, 32, 33, 63, 64, 65, 100, 1000, 1024}) {
      const int64_t planes = 10;
      std::vector<float> x(static_cast<size_t>(count * planes));
      for (float& v : x) v = u(rng);
      auto plane = [&](int64_t p) { return x.begin() + p * count; };
      x[static_cast<size_t>(count / 2)] = nan_a;  // plane 0: one NaN in the middle
      if (count > 1) {
        x[static_cast<size_t>(count)] = nan_b;  // plane 1: two NaNs, the last one wins
        x[static_cast<size_t>(2 * count - 1)] = nan_a;
      }
      std::fill(plane(2), plane(3), -0.0f);  // plane 2: zeros, +0 after -0
      x[static_cast<size_t>(3 * count - 1)] = 0.0f;
      std::fill(plane(3), plane(4), 0.0f);  // plane 3: +0 first, then -0
      std::fill(plane(3) + 1, plane(4), -0.0f);
      std::fill(plane(4), plane(5), -INFINITY);  // plane 4: -inf throughout
      std::fill(plane(5), plane(6), INFINITY);  // plane 5: +inf throughout
      for (auto it = plane(6); it != plane(7); ++it) *it = -std::abs(*it);  // plane 6: <= 0, extreme last
      x[static_cast<size_t>(7 * count - 1)] = 0.0f;
      for (auto it = plane(7); it != plane(8); ++it) *it = std::abs(*it) + 1.0f;  // plane 7: > 0 and a -0 late
      x[static_cast<size_t>(8 * count - 1)] = -0.0f;
      x[static_cast<size_t>(9 * count - 1)] = 1e30f;  // plane 8: the maximum last
      for (bool max : {true, false}) {
        std::vector<float> want(static_cast<size_t>(planes)), got(static_cast<size_t>(planes), 7.0f);
        for (int64_t p = 0; p < planes; ++p) {
          float acc = max ? -INFINITY : INFINITY;
          for (auto it = plane(p); it != plane(p) + count; ++it) {
            acc = max ? ElementArith<float>::Max(acc, *it) : ElementArith<float>::Min(acc, *it);
          }
          want[static_cast<size_t>(p)] = acc;
        }
        testing::GuardedBuffer after(x.size() * sizeof(float), true, x.data());
        k.float_plane_extreme(after.as<float>(), count, planes, max, got.data());
        INFO("tier " << KernelTierName(tier) << " count " << count << (max ? " max" : " min"));
        REQUIRE(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("every tier's MaxPool rows equal the scalar reference and read only the window", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(31);
  struct Window {
    int rows;
    int64_t stride, taps, dilation;
  };
  // strides 3 to 8: MaxPool1d(k)'s default stride k, windows wider and narrower; strides 9 and
  // more (rows first, in chunks of 1024 positions: n = 103 and 257 at stride 10 end in a chunk
  // moved back over done outputs), windows wider than the stride, dilated, one longer than a
  // chunk and short windows at strides near a chunk (the scalar kernel's; 993 with 31 taps: the
  // last stride whose two outputs fit a chunk)
  const std::vector<Window> windows = {{1, 2, 2, 1},   {2, 2, 2, 1},  {3, 2, 3, 1},  {3, 1, 3, 1},   {1, 1, 5, 2},
                                       {2, 3, 3, 1},   {1, 2, 3, 2},  {4, 1, 1, 1},  {1, 3, 3, 1},   {1, 4, 4, 1},
                                       {2, 3, 2, 1},   {1, 4, 5, 1},  {3, 3, 3, 2},  {1, 4, 1, 1},   {1, 5, 5, 1},
                                       {2, 6, 6, 1},   {1, 7, 3, 2},  {1, 8, 8, 1},  {3, 8, 2, 3},   {2, 5, 7, 1},
                                       {1, 9, 9, 1},   {15, 10, 10, 1}, {3, 12, 5, 2}, {2, 16, 16, 1}, {4, 9, 30, 1},
                                       {1, 11, 300, 3}, {2, 9, 600, 2}, {1, 1024, 1, 1}, {2, 994, 31, 1},
                                       {1, 2000, 3, 1}, {1, 993, 31, 1},
                                       // AVX-512 VBMI's registers: reach 63 and 64 (vpermt2b's
                                       // limit), chunks of 64 outputs or of 8 vectors of
                                       // positions, strides 511 and 512 (its int16 starts)
                                       {2, 9, 22, 3},   {3, 7, 64, 1},  {2, 5, 8, 8},  {2, 9, 65, 1}, {1, 511, 2, 1},
                                       {2, 512, 2, 1},  {2, 40, 13, 4}, {2, 6, 2, 1}};
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (const Window& w : windows) {
      for (int64_t n : {1, 2, 3, 7, 8, 9, 14, 15, 16, 17, 18, 19, 20, 28, 31, 32, 33, 34, 35, 64, 65, 100, 103, 257}) {
        // each row exactly as long as the kernel may read, against an inaccessible page: a
        // read past its end faults
        const int64_t len = (n - 1) * w.stride + (w.taps - 1) * w.dilation + 1;
        std::vector<std::unique_ptr<testing::GuardedBuffer>> data;
        std::vector<const int8_t*> rows;
        for (int r = 0; r < w.rows; ++r) {
          const auto bytes = RandomBytes(rng, len);
          data.push_back(std::make_unique<testing::GuardedBuffer>(static_cast<size_t>(len), true, bytes.data()));
          rows.push_back(data.back()->as<int8_t>());
        }
        std::vector<int8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n), 0x5A);
        MaxPoolRowScalar({rows.data(), w.rows, n, w.stride, w.taps, w.dilation, want.data()});
        k.maxpool_row({rows.data(), w.rows, n, w.stride, w.taps, w.dilation, got.data()});
        INFO("tier " << KernelTierName(tier) << " rows " << w.rows << " stride " << w.stride << " taps " << w.taps
                     << " dilation " << w.dilation << " n " << n);
        REQUIRE(got == want);
      }
    }
  }
}

TEST_CASE("every tier's window sums equal the scalar reference and read only the window", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(32);
  struct Window {
    int rows;
    int64_t stride, taps;
  };
  // up to 16 x 16 = 256 elements (the int16 sums' limit) and past it (17 x 16, 17 x 10: the
  // scalar kernel); strides 1 to 8, 9 and more (rows first, in chunks of 1024 positions: n = 840
  // spans several), windows narrower than the stride, short windows at strides near a chunk
  // (the scalar kernel's), up to 8 taps at strides 5 and more with stride + taps <= 16 (vpsadbw);
  // AVX-512 VBMI's slots: up to 4 taps at strides 2-4, up to 8 at 5-8, up to 3 x stride - 1 rows
  const std::vector<Window> windows = {{1, 2, 2},   {2, 2, 2},   {3, 1, 3},   {3, 2, 3},  {5, 1, 5},  {2, 3, 3},
                                       {16, 1, 16}, {17, 2, 16}, {4, 1, 1},   {1, 3, 3},  {3, 3, 3},  {4, 4, 4},
                                       {2, 4, 2},   {16, 4, 16}, {1, 5, 5},   {2, 6, 6},  {8, 8, 8},  {1, 7, 3},
                                       {16, 8, 16}, {1, 9, 9},   {15, 10, 10}, {5, 9, 5}, {1, 12, 16}, {16, 16, 16},
                                       {17, 10, 16}, {2, 20, 3},  {1, 1010, 15}, {1, 4096, 2}, {2, 1009, 15},
                                       {5, 5, 5},   {3, 11, 5},  {7, 6, 8},   {2, 15, 1},
                                       {4, 2, 4},   {11, 4, 4},  {14, 5, 8},  {23, 8, 8}, {24, 8, 8}, {1, 2, 1},
                                       // column sums (a ReduceMean over middle axes): AVX-512's int16
                                       // sums of up to 255 rows at a time, and past them
                                       {1, 1, 1},   {20, 1, 1},  {255, 1, 1}, {300, 1, 1}};
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (const Window& w : windows) {
      for (int64_t n : {1, 2, 3, 7, 31, 32, 33, 34, 35, 64, 65, 100, 103, 257, 840}) {
        // rows `pitch` apart, the last exactly as long as the kernel may read, against an
        // inaccessible page: a read past it faults
        const int64_t len = (n - 1) * w.stride + w.taps, pitch = len + 3;
        auto bytes = RandomBytes(rng, (w.rows - 1) * pitch + len);
        // the extreme sums (column sums at odd n: every row, past int16 after 256 rows)
        const int every = w.stride == 1 && w.taps == 1 && n % 2 == 1 ? 1 : 2;
        for (int r = 0; r < w.rows; r += every) {
          std::fill(bytes.begin() + r * pitch, bytes.begin() + std::min<int64_t>(r * pitch + len, bytes.size()), int8_t{-128});
        }
        const testing::GuardedBuffer data(bytes.size(), true, bytes.data());
        std::vector<int32_t> want(static_cast<size_t>(n) + 8, 7), got(static_cast<size_t>(n) + 8, 7);
        WindowSumRowScalar({data.as<int8_t>(), pitch, w.rows, n, w.stride, w.taps, want.data()});
        k.window_sum_row({data.as<int8_t>(), pitch, w.rows, n, w.stride, w.taps, got.data()});
        INFO("tier " << KernelTierName(tier) << " rows " << w.rows << " stride " << w.stride << " taps " << w.taps
                     << " n " << n);
        REQUIRE(got == want);
      }
    }
  }
}

// A kernel of rows of words (tap words, stride-2 word gathers), run(src, row_step, rows, width,
// dst), on random rows whose last one ends `slack` bytes before an inaccessible page (a read
// further faults), against its definition: output byte x of row r is
// bytes[r * row_step + offset(x)]; a row uses used(width) bytes. Nothing is stored past the rows.
template <class Run, class Used, class Offset>
void CheckWordRows(std::mt19937& rng, KernelTier tier, int64_t slack, Run run, Used used_of, Offset offset,
                   uint8_t add) {
  for (int64_t width : {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 31, 32, 33, 40}) {
    for (int64_t rows : {1, 2, 3, 5}) {
      const int64_t used = used_of(width), row_step = used + (rows % 2 == 0 ? 4 : 36);
      const int64_t len = (rows - 1) * row_step + used + slack;
      const auto bytes = RandomBytes(rng, len);
      const testing::GuardedBuffer src(static_cast<size_t>(len), true, bytes.data());
      std::vector<uint8_t> want(static_cast<size_t>(rows * width * 4) + 16, 0x5A), got(want);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t x = 0; x < width * 4; ++x) {
          want[r * width * 4 + x] = static_cast<uint8_t>(static_cast<uint8_t>(bytes[r * row_step + offset(x)]) + add);
        }
      }
      run(src.as<uint8_t>(), row_step, rows, width, got.data());
      INFO("tier " << KernelTierName(tier) << " width " << width << " rows " << rows);
      REQUIRE(got == want);  // 16 guard bytes: nothing stored past the rows
    }
  }
}

TEST_CASE("every tier's tap-word rows equal their definition and read no further than they may", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(41);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    // the VBMI form loads exactly the sw * (width - 1) + 4 bytes a row's words use; the others
    // up to 16 bytes past them (im2col_u8.h)
#if defined(__x86_64__)
    const int64_t slack = k.tap_word_rows == &TapWordRowsAvx512Vbmi ? 0 : 16;
#else
    const int64_t slack = 16;
#endif
    for (int64_t sw : {1, 2}) {
      INFO("column stride " << sw);
      CheckWordRows(
          rng, tier, slack,
          [&](const uint8_t* src, int64_t step, int64_t rows, int64_t width, uint8_t* dst) {
            k.tap_word_rows(reinterpret_cast<const int8_t*>(src), sw, step, rows, width, dst);
          },
          [&](int64_t width) { return sw * (width - 1) + 4; }, [&](int64_t x) { return sw * (x / 4) + x % 4; }, 128);
    }
  }
}

TEST_CASE("every tier's word gathers equal their definition and read no further than they may",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(42);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    // at stride 2 the AVX-512 form loads exactly the 2 * width - 1 words a row uses, the 128-bit
    // one up to a word past them; at stride 1 both copy exactly the row (im2col_u8.h)
#if defined(__x86_64__)
    const int64_t slack = k.gather_words == &GatherWordRowsAvx512 ? 0 : 4;
#else
    const int64_t slack = 4;
#endif
    for (int64_t sw : {1, 2}) {
      INFO("column stride " << sw);
      CheckWordRows(
          rng, tier, sw == 1 ? 0 : slack,
          [&](const uint8_t* src, int64_t step, int64_t rows, int64_t width, uint8_t* dst) {
            k.gather_words(src, sw, step, rows, width, dst);
          },
          [&](int64_t width) { return (sw * (width - 1) + 1) * 4; }, [&](int64_t x) { return 4 * sw * (x / 4) + x % 4; },
          0);
    }
  }
}

TEST_CASE("every tier's float lookups by code equal the table and read only its entries", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(43);
  std::uniform_real_distribution<float> value(-1e3f, 1e3f);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    // code spans of 1 to 256 entries (every segment count of the AVX-512 form, and its edges),
    // against either end of the code range, and rows of 1 to 70 codes
    for (int32_t span : {1, 2, 31, 32, 33, 64, 65, 97, 128, 160, 200, 224, 225, 255, 256}) {
      for (int32_t lo : {-128, 127 - span + 1, -128 + (256 - span) / 2}) {
        const int32_t hi = lo + span - 1;
        std::vector<float> entries(static_cast<size_t>(span));
        for (float& e : entries) e = value(rng);
        for (bool at_end : {false, true}) {  // a read before lo or past hi faults
          const testing::GuardedBuffer table(entries.size() * 4, at_end, entries.data());
          const float* by_code = table.as<float>() - lo;
          for (int64_t n : {1, 15, 16, 17, 47, 70}) {
            std::vector<int8_t> x(static_cast<size_t>(n));
            std::uniform_int_distribution<int32_t> code(lo, hi);
            for (auto& c : x) c = static_cast<int8_t>(code(rng));
            x[0] = static_cast<int8_t>(n % 2 == 0 ? lo : hi);
            std::vector<float> got(static_cast<size_t>(n) + 4, -7.0f), want(got);
            for (int64_t i = 0; i < n; ++i) want[i] = entries[static_cast<size_t>(x[i] - lo)];
            k.lookup_floats(x.data(), n, by_code, lo, hi, got.data());
            INFO("tier " << KernelTierName(tier) << " lo " << lo << " hi " << hi << " n " << n);
            REQUIRE(std::memcmp(got.data(), want.data(), got.size() * 4) == 0);  // nothing stored past n
          }
        }
      }
    }
  }
}

TEST_CASE("every tier's row sums are the in-order float sums", "[engine][kernels][tiers]") {
  // values of mixed magnitudes, where another order of the adds would round differently
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(43);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    if (k.row_sums == nullptr) continue;  // the caller's loop: in order by construction
    for (int64_t rows : {16, 17, 31, 32, 50}) {
      for (int64_t n : {1, 2, 15, 16, 17, 64, 100}) {
        std::vector<float> y(static_cast<size_t>(rows * n));
        for (size_t i = 0; i < y.size(); ++i) y[i] = u(rng) * (i % 5 == 0 ? 1e6f : i % 3 == 0 ? 1e-3f : 1.0f);
        std::vector<float> sums(static_cast<size_t>(rows), -1.0f);
        const int64_t done = k.row_sums(y.data(), rows, n, sums.data());
        INFO("tier " << KernelTierName(tier) << " rows " << rows << " n " << n);
        REQUIRE(done == rows / 16 * 16);
        for (int64_t r = 0; r < done; ++r) {
          float want = 0.0f;
          for (int64_t a = 0; a < n; ++a) want += y[r * n + a];
          REQUIRE(std::memcmp(&sums[r], &want, 4) == 0);
        }
        for (int64_t r = done; r < rows; ++r) REQUIRE(sums[r] == -1.0f);  // the rest left to the caller
      }
    }
  }
}

// The int8 MatMul tests' shapes and quantization parameters.
struct MatMulShape {
  int64_t m, k, n;
};
struct MatMulParams {
  int32_t za, zb, zo, qmin, qmax;
  float scale;
};
const std::vector<MatMulParams> kMatMulParams = {{0, 0, 0, -128, 127, 0.0123f},      {-128, 127, 3, -128, 127, 1.0f / 4096},
                                                 {5, -7, 3, 3, 127, 0.02f},          // a folded Relu: the floor is zo
                                                 {127, -128, -128, -128, 127, 0.5f},  // ties, saturation
                                                 {0, 0, 0, -128, 100, 1.0f},         {-3, 9, -20, -128, 127, 1e-6f}};

TEST_CASE("every tier's float-exact int8 MatMul equals the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(2025);
  // column counts around the 8-, 16- and 64-column steps; K up to the float path's 258
  // and row counts around the AVX-512 form's eight- and four-row blocks (an attention's
  // probabilities times values: 64 x 64 x 16)
  const std::vector<MatMulShape> shapes = {{1, 1, 1}, {3, 5, 7}, {20, 16, 20}, {20, 20, 16}, {2, 258, 15},
                                     {4, 64, 64}, {5, 3, 65}, {2, 7, 130}, {1, 258, 8}, {6, 31, 33},
                                     {9, 258, 70}, {8, 1, 17}, {15, 40, 16}, {64, 64, 16}, {13, 258, 1},
                                     {17, 12, 50}};
  const std::vector<MatMulParams>& params = kMatMulParams;
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (const MatMulShape& sh : shapes) {
      auto a = RandomBytes(rng, sh.m * sh.k), b = RandomBytes(rng, sh.k * sh.n);
      if (sh.m == 9) {  // the largest sums: 258 products of 255 x -255 with params 1 (just under 2^24)
        std::fill(a.begin(), a.end(), int8_t{127});
        std::fill(b.begin(), b.end(), int8_t{-128});
      }
      for (size_t pi = 0; pi < params.size(); ++pi) {
        const MatMulParams& q = params[pi];
        std::vector<float> bf(static_cast<size_t>(sh.k * sh.n));
        std::vector<int8_t> want(static_cast<size_t>(sh.m * sh.n) + 16, 0x5A), got = want;
        QMatMulExactScalar({a.data(), b.data(), sh.m, sh.k, sh.n, q.za, q.zb, q.scale, q.zo, q.qmin, q.qmax, bf.data(),
                            want.data()});
        k.qmatmul_exact({a.data(), b.data(), sh.m, sh.k, sh.n, q.za, q.zb, q.scale, q.zo, q.qmin, q.qmax, bf.data(),
                         got.data()});
        INFO("tier " << KernelTierName(tier) << " m " << sh.m << " k " << sh.k << " n " << sh.n << " params " << pi);
        REQUIRE(got == want);
      }
    }
  }
}

TEST_CASE("every tier's integer int8 MatMul equals the exact sums requantized", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(2026);
  // K of every remainder mod 4 and past the float path's 258 (sums past 2^24, rounded to
  // float as Requantize rounds them), column counts around 16 and 48 (the GEMM's vectors and
  // panels), row counts around its 8-row tiles; the last two outgrow its scratch (refused), the
  // first two are too small for it (refused)
  const std::vector<MatMulShape> shapes = {{1, 1, 1},   {3, 5, 7},    {64, 16, 64}, {64, 64, 16}, {9, 1000, 16},
                                     {8, 259, 3}, {17, 6, 49},  {50, 50, 50}, {2, 3, 1000}, {33, 127, 47},
                                     {5, 4096, 4}, {1, 8, 97},  {4, 600, 30}, {2, 2000, 16}};
  const std::vector<MatMulParams>& params = kMatMulParams;
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    if (k.qmatmul_int == nullptr) continue;  // tiers without one keep the float-exact kernel
    for (const MatMulShape& sh : shapes) {
      auto a = RandomBytes(rng, sh.m * sh.k), b = RandomBytes(rng, sh.k * sh.n);
      if (sh.m == 9) {  // the largest sums: products of 255 x -255 at params 1
        std::fill(a.begin(), a.end(), int8_t{127});
        std::fill(b.begin(), b.end(), int8_t{-128});
      }
      for (size_t pi = 0; pi < params.size(); ++pi) {
        const MatMulParams& q = params[pi];
        std::vector<int8_t> want(static_cast<size_t>(sh.m * sh.n) + 16, 0x5A), got = want;
        for (int64_t i = 0; i < sh.m; ++i) {
          for (int64_t j = 0; j < sh.n; ++j) {
            int32_t acc = 0;
            for (int64_t t = 0; t < sh.k; ++t) acc += (a[i * sh.k + t] - q.za) * (b[t * sh.n + j] - q.zb);
            want[i * sh.n + j] = Requantize(acc, q.scale, q.zo, q.qmin, q.qmax);
          }
        }
        const bool taken = k.qmatmul_int({a.data(), b.data(), sh.m, sh.k, sh.n, q.za, q.zb, q.scale, q.zo, q.qmin,
                                          q.qmax, nullptr, got.data()});
        INFO("tier " << KernelTierName(tier) << " m " << sh.m << " k " << sh.k << " n " << sh.n << " params " << pi);
        // 16 KB of packed B: 4096 x 16 columns and 2000 x 16 (the limit's two sides); fewer
        // than 16 columns with K below 16 are left to the float-exact kernel
        REQUIRE(taken == (RoundUp(sh.k, 4) * PackedColumns(sh.n) <= 16384 && !(sh.n < 16 && sh.k < 16)));
        if (taken) {
          REQUIRE(got == want);
        } else {
          REQUIRE(got == std::vector<int8_t>(got.size(), 0x5A));
        }
      }
    }
  }
}

TEST_CASE("every tier's Softmax exponentials equal the scalar reference, within an ulp of e^x", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> wide(-130.0f, 100.0f), near(-3.0f, 3.0f);
  std::vector<float> x;
  for (int i = 0; i < 3000; ++i) x.push_back(i % 2 ? wide(rng) : near(rng));
  // the clamp and special-value edges: where float results underflow and overflow, the kernels'
  // clamps at -110 and 100, infinities, NaN, signed zeros, subnormals
  for (float v : {-110.0f, -110.00001f, -109.99999f, -103.97208f, -103.9721f, -87.33655f, 88.72283f, 88.72284f, 100.0f,
                  100.00001f, 709.0f, -746.0f, INFINITY, -INFINITY, NAN, -NAN, 0.0f, -0.0f, 1e-45f, -1e-45f, 0.5f, -0.5f}) {
    x.push_back(v);
  }
  for (float shift : {0.0f, 1.5f, -2.25f, 50.0f, INFINITY, NAN}) {
    std::vector<float> want(x.size());
    ExpShiftedScalar(x.data(), static_cast<int64_t>(x.size()), shift, want.data());
    if (shift == 0.0f) {
      for (size_t i = 0; i < x.size(); ++i) {
        INFO("x " << x[i]);
        if (std::isnan(x[i])) {
          CHECK(std::isnan(want[i]));
          continue;
        }
        const double exact = std::exp(static_cast<double>(x[i]));
        const float lo = std::nextafter(static_cast<float>(exact), -INFINITY), hi = std::nextafter(static_cast<float>(exact), INFINITY);
        CHECK((want[i] >= lo && want[i] <= hi));
      }
    }
    for (KernelTier tier : tiers) {
      const ElementwiseKernels& k = ElementwiseForTier(tier);
      // every length to 40 (the vector tails), then the whole array
      for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{7}, int64_t{9}, int64_t{17}, int64_t{40}, static_cast<int64_t>(x.size())}) {
        for (int64_t at = 0; at + n <= static_cast<int64_t>(x.size()); at += n == static_cast<int64_t>(x.size()) ? n : 977) {
          std::vector<float> got(static_cast<size_t>(n) + 16, 123.0f);
          k.exp_shifted(x.data() + at, n, shift, got.data());
          INFO("tier " << KernelTierName(tier) << " shift " << shift << " n " << n << " at " << at);
          REQUIRE(std::memcmp(got.data(), want.data() + at, static_cast<size_t>(n) * sizeof(float)) == 0);
          for (size_t g = static_cast<size_t>(n); g < got.size(); ++g) REQUIRE(got[g] == 123.0f);  // nothing past n
        }
      }
    }
  }
}

TEST_CASE("every tier's DequantizeLinear equals the scalar reference bit for bit", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(1205);
  const std::vector<int8_t> x = RandomBytes(rng, 1000);
  // scales that round, overflow to infinity, underflow to subnormals and zero, and NaN
  for (float scale : {0.0173f, 1.0f, 3.4e38f, 1e-40f, 1e-45f, 0.0f, -0.5f, INFINITY, NAN}) {
    for (int32_t zp : {-128, -1, 0, 37, 127}) {
      std::vector<float> want(x.size());
      DequantizeScalar(x.data(), static_cast<int64_t>(x.size()), scale, zp, want.data());
      for (size_t i = 0; i < x.size(); ++i) {
        const float exact = scale * static_cast<float>(x[i] - zp);  // the definition
        REQUIRE(std::memcmp(&want[i], &exact, sizeof(float)) == 0);
      }
      for (KernelTier tier : tiers) {
        const ElementwiseKernels& k = ElementwiseForTier(tier);
        // the vector tails (lengths to 33), then the whole array from an odd start
        for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{33}, int64_t{999}}) {
          const int64_t at = n == 999 ? 1 : 5;
          std::vector<float> got(static_cast<size_t>(n) + 16, 123.0f);
          k.dequantize(x.data() + at, n, scale, zp, got.data());
          INFO("tier " << KernelTierName(tier) << " scale " << scale << " zp " << zp << " n " << n);
          REQUIRE(std::memcmp(got.data(), want.data() + at, static_cast<size_t>(n) * sizeof(float)) == 0);
          for (size_t g = static_cast<size_t>(n); g < got.size(); ++g) REQUIRE(got[g] == 123.0f);  // nothing past n
        }
      }
    }
  }
}

// QuantizeLinear divides by the scale (a multiply by the reciprocal would round some halves the
// other way: tried, and slower than vdivps on Zen 3 and Zen 5 with the check that avoids it).
// Every tier at the hardest inputs: values whose quotient is a half (k + 0.5) times the scale
// and their float neighbours, for every code, at scales whose reciprocals round badly;
// quotients past the clamp; scales whose reciprocal is not normal; NaN and infinities.
TEST_CASE("every tier's QuantizeLinear rounds as the division at the halves", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(1207);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  std::vector<float> scales = {1.0f / 3, 0.1f, 0.0078125f, 1e-30f, 3e-39f, 1e-40f, 2e38f, 3.3e38f};
  for (int i = 0; i < 24; ++i) scales.push_back(std::ldexp(mantissa(rng), std::uniform_int_distribution<int>(-20, 4)(rng)));
  int near = 0;
  for (float scale : scales) {
    std::vector<float> x;
    for (int k = -300; k <= 300; ++k) {
      const float half = (static_cast<float>(k) + 0.5f) * scale;
      x.push_back(half);
      x.push_back(std::nextafter(half, INFINITY));
      x.push_back(std::nextafter(half, -INFINITY));
      x.push_back(static_cast<float>(k) * scale);
    }
    for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e30f, 1e-45f}) x.push_back(v);
    for (int32_t zp : {-128, -3, 0, 127}) {
      std::vector<int8_t> want(x.size());
      QuantizeScalar(x.data(), static_cast<int64_t>(x.size()), scale, zp, want.data());
      for (size_t i = 0; i < x.size(); ++i) {  // the definition: saturate(round(x / scale) + zp)
        const float q = std::nearbyint(x[i] / scale);
        const float code = std::isnan(q) ? -128.0f : std::clamp(q + static_cast<float>(zp), -128.0f, 127.0f);
        REQUIRE(want[i] == static_cast<int8_t>(code));
        const float quotient = x[i] / scale;
        near += std::abs(quotient) < 255.0f && std::abs(std::abs(quotient - std::trunc(quotient)) - 0.5f) < 1.0f / 1024;
      }
      for (KernelTier tier : tiers) {
        std::vector<int8_t> got(x.size());
        ElementwiseForTier(tier).quantize(x.data(), static_cast<int64_t>(x.size()), scale, zp, got.data());
        INFO("tier " << KernelTierName(tier) << " scale " << scale << " zp " << zp);
        REQUIRE(got == want);
      }
    }
  }
  CHECK(near > 10000);  // the halves were met
}

// The definition of one kQFloatOp element: DequantizeLinear's multiply, the op as the float
// step applies it, QuantizeLinear's kernel.
int8_t QFloatElement(const QFloatBinaryRunArgs& p, int64_t r, int64_t i) {
  auto value = [&](const QFloatOperand& o) {
    const int64_t at = r * o.row + i * o.step;
    if (o.f != nullptr) return o.f[at];
    float v = 0.0f;
    DequantizeScalar(o.q + at, 1, o.scale, o.zero_point, &v);
    return v;
  };
  const float x = value(p.a), y = value(p.b);
  float z = 0.0f;
  using E = ElementArith<float>;
  switch (p.op) {
    case FloatBinaryOp::kAdd: z = E::Add(x, y); break;
    case FloatBinaryOp::kSub: z = E::Sub(x, y); break;
    case FloatBinaryOp::kMul: z = E::Mul(x, y); break;
    case FloatBinaryOp::kDiv: z = E::Div(x, y); break;
    case FloatBinaryOp::kMax: z = E::Max(x, y); break;
    case FloatBinaryOp::kMin: z = E::Min(x, y); break;
  }
  z = std::min(std::max(z, p.lo), p.hi);  // ApplyUnary's Clip (a folded Relu: 0, infinity)
  int8_t q = 0;
  QuantizeScalar(&z, 1, p.scale, p.zero_point, &q);
  return q;
}

TEST_CASE("every tier's one-pass DequantizeLinear -> float op [-> Relu/Clip] -> QuantizeLinear equals the steps", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(1206);
  const int64_t kMax = 3 * 70;  // rows x longest run, for either step
  const std::vector<int8_t> qa = RandomBytes(rng, kMax), qb = RandomBytes(rng, kMax);
  // floats with NaN, infinities, signed zeros, values that tie after the division and large ones
  std::vector<float> fa(kMax), fb(kMax);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 0.25f, -0.75f, 1e30f, 1e-42f};
  for (int64_t i = 0; i < kMax; ++i) {
    fa[i] = i % 7 == 3 ? specials[(i / 7) % 9] : u(rng);
    fb[i] = i % 5 == 1 ? specials[(i / 5) % 9] : u(rng);
  }
  const FloatBinaryOp ops[] = {FloatBinaryOp::kAdd, FloatBinaryOp::kSub, FloatBinaryOp::kMul,
                               FloatBinaryOp::kDiv, FloatBinaryOp::kMax, FloatBinaryOp::kMin};
  int cases = 0;
  for (FloatBinaryOp op : ops) {
    for (int kinds = 0; kinds < 4; ++kinds) {  // a int8 or float, b int8 or float
      for (int steps = 0; steps < 4; ++steps) {
        for (int64_t n : {1, 7, 15, 16, 17, 32, 70}) {
          for (int64_t rows : {1, 3}) {
            QFloatBinaryRunArgs p;
            p.op = op;
            p.rows = rows;
            p.n = n;
            p.scale = cases % 3 == 0 ? 0.5f : 0.0371f;  // 0.5: the quotients of quarters tie
            p.zero_point = cases % 4 == 0 ? -128 : 9;
            // no clamp, a Relu, a Clip
            const int clamp = cases / 2 % 3;
            p.lo = clamp == 0 ? -INFINITY : clamp == 1 ? 0.0f : -0.5f;
            p.hi = clamp == 2 ? 0.75f : INFINITY;
            auto operand = [&](bool int8, int64_t step, const std::vector<int8_t>& q, const std::vector<float>& f) {
              QFloatOperand o;
              if (int8) o.q = q.data(); else o.f = f.data();
              o.step = step;
              o.row = step != 0 ? n : 1;  // contiguous rows, or one value per row
              o.scale = int8 ? 0.021f : 1.0f;
              o.zero_point = int8 ? -7 : 0;
              return o;
            };
            p.a = operand(kinds & 1, steps & 1, qa, fa);
            p.b = operand(kinds & 2, (steps >> 1) & 1, qb, fb);
            ++cases;
            std::vector<int8_t> want(static_cast<size_t>(rows * n) + 16, 0x5A);
            p.y = want.data();
            QFloatBinaryRunScalar(p);
            for (int64_t r = 0; r < rows; ++r) {
              for (int64_t i = 0; i < n; ++i) {
                INFO("op " << static_cast<int>(op) << " kinds " << kinds << " steps " << steps << " row " << r << " i " << i);
                REQUIRE(want[r * n + i] == QFloatElement(p, r, i));
              }
            }
            for (KernelTier tier : tiers) {
              std::vector<int8_t> got(want.size(), 0x5A);  // 16 guard bytes: nothing stored past the rows
              p.y = got.data();
              ElementwiseForTier(tier).qfloat_binary_run(p);
              INFO("tier " << KernelTierName(tier) << " op " << static_cast<int>(op) << " kinds " << kinds << " steps "
                           << steps << " n " << n << " rows " << rows);
              REQUIRE(got == want);
            }
          }
        }
      }
    }
  }
  CHECK(cases == 6 * 4 * 4 * 7 * 2);
}

TEST_CASE("every tier's one-pass float op in place over its int8 operand equals the steps", "[engine][kernels][tiers]") {
  // The output written over operand a's codes (an arena value that dies at the op): a tier that
  // recomputes a row's last columns as an overlapping block must not read its own bytes back.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(1207);
  for (int64_t n : {17, 31, 70}) {
    const int64_t rows = 3;
    const std::vector<int8_t> codes = RandomBytes(rng, rows * n);
    std::vector<float> fb(static_cast<size_t>(rows * n));
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    for (float& v : fb) v = u(rng);
    QFloatBinaryRunArgs p;
    p.op = FloatBinaryOp::kMul;
    p.rows = rows;
    p.n = n;
    p.scale = 0.0371f;
    p.zero_point = 3;
    p.a.q = codes.data();
    p.a.row = n;
    p.a.scale = 0.021f;
    p.a.zero_point = -7;
    p.b.f = fb.data();
    p.b.row = n;
    std::vector<int8_t> want(codes.size());
    p.y = want.data();
    QFloatBinaryRunScalar(p);
    for (KernelTier tier : tiers) {
      std::vector<int8_t> inplace = codes;
      p.a.q = inplace.data();
      p.y = inplace.data();
      ElementwiseForTier(tier).qfloat_binary_run(p);
      INFO("tier " << KernelTierName(tier) << " n " << n);
      REQUIRE(inplace == want);
    }
  }
}

// (out, a, b) index triples of a broadcast, walked plainly and through its runs.
std::vector<std::array<int64_t, 3>> PlainWalk(const BroadcastPlan& p) {
  std::vector<std::array<int64_t, 3>> v;
  ForEachBroadcast(p, [&](int64_t o, int64_t i, int64_t j) { v.push_back({o, i, j}); });
  return v;
}

std::vector<std::array<int64_t, 3>> RunWalk(const BroadcastRuns& r) {
  std::vector<std::array<int64_t, 3>> v;
  ForEachBroadcast(r.outer, [&](int64_t o, int64_t i, int64_t j) {
    for (int64_t e = 0; e < r.run; ++e) v.push_back({o * r.run + e, i + e * r.a_step, j + e * r.b_step});
  });
  return v;
}

std::vector<std::array<int64_t, 3>> RowWalk(const BroadcastRows& r) {
  std::vector<std::array<int64_t, 3>> v;
  ForEachBroadcast(r.outer, [&](int64_t o, int64_t i, int64_t j) {
    for (int64_t row = 0; row < r.rows; ++row) {
      for (int64_t e = 0; e < r.run; ++e) {
        v.push_back({(o * r.rows + row) * r.run + e, i + row * r.a_row + e * r.a_step, j + row * r.b_row + e * r.b_step});
      }
    }
  });
  return v;
}

TEST_CASE("a broadcast split into runs visits the same elements as the plain walk", "[engine][kernels]") {
  using Shape = std::vector<int64_t>;
  struct Case {
    Shape out, a, b;
    int64_t run;  // the longest run the split should find
  };
  const std::vector<Case> cases = {
      {{1, 16, 8, 8}, {1, 16, 8, 8}, {1, 16, 8, 8}, 1024},  // same shape: one run
      {{1, 16, 8, 8}, {1}, {1, 16, 8, 8}, 1024},            // a constant first operand
      {{1, 16, 8, 8}, {1, 16, 8, 8}, {16, 1, 1}, 64},       // per-channel constant
      {{1, 16, 8, 8}, {1, 1, 8, 8}, {1, 16, 8, 8}, 64},     // a plane repeated per channel
      {{2, 3, 5}, {2, 1, 5}, {3, 1}, 5},                    // both broadcast, on different axes
      {{4, 1, 6}, {4, 1, 1}, {6}, 6},
      {{3, 4}, {3, 1}, {1, 4}, 4},
      {{1, 1, 1}, {1}, {1, 1, 1}, 1},
      {{0, 4}, {0, 4}, {4}, 4},
  };
  for (const Case& c : cases) {
    const BroadcastPlan plan = MakeBroadcastPlan(c.out, c.a, c.b);
    const BroadcastRuns runs = SplitBroadcastRuns(plan);
    INFO("out rank " << c.out.size() << " a rank " << c.a.size() << " b rank " << c.b.size());
    CHECK(runs.run == c.run);
    CHECK(runs.outer.total * runs.run == plan.total);
    CHECK(RunWalk(runs) == PlainWalk(plan));
    CHECK(RowWalk(SplitBroadcastRows(runs)) == PlainWalk(plan));
  }
}

}  // namespace
}  // namespace edge::engine
