// Float row kernels: a row vector times a matrix (a recurrent cell's per-step products,
// ops/recurrent.cpp, float MatMul, and Gemm with constant weights, ops/float_ops.cpp) and a
// cell's Sigmoid and Tanh. Each has one reference loop here; the x86 tiers run forms of it
// (float_conv_avx2.cpp, float_conv_avx512.cpp) that give the same bits at any vector width and on
// any architecture.
//
// A row vector times a matrix: y[j] = x[0] w[j] + x[1] w[ldw + j] + ... + x[rows - 1] w[(rows - 1) ldw + j]
// for j < n. Each lane adds its products in row order from 0, a multiply then an add (the build
// has -ffp-contract=off).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace edge::engine {

// A matrix times a matrix, row by row: y[i * ldy + j] = RowTimesMatrixLoop's y[j] for the row
// x + i * ldx, i < m. The tiers take several rows per pass over w (each vector of w loaded once
// for all of them: an input projection over a sequence reads its weights once per block of time
// steps, not once per step) with each lane's sum in the same order. ldy >= n, and y overlaps
// neither x nor w. The kernels read no float of x past a row's `rows` nor of w past a row's n
// columns, and write only the outputs. Bits: the same on every tier, except which payload comes
// out where two NaNs meet in one sum (x86 returns the first operand's; the compiler orders a
// commutative multiply or add as it likes).
using FloatRowsTimesMatrixFn = void (*)(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w,
                                        int64_t ldw, int64_t n, float* y, int64_t ldy);

inline void RowTimesMatrixLoop(const float* __restrict x, int64_t rows, const float* __restrict w, int64_t ldw,
                               int64_t n, float* __restrict y) {
  for (int64_t j = 0; j < n; ++j) y[j] = 0.0f;
  for (int64_t k = 0; k < rows; ++k) {
    const float xk = x[k];
    const float* wr = w + k * ldw;
    for (int64_t j = 0; j < n; ++j) y[j] += xk * wr[j];
  }
}

// kR rows of RowTimesMatrixLoop (x + r * ldx to y + r * ldy), B vectors of columns from j: each
// vector of w loaded once for the kR rows, every lane's products added in row order from 0.
template <class F, int kR, int B>
void RowsTimesMatrixVectors(const float* x, int64_t ldx, int64_t rows, const float* w, int64_t ldw, int64_t j,
                            typename F::M mask, float* y, int64_t ldy) {
  using V = typename F::V;
  constexpr bool kMasked = B == 0;  // one masked vector (the columns past the last whole one)
  constexpr int kB = kMasked ? 1 : B;
  // (the unroll pragmas keep acc in registers: at -O3 GCC 12 otherwise turns the zeroing into a
  // memset and the stores into a memcpy of acc through the stack, ~25 ns a call on a Zen 5)
  V acc[kR][kB];
#pragma GCC unroll 16
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 16
    for (int b = 0; b < kB; ++b) acc[r][b] = F::Set1(0.0f);
  }
  for (int64_t k = 0; k < rows; ++k) {
    const float* wr = w + k * ldw + j;
    V wv[kB];
#pragma GCC unroll 16
    for (int b = 0; b < kB; ++b) wv[b] = kMasked ? F::MaskedLoad(wr, mask) : F::Load(wr + b * F::kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < kR; ++r) {
      const V xk = F::Set1(x[r * ldx + k]);
#pragma GCC unroll 16
      for (int b = 0; b < kB; ++b) acc[r][b] = F::Add(acc[r][b], F::Mul(xk, wv[b]));
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 16
    for (int b = 0; b < kB; ++b) {
      if constexpr (kMasked) {
        F::MaskedStore(y + r * ldy + j, mask, acc[r][b]);
      } else {
        F::Store(y + r * ldy + j + b * F::kLanes, acc[r][b]);
      }
    }
  }
}

// B vectors of y (columns j...) of RowTimesMatrixLoop for a tier's float vectors F (the traits
// of float_conv_simd.h), summed in registers over every row.
template <class F, int B>
void RowTimesMatrixVectors(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t j, float* y) {
  RowsTimesMatrixVectors<F, 1, B>(x, 0, rows, w, ldw, j, typename F::M{}, y, 0);
}

// The whole vectors of columns [j, j + count * lanes), count < 2 * kMax, in one or two passes.
template <class F, int kMax, int B = 1>
void RowTimesMatrixTail(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t j, int64_t count, float* y) {
  if constexpr (B < 2 * kMax) {
    if (count != B) return RowTimesMatrixTail<F, kMax, B + 1>(x, rows, w, ldw, j, count, y);
    if constexpr (B <= kMax) {
      RowTimesMatrixVectors<F, B>(x, rows, w, ldw, j, y);
    } else {
      RowTimesMatrixVectors<F, B / 2>(x, rows, w, ldw, j, y);
      RowTimesMatrixVectors<F, B - B / 2>(x, rows, w, ldw, j + B / 2 * F::kLanes, y);
    }
  }
}

// RowTimesMatrixLoop at a tier's width: up to kMax vectors of y per pass over the rows (the
// loop's sums go through memory at each row; a pass is a chain of dependent adds per vector and
// reads kMax vectors of each row, so the fewer and wider the passes, the better: an LSTM of
// hidden 64 has 256 columns, one pass at AVX-512's 16), the same operations per lane; the columns
// past the last whole vector in a masked one (F::Inside, MaskedLoad, MaskedStore).
template <class F, int kMax>
void RowTimesMatrixBlocked(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t n, float* y) {
  constexpr int64_t kL = F::kLanes;
  int64_t j = 0;
  for (; (n - j) / kL >= 2 * kMax; j += kMax * kL) RowTimesMatrixVectors<F, kMax>(x, rows, w, ldw, j, y);
  const int64_t vectors = (n - j) / kL;
  if (vectors > 0) RowTimesMatrixTail<F, kMax>(x, rows, w, ldw, j, vectors, y);
  j += vectors * kL;
  if (j < n) {  // the last columns in one masked vector (lanes past n neither read nor written)
    RowsTimesMatrixVectors<F, 1, 0>(x, 0, rows, w, ldw, j, F::Inside(0, 1, n - j, n - j), y, 0);
  }
}

// RowsTimesMatrixScalar at a tier's width: blocks of kR rows, kB vectors of columns per pass (a
// column block of w stays in L1 while every row block passes over it), the last columns as
// fewer vectors and one masked one; the rows past the last whole block one at a time
// (RowTimesMatrixBlocked, kMax vectors per pass).
template <class F, int kR, int kB, int kMax>
void RowsTimesMatrixBlocked(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w, int64_t ldw,
                            int64_t n, float* y, int64_t ldy) {
  constexpr int64_t kL = F::kLanes;
  const int64_t blocks = m / kR;
  const typename F::M none{};
  int64_t j = 0;
  for (; blocks > 0 && j + kB * kL <= n; j += kB * kL) {
    for (int64_t i = 0; i < blocks * kR; i += kR) {
      RowsTimesMatrixVectors<F, kR, kB>(x + i * ldx, ldx, rows, w, ldw, j, none, y + i * ldy, ldy);
    }
  }
  for (; blocks > 0 && j + kL <= n; j += kL) {
    for (int64_t i = 0; i < blocks * kR; i += kR) {
      RowsTimesMatrixVectors<F, kR, 1>(x + i * ldx, ldx, rows, w, ldw, j, none, y + i * ldy, ldy);
    }
  }
  if (blocks > 0 && j < n) {
    const typename F::M mask = F::Inside(0, 1, n - j, n - j);
    for (int64_t i = 0; i < blocks * kR; i += kR) {
      RowsTimesMatrixVectors<F, kR, 0>(x + i * ldx, ldx, rows, w, ldw, j, mask, y + i * ldy, ldy);
    }
  }
  for (int64_t i = blocks * kR; i < m; ++i) RowTimesMatrixBlocked<F, kMax>(x + i * ldx, rows, w, ldw, n, y + i * ldy);
}

inline void RowsTimesMatrixScalar(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w, int64_t ldw,
                                  int64_t n, float* y, int64_t ldy) {
  for (int64_t i = 0; i < m; ++i) RowTimesMatrixLoop(x + i * ldx, rows, w, ldw, n, y + i * ldy);
}
void RowsTimesMatrixAvx2(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w, int64_t ldw, int64_t n,
                         float* y, int64_t ldy);
void RowsTimesMatrixAvx512(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w, int64_t ldw, int64_t n,
                           float* y, int64_t ldy);

// The gate activations of a cell, Sigmoid and Tanh, in float arithmetic only (+, -, *, / and
// exact conversions: the same IEEE operations in the same order on every tier and architecture,
// so vectorized loops keep the scalar bits). Within a few float ulps of the exact functions
// (recurrent_test.cpp checks 4 ulps against the double-precision ones on a sweep); the
// element-wise Sigmoid and Tanh operators keep their own definitions (ops/unary_math.h).
enum class CellActivation { kSigmoid, kTanh };
using CellActivationFn = void (*)(CellActivation f, const float* x, int64_t n, float* y);

// e^x for x clamped to [-87, 88] (no NaN: the callers pass one through themselves): x = k ln2 + r
// with k = round(x / ln2) (the 1.5 * 2^23 addition rounds to nearest even), ln2 in two parts (the
// first of 16 bits, so k * hi is exact), e^r by its Taylor polynomial to r^7 (|r| <= 0.347:
// truncation < 1e-8 relative), scaled by 2^k built in the exponent bits (k in [-126, 127]).
inline float CellExp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float kd = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  const float r = (x - kd * 0.693145751953125f) - kd * 1.42860677e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const auto k = static_cast<int32_t>(kd);
  return p * std::bit_cast<float>(static_cast<uint32_t>(k + 127) << 23);
}

inline float CellSigmoid(float x) {
  const bool nan = x != x;
  const float e = CellExp(nan ? 0.0f : -x);
  return nan ? x : 1.0f / (1.0f + e);
}

// |x| < 0.5: tanh's odd Taylor series to x^17 (terms shrink ~10x each); else 1 - 2 / (e^2|x| + 1)
// (tanh >= 0.46 there: the subtraction loses at most a bit), the sign put back.
inline float CellTanh(float x) {
  const bool nan = x != x;
  const float a = nan ? 0.0f : std::fabs(x), a2 = a * a;
  float p = 6404582.0f / 10854718875.0f;
  p = p * a2 - 929569.0f / 638512875.0f;
  p = p * a2 + 21844.0f / 6081075.0f;
  p = p * a2 - 1382.0f / 155925.0f;
  p = p * a2 + 62.0f / 2835.0f;
  p = p * a2 - 17.0f / 315.0f;
  p = p * a2 + 2.0f / 15.0f;
  p = p * a2 - 1.0f / 3.0f;
  const float small = a + a * (a2 * p);
  const float large = 1.0f - 2.0f / (CellExp(2.0f * a) + 1.0f);
  const float t = a < 0.5f ? small : large;
  // x's sign bit on t >= 0 (tanh(-0) is -0)
  const float signed_t = std::bit_cast<float>(std::bit_cast<uint32_t>(t) | (std::bit_cast<uint32_t>(x) & 0x80000000u));
  return nan ? x : signed_t;
}

inline void CellActivationLoop(CellActivation f, const float* __restrict x, int64_t n, float* __restrict y) {
  if (f == CellActivation::kSigmoid) {
    for (int64_t i = 0; i < n; ++i) y[i] = CellSigmoid(x[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = CellTanh(x[i]);
  }
}

// CellActivationLoop at a tier's width, for traits F as float_conv_simd.h's with these too: Sub,
// Div, Neg and Abs (the sign bit flipped, cleared), IsNan(v), Less(a, b) (a < b, false for
// NaN), All(m) (every lane set), Select(m, a, b) (m ? a : b), OrSign(t, x) (x's sign bit set on t) and Pow2(k) (2^k for
// an integral float k in [-126, 127], built in the exponent bits). The same operations as the
// scalar functions above lane by lane, Tanh's two forms both computed and one selected (as the
// scalar code evaluates both; the e^x form skipped where no lane would select it), two vectors
// per step; the last elements by the scalar loop.
// (GCC's own vectorization of the loop ran ~1.4x slower on a Zen 5: masked operations on k
// registers for the NaN and Tanh branches.)
template <class F>
typename F::V CellExpVector(typename F::V x) {
  using V = typename F::V;
  x = F::Min(F::Set1(88.0f), F::Max(F::Set1(-87.0f), x));
  const V big = F::Set1(12582912.0f);
  const V kd = F::Sub(F::Add(F::Mul(x, F::Set1(1.44269504f)), big), big);
  const V r = F::Sub(F::Sub(x, F::Mul(kd, F::Set1(0.693145751953125f))), F::Mul(kd, F::Set1(1.42860677e-06f)));
  V p = F::Set1(1.0f / 5040.0f);
  p = F::Add(F::Mul(p, r), F::Set1(1.0f / 720.0f));
  p = F::Add(F::Mul(p, r), F::Set1(1.0f / 120.0f));
  p = F::Add(F::Mul(p, r), F::Set1(1.0f / 24.0f));
  p = F::Add(F::Mul(p, r), F::Set1(1.0f / 6.0f));
  p = F::Add(F::Mul(p, r), F::Set1(0.5f));
  p = F::Add(F::Mul(p, r), F::Set1(1.0f));
  p = F::Add(F::Mul(p, r), F::Set1(1.0f));
  return F::Mul(p, F::Pow2(kd));
}

template <class F>
typename F::V CellSigmoidVector(typename F::V x) {
  const typename F::M nan = F::IsNan(x);
  const typename F::V e = CellExpVector<F>(F::Select(nan, F::Set1(0.0f), F::Neg(x)));
  return F::Select(nan, x, F::Div(F::Set1(1.0f), F::Add(F::Set1(1.0f), e)));
}

template <class F>
typename F::V CellTanhVector(typename F::V x) {
  using V = typename F::V;
  const typename F::M nan = F::IsNan(x);
  const V a = F::Select(nan, F::Set1(0.0f), F::Abs(x)), a2 = F::Mul(a, a);
  V p = F::Set1(6404582.0f / 10854718875.0f);
  p = F::Sub(F::Mul(p, a2), F::Set1(929569.0f / 638512875.0f));
  p = F::Add(F::Mul(p, a2), F::Set1(21844.0f / 6081075.0f));
  p = F::Sub(F::Mul(p, a2), F::Set1(1382.0f / 155925.0f));
  p = F::Add(F::Mul(p, a2), F::Set1(62.0f / 2835.0f));
  p = F::Sub(F::Mul(p, a2), F::Set1(17.0f / 315.0f));
  p = F::Add(F::Mul(p, a2), F::Set1(2.0f / 15.0f));
  p = F::Sub(F::Mul(p, a2), F::Set1(1.0f / 3.0f));
  const V small = F::Add(a, F::Mul(a, F::Mul(a2, p)));
  const typename F::M below = F::Less(a, F::Set1(0.5f));
  // every lane below 0.5 (or NaN): the e^x form would not be selected (lstm2_pm's cell states:
  // ~96 % of its Tanh vectors)
  const V t = F::All(below) ? small
                            : F::Select(below, small,
                                        F::Sub(F::Set1(1.0f), F::Div(F::Set1(2.0f), F::Add(CellExpVector<F>(F::Mul(F::Set1(2.0f), a)),
                                                                                               F::Set1(1.0f)))));
  return F::Select(nan, x, F::OrSign(t, x));
}

template <class F>
void CellActivationVectors(CellActivation f, const float* x, int64_t n, float* y) {
  constexpr int64_t kL = F::kLanes;
  const auto apply = [f](typename F::V v) { return f == CellActivation::kSigmoid ? CellSigmoidVector<F>(v) : CellTanhVector<F>(v); };
  int64_t i = 0;
  for (; i + 2 * kL <= n; i += 2 * kL) {
    const typename F::V a = apply(F::Load(x + i)), b = apply(F::Load(x + i + kL));
    F::Store(y + i, a);
    F::Store(y + i + kL, b);
  }
  for (; i + kL <= n; i += kL) F::Store(y + i, apply(F::Load(x + i)));
  CellActivationLoop(f, x + i, n - i, y + i);
}

inline void CellActivationScalar(CellActivation f, const float* x, int64_t n, float* y) { CellActivationLoop(f, x, n, y); }
void CellActivationAvx2(CellActivation f, const float* x, int64_t n, float* y);
void CellActivationAvx512(CellActivation f, const float* x, int64_t n, float* y);

}  // namespace edge::engine
