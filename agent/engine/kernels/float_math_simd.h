// The float functions computed in double (ops/portable_math.h) over vectors of doubles, for the
// ISA files that include it (float_math_avx2.cpp, float_math_avx512.cpp: each compiled for its
// ISA with -ffp-contract=off and without FMA). Every lane performs portable_math.h's IEEE
// operations in its order (multiplies, divides, adds and subtracts each rounded once; nearbyint
// as round-to-nearest-even; ldexp as an exact scaling where the result is normal), so the same
// bits; its branches become per-lane selects, and a vector skips a branch no lane takes.
//
// A traits type T gives: VD (doubles), M (a lane mask of VD), VF (floats, one per double), MF
// (a lane mask of VF), kLanes; Set1, Add, Sub, Mul, Div, Neg and Abs (sign bit), Min(a, b) and
// Max(a, b) (b where either is NaN, as minpd/maxpd), RoundEven, Scale2(p, k) (p 2^k for integral
// k where 2^k and the product are normal), Less(a, b) (false with a NaN), Unordered(a),
// AndNot(a, b) (b and not a), Any(m), All(m), Select(m, a, b) (m ? a : b); Widen (float to double),
// Narrow (double to float, rounded to nearest), LoadF, StoreF, SetF, AddF, SubF, MulF,
// NanOrZeroF(x) and SelectF(mf, a, b).
#pragma once

#include <cstdint>
#include <cstring>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/ops/portable_math.h"

namespace edge::engine::float_math {

// portable::Exp for the lanes of d whose result is a normal double (the caller keeps d in such
// a range): the Cody-Waite reduction, the degree-13 Taylor polynomial by Horner, times 2^k.
template <typename T>
inline typename T::VD ExpNormal(typename T::VD d) {
  using V = typename T::VD;
  const V k = T::RoundEven(T::Mul(d, T::Set1(portable::kLog2e)));
  const V r = T::Sub(T::Sub(d, T::Mul(k, T::Set1(portable::kLn2Hi))), T::Mul(k, T::Set1(portable::kLn2Lo)));
  V p = T::Set1(portable::kExpTaylor[0]);
  for (int t = 1; t < 14; ++t) p = T::Add(T::Mul(p, r), T::Set1(portable::kExpTaylor[t]));
  return T::Scale2(p, k);
}

// portable::Expf(x - shift): below -110 the double is under 2^-158 and rounds to a float 0,
// above 100 to float infinity (as Exp's 0 and HUGE_VAL do), so e^ of the clamped value (k in
// [-159, 145]: normal), then those set; a NaN stays.
template <typename T>
inline typename T::VF ExpShifted(typename T::VF x, typename T::VF shift) {
  using V = typename T::VD;
  const V d = T::Widen(T::SubF(x, shift)), lo = T::Set1(-110.0);
  V e = ExpNormal<T>(T::Max(T::Min(d, T::Set1(100.0)), lo));
  e = T::Select(T::Less(d, lo), T::Set1(0.0), e);
  return T::Narrow(T::Select(T::Unordered(d), d, e));
}

// portable::Expm1(d) for |d| <= 41 (not NaN): the series below 0.5, e^d - 1 from there (e^d
// within [e^-41, e^41]: normal).
template <typename T>
inline typename T::VD Expm1Bounded(typename T::VD d) {
  using V = typename T::VD;
  using M = typename T::M;
  const M small = T::Less(T::Abs(d), T::Set1(0.5));
  V series = T::Set1(0.0), large = T::Set1(0.0);
  if (T::Any(small)) {
    const V s = T::Select(small, d, T::Set1(0.0));
    V p = T::Set1(1.0);
    for (int n = portable::kExpm1SeriesTerms; n >= 2; --n) {
      p = T::Add(T::Set1(1.0), T::Div(T::Mul(p, s), T::Set1(static_cast<double>(n))));
    }
    series = T::Mul(p, s);
  }
  if (!T::All(small)) large = T::Sub(ExpNormal<T>(T::Select(small, T::Set1(1.0), d)), T::Set1(1.0));
  return T::Select(small, series, large);
}

// The float result r of a lane, or the input itself where it is NaN or a zero (the portable
// functions return xf there: the payload of a signalling NaN and the sign of zero stay).
template <typename T>
inline typename T::VF KeepNanAndZero(typename T::VF xf, typename T::VD r) {
  return T::SelectF(T::NanOrZeroF(xf), xf, T::Narrow(r));
}

// portable::Tanh: |x| > 20 gives +-1, otherwise e / (e + 2) with e = Expm1(2x). 2x is clamped
// to [-41, 41] first (minpd/maxpd: a NaN becomes 41), which changes only lanes set after.
template <typename T>
inline typename T::VF Tanh(typename T::VF xf) {
  using V = typename T::VD;
  const V x = T::Widen(xf);
  const V e = Expm1Bounded<T>(T::Max(T::Min(T::Mul(T::Set1(2.0), x), T::Set1(41.0)), T::Set1(-41.0)));
  V r = T::Div(e, T::Add(e, T::Set1(2.0)));
  const V one = T::Select(T::Less(T::Set1(0.0), x), T::Set1(1.0), T::Set1(-1.0));
  r = T::Select(T::Less(T::Set1(portable::kTanhSaturation), T::Abs(x)), one, r);
  return KeepNanAndZero<T>(xf, r);
}

// portable::Erf: |x| < 2 by the alternating series, [2, 6) by 1 - erfc's continued fraction,
// 1 from 6 on (infinities included), the sign of x on the latter two.
template <typename T>
inline typename T::VF Erf(typename T::VF xf) {
  using V = typename T::VD;
  using M = typename T::M;
  const V x = T::Widen(xf), a = T::Abs(x);
  const M series = T::Less(a, T::Set1(portable::kErfSeriesBelow));
  const M fraction = T::AndNot(series, T::Less(a, T::Set1(portable::kErfOneFrom)));
  V r = T::Set1(1.0);
  if (T::Any(fraction)) {
    const V b = T::Select(fraction, a, T::Set1(portable::kErfSeriesBelow));  // others: a harmless value
    V f = b;
    for (int n = portable::kErfFractionTerms; n >= 1; --n) f = T::Add(b, T::Div(T::Set1(n * 0.5), f));
    const V tail = T::Div(ExpNormal<T>(T::Mul(T::Neg(b), b)), T::Mul(T::Set1(portable::kSqrtPi), f));
    r = T::Select(fraction, T::Sub(T::Set1(1.0), tail), r);  // e^(-b^2) within [e^-36, e^-4]
  }
  r = T::Select(T::Less(x, T::Set1(0.0)), T::Neg(r), r);
  if (T::Any(series)) {
    const V s = T::Select(series, x, T::Set1(0.0));
    const V x2 = T::Mul(s, s);
    V term = s, sum = s;
    for (int n = 1; n <= portable::kErfSeriesTerms; ++n) {
      term = T::Div(T::Mul(T::Neg(term), x2), T::Set1(static_cast<double>(n)));
      sum = T::Add(sum, T::Div(term, T::Set1(static_cast<double>(2 * n + 1))));
    }
    r = T::Select(series, T::Mul(sum, T::Set1(portable::kTwoOverSqrtPi)), r);
  }
  return KeepNanAndZero<T>(xf, r);
}

// ApplyUnary's Gelu and GeluTanh (ops/unary_math.h): their float operations around the above.
template <typename T>
inline typename T::VF Gelu(typename T::VF x) {
  const typename T::VF e = Erf<T>(T::MulF(x, T::SetF(0.70710678118654752f)));
  return T::MulF(T::MulF(T::SetF(0.5f), x), T::AddF(T::SetF(1.0f), e));
}
template <typename T>
inline typename T::VF GeluTanh(typename T::VF x) {
  using F = typename T::VF;
  const F cube = T::MulF(T::MulF(T::MulF(T::SetF(0.044715f), x), x), x);
  const F t = Tanh<T>(T::MulF(T::SetF(0.79788456080286536f), T::AddF(x, cube)));
  return T::MulF(T::MulF(T::SetF(0.5f), x), T::AddF(T::SetF(1.0f), t));
}

// y[i] = f(x[i]) for i < n, kLanes at a time; the last n % kLanes through a zeroed copy (no
// float read or written past n). x may equal y.
template <typename T, typename F>
inline void Rows(const float* x, int64_t n, float* y, F f) {
  constexpr int64_t kL = T::kLanes;
  int64_t i = 0;
  for (; i + kL <= n; i += kL) T::StoreF(y + i, f(T::LoadF(x + i)));
  if (i == n) return;
  float in[kL] = {}, out[kL];
  const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
  std::memcpy(in, x + i, bytes);
  T::StoreF(out, f(T::LoadF(in)));
  std::memcpy(y + i, out, bytes);
}

template <typename T>
inline void ExpShiftedRows(const float* x, int64_t n, float shift, float* y) {
  const typename T::VF s = T::SetF(shift);
  Rows<T>(x, n, y, [s](typename T::VF v) { return ExpShifted<T>(v, s); });
}

template <typename T>
inline void Transcendental(FloatTranscendental op, const float* x, int64_t n, float* y) {
  using F = typename T::VF;
  switch (op) {
    case FloatTranscendental::kTanh: return Rows<T>(x, n, y, [](F v) { return Tanh<T>(v); });
    case FloatTranscendental::kErf: return Rows<T>(x, n, y, [](F v) { return Erf<T>(v); });
    case FloatTranscendental::kGelu: return Rows<T>(x, n, y, [](F v) { return Gelu<T>(v); });
    case FloatTranscendental::kGeluTanh: return Rows<T>(x, n, y, [](F v) { return GeluTanh<T>(v); });
  }
}

// Two vectors of T as one (every operation on both halves): the series and continued fractions
// are chains of dependent divisions, and two independent chains keep the divider busy.
template <typename T>
struct Twice {
  // (structs, not one template over the vector types: their attributes would be dropped)
  struct VD {
    typename T::VD lo, hi;
  };
  struct M {
    typename T::M lo, hi;
  };
  struct VF {
    typename T::VF lo, hi;
  };
  struct MF {
    typename T::MF lo, hi;
  };
  static constexpr int kLanes = 2 * T::kLanes;
  template <typename R, typename Op, typename... A>
  static R Both(Op op, const A&... a) {
    return R{op(a.lo...), op(a.hi...)};
  }
  static VD Set1(double v) { return {T::Set1(v), T::Set1(v)}; }
  static VD Add(VD a, VD b) { return Both<VD>(T::Add, a, b); }
  static VD Sub(VD a, VD b) { return Both<VD>(T::Sub, a, b); }
  static VD Mul(VD a, VD b) { return Both<VD>(T::Mul, a, b); }
  static VD Div(VD a, VD b) { return Both<VD>(T::Div, a, b); }
  static VD Neg(VD a) { return Both<VD>(T::Neg, a); }
  static VD Abs(VD a) { return Both<VD>(T::Abs, a); }
  static VD Min(VD a, VD b) { return Both<VD>(T::Min, a, b); }
  static VD Max(VD a, VD b) { return Both<VD>(T::Max, a, b); }
  static VD RoundEven(VD a) { return Both<VD>(T::RoundEven, a); }
  static VD Scale2(VD p, VD k) { return Both<VD>(T::Scale2, p, k); }
  static M Less(VD a, VD b) { return Both<M>(T::Less, a, b); }
  static M Unordered(VD a) { return Both<M>(T::Unordered, a); }
  static M AndNot(M a, M b) { return Both<M>(T::AndNot, a, b); }
  static bool Any(M m) { return T::Any(m.lo) || T::Any(m.hi); }
  static bool All(M m) { return T::All(m.lo) && T::All(m.hi); }
  static VD Select(M m, VD a, VD b) { return Both<VD>(T::Select, m, a, b); }
  static VD Widen(VF v) { return Both<VD>(T::Widen, v); }
  static VF Narrow(VD v) { return Both<VF>(T::Narrow, v); }
  static VF LoadF(const float* p) { return {T::LoadF(p), T::LoadF(p + T::kLanes)}; }
  static void StoreF(float* p, VF v) {
    T::StoreF(p, v.lo);
    T::StoreF(p + T::kLanes, v.hi);
  }
  static VF SetF(float v) { return {T::SetF(v), T::SetF(v)}; }
  static VF AddF(VF a, VF b) { return Both<VF>(T::AddF, a, b); }
  static VF SubF(VF a, VF b) { return Both<VF>(T::SubF, a, b); }
  static VF MulF(VF a, VF b) { return Both<VF>(T::MulF, a, b); }
  static MF NanOrZeroF(VF x) { return Both<MF>(T::NanOrZeroF, x); }
  static VF SelectF(MF m, VF a, VF b) { return Both<VF>(T::SelectF, m, a, b); }
};

}  // namespace edge::engine::float_math
