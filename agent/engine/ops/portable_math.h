// Transcendental functions that give the same bits on every architecture. glibc's tanhf, erff
// and log1pf differ in the last bit between x86-64 and arm64 for some inputs (found by the
// arm64 review: a sweep of every 997th float), and a model's self-test recorded on one machine
// is checked with tolerance 0 on another. These are computed in double from +, -, *, / only
// (the build has -ffp-contract=off, so nothing is fused) plus the exact operations nearbyint,
// ldexp and frexp, then rounded once to float: IEEE 754 makes every step the same everywhere.
// Accuracy: within 1 float ulp of the correctly rounded result (portable_math_test.cpp checks
// against glibc on every 4099th float).
#pragma once

#include <cmath>
#include <initializer_list>

namespace edge::engine::portable {

// e^x's reduction and polynomial, shared with the SIMD forms of ExpShifted (kernels/): x = k ln2
// + r with k = nearbyint(x / ln2) and ln2 split in two (Cody-Waite), |r| <= ln2/2; e^r by a
// degree-13 Taylor polynomial (truncation < 4e-18 relative), Horner from 1/13! down to 1/0!.
inline constexpr double kLog2e = 1.4426950408889634;
inline constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
inline constexpr double kExpTaylor[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                          1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,
                                          1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,        1.0 / 2.0,
                                          1.0,                1.0};

// e^x for double x: the reduction above, scaled by 2^k exactly.
inline double Exp(double x) {
  if (x != x) return x;
  if (x > 709.78) return HUGE_VAL;
  if (x < -745.2) return 0.0;
  const double k = std::nearbyint(x * kLog2e);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = kExpTaylor[0];
  for (int i = 1; i < 14; ++i) p = p * r + kExpTaylor[i];
  return std::ldexp(p, static_cast<int>(k));
}

// Softmax's exponential: e^x for float x, rounded once from double (the same bits on every
// architecture; glibc's expf has FMA and non-FMA variants).
inline float Expf(float x) { return static_cast<float>(Exp(static_cast<double>(x))); }

// e^x - 1 without cancellation near 0: the Taylor series for |x| < 0.5 (terms to x^17/17!).
inline constexpr int kExpm1SeriesTerms = 17;
inline double Expm1(double x) {
  if (!(std::fabs(x) < 0.5)) return x != x ? x : Exp(x) - 1.0;
  double p = 1.0;
  for (int n = kExpm1SeriesTerms; n >= 2; --n) p = 1.0 + p * x / n;
  return p * x;  // x (1 + x/2 (1 + x/3 (...)))
}

// ln(x) for finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) with
// s = (m-1)/(m+1), |s| < 0.1716, summed to s^23.
inline double Log(double x) {
  if (x != x || x < 0.0) return NAN;
  if (x == 0.0) return -HUGE_VAL;
  if (std::isinf(x)) return x;
  int e = 0;
  double m = std::frexp(x, &e);  // [0.5, 1)
  if (m < 0.70710678118654752) {
    m *= 2.0;
    --e;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 23.0;
  for (int n = 21; n >= 1; n -= 2) p = p * s2 + 1.0 / n;
  return e * 6.93147180369123816490e-01 + (e * 1.90821492927058770002e-10 + 2.0 * s * p);
}

// ln(1 + x), accurate for small x: log(u) * x / (u - 1) with u = 1 + x rounded (Goldberg's
// correction for the rounding of u).
inline double Log1p(double x) {
  if (x != x || x < -1.0) return NAN;
  if (x == -1.0) return -HUGE_VAL;
  const double u = 1.0 + x;
  if (u == 1.0) return x;
  if (std::isinf(u)) return u;
  return Log(u) * (x / (u - 1.0));
}

// x^y with C's powf special cases (pow(x, 0) = 1 and pow(1, y) = 1 even for NaN, a negative
// x only to an integer power, signed zeros and infinities), computed as e^(y ln|x|) in double
// and rounded once. ONNX Runtime multiplies for y = 2 and 3 (x * x, x * x * x in float):
// ApplyUnary's constant-exponent Pow does the same, so the common LayerNorm square matches it.
inline float Pow(float xf, float yf) {
  if (yf == 0.0f || xf == 1.0f) return 1.0f;
  if (xf != xf || yf != yf) return NAN;
  const double x = xf, y = yf, ax = std::fabs(x);
  const bool y_integer = std::nearbyint(y) == y;
  // Every float above 2^24 is even; below it, fmod is exact.
  const bool y_odd = y_integer && std::fabs(y) < 16777216.0 && std::fmod(y, 2.0) != 0.0;
  if (std::isinf(y)) {
    if (ax == 1.0) return 1.0f;  // pow(-1, +-inf) = 1
    return static_cast<float>((ax > 1.0) == (y > 0.0) ? HUGE_VAL : 0.0);
  }
  if (x < 0.0 && !y_integer) return NAN;
  double r = 0.0;
  if (ax == 0.0) {
    r = y > 0.0 ? 0.0 : HUGE_VAL;
  } else if (std::isinf(ax)) {
    r = y > 0.0 ? HUGE_VAL : 0.0;
  } else {
    r = Exp(y * Log(ax));
  }
  return static_cast<float>(std::signbit(x) && y_odd ? -r : r);
}

// Tanh and Erf: the constants are named for their SIMD forms (kernels/float_math_simd.h), which
// repeat these operations lane by lane.
inline constexpr double kTanhSaturation = 20.0;  // tanh(20) rounds to 1 in float (and double)
inline float Tanh(float xf) {
  const double x = xf;
  if (x != x || x == 0.0) return xf;  // NaN, and the sign of zero
  if (std::fabs(x) > kTanhSaturation) return x > 0 ? 1.0f : -1.0f;
  const double e = Expm1(2.0 * x);
  return static_cast<float>(e / (e + 2.0));
}

inline constexpr double kErfSeriesBelow = 2.0, kErfOneFrom = 6.0;  // the three ranges of |x|
inline constexpr int kErfSeriesTerms = 40, kErfFractionTerms = 80;
inline constexpr double kTwoOverSqrtPi = 1.1283791670955126, kSqrtPi = 1.7724538509055160;
inline float Erf(float xf) {
  const double x = xf, a = std::fabs(x);
  if (x != x || x == 0.0) return xf;
  double r;
  if (a < kErfSeriesBelow) {
    // 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); the terms are below 1e-20 by n = 40
    const double x2 = x * x;
    double term = x, sum = x;
    for (int n = 1; n <= kErfSeriesTerms; ++n) {
      term = -term * x2 / n;
      sum += term / (2 * n + 1);
    }
    return static_cast<float>(sum * kTwoOverSqrtPi);
  }
  if (a < kErfOneFrom) {
    // erfc(a) = e^(-a^2) / sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated
    // from the 80th term back
    double f = a;
    for (int n = kErfFractionTerms; n >= 1; --n) f = a + (n * 0.5) / f;
    r = 1.0 - Exp(-a * a) / (kSqrtPi * f);
  } else {
    r = 1.0;  // erfc(6) < 2e-17
  }
  return static_cast<float>(x < 0 ? -r : r);
}

// log(1 + e^x), without overflow for large x.
inline float Softplus(float xf) {
  const double x = xf;
  if (x != x) return xf;
  return static_cast<float>(x > 0 ? x + Log1p(Exp(-x)) : Log1p(Exp(x)));
}

}  // namespace edge::engine::portable
