// Float definitions of the element-wise activations, shared by the float kernels and the
// int8 lookup tables (which tabulate these functions over the 256 input codes).
#pragma once

#include <algorithm>
#include <cmath>

#include "agent/engine/graph.h"
#include "agent/engine/ops/portable_math.h"

namespace edge::engine {

struct UnaryParams {
  UnaryKind kind = UnaryKind::kRelu;
  float alpha = 0.0f, beta = 0.0f;
  float lo = -INFINITY, hi = INFINITY;
};

inline UnaryParams UnaryParamsOf(const Node& n) {
  return UnaryParams{n.unary, n.alpha, n.beta, n.act_min, n.act_max};
}

// ONNX Cast to float16 (round to nearest, ties to even; overflow to infinity; NaN stays NaN),
// returned as the float holding that float16 value.
inline float RoundToFloat16(float x) {
  if (!std::isfinite(x)) return x;
  const float a = std::fabs(x);
  if (a >= 65520.0f) return std::copysign(INFINITY, x);  // at or past the rounding midpoint of 65504
  // The spacing of float16 values at |x|: 2^(e-10) for normal numbers, 2^-24 below 2^-14.
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const int step_exp = std::max(e - 1 - 10, -24);
  // nearbyint rounds half to even in the default rounding mode; both scalings are exact.
  return std::copysign(std::ldexp(std::nearbyint(std::ldexp(a, -step_exp)), step_exp), x);
}

// Always inlined: the loops that apply one kind (ops/float_ops.cpp UnaryLoopOf) rely on the switch
// folding away; a call per element costs more than most of these functions.
__attribute__((always_inline)) inline float ApplyUnary(const UnaryParams& p, float x) {
  switch (p.kind) {
    case UnaryKind::kRelu: return std::max(x, 0.0f);
    case UnaryKind::kClip: return std::min(std::max(x, p.lo), p.hi);
    case UnaryKind::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case UnaryKind::kTanh: return portable::Tanh(x);  // glibc's differs across architectures
    case UnaryKind::kLeakyRelu: return x >= 0.0f ? x : p.alpha * x;
    case UnaryKind::kHardSigmoid: return std::max(0.0f, std::min(1.0f, p.alpha * x + p.beta));
    case UnaryKind::kHardSwish: return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    case UnaryKind::kAbs: return std::fabs(x);
    case UnaryKind::kNeg: return -x;
    case UnaryKind::kExp: return std::exp(x);
    case UnaryKind::kLog: return std::log(x);
    case UnaryKind::kSqrt: return std::sqrt(x);
    case UnaryKind::kReciprocal: return 1.0f / x;
    case UnaryKind::kFloor: return std::floor(x);
    case UnaryKind::kCeil: return std::ceil(x);
    case UnaryKind::kRound: return std::nearbyint(x);  // halves to even (the default rounding mode)
    case UnaryKind::kSign: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x;  // NaN stays NaN
    case UnaryKind::kErf: return portable::Erf(x);  // glibc's differs across architectures
    case UnaryKind::kSin: return std::sin(x);
    case UnaryKind::kCos: return std::cos(x);
    case UnaryKind::kElu: return x >= 0.0f ? x : p.alpha * (std::exp(x) - 1.0f);
    case UnaryKind::kSelu: return x > 0.0f ? p.beta * x : p.beta * (p.alpha * std::exp(x) - p.alpha);
    case UnaryKind::kCelu: return std::max(0.0f, x) + std::min(0.0f, p.alpha * (std::exp(x / p.alpha) - 1.0f));
    case UnaryKind::kSoftplus: return portable::Softplus(x);
    case UnaryKind::kSoftsign: return x / (1.0f + std::fabs(x));
    case UnaryKind::kThresholdedRelu: return x > p.alpha ? x : 0.0f;
    case UnaryKind::kMish: return x * portable::Tanh(portable::Softplus(x));
    case UnaryKind::kGelu: return 0.5f * x * (1.0f + portable::Erf(x * 0.70710678118654752f));
    case UnaryKind::kGeluTanh:
      return 0.5f * x * (1.0f + portable::Tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case UnaryKind::kRoundToFloat16: return RoundToFloat16(x);
    // ONNX Runtime's Pow multiplies for the exponents 2 and 3; so does the engine, to match it.
    case UnaryKind::kPow:
      return p.alpha == 2.0f ? x * x : p.alpha == 3.0f ? x * x * x : portable::Pow(x, p.alpha);
    case UnaryKind::kAffine: return x * p.alpha + p.beta;  // ChannelAffineStep's two roundings
  }
  return x;
}

struct ElementwiseKernels;

// Y[i] = ApplyUnary(params, X[i]) for i < n, by the tier's kernel or a loop per kind, the same
// bits either way (ops/float_ops.cpp); X and Y do not overlap.
void UnaryRows(const UnaryParams& params, const ElementwiseKernels& kernels, const float* X, float* Y, int64_t n);

}  // namespace edge::engine
