// Float definitions of the element-wise activations, shared by the float kernels and the
// int8 lookup tables (which tabulate these functions over the 256 input codes).
#pragma once

#include <algorithm>
#include <cmath>

#include "agent/engine/graph.h"

namespace edge::engine {

struct UnaryParams {
  UnaryKind kind = UnaryKind::kRelu;
  float alpha = 0.0f, beta = 0.0f;
  float lo = -INFINITY, hi = INFINITY;
};

inline UnaryParams UnaryParamsOf(const Node& n) {
  return UnaryParams{n.unary, n.alpha, n.beta, n.act_min, n.act_max};
}

inline float ApplyUnary(const UnaryParams& p, float x) {
  switch (p.kind) {
    case UnaryKind::kRelu: return std::max(x, 0.0f);
    case UnaryKind::kClip: return std::min(std::max(x, p.lo), p.hi);
    case UnaryKind::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case UnaryKind::kTanh: return std::tanh(x);
    case UnaryKind::kLeakyRelu: return x >= 0.0f ? x : p.alpha * x;
    case UnaryKind::kHardSigmoid: return std::max(0.0f, std::min(1.0f, p.alpha * x + p.beta));
    case UnaryKind::kHardSwish: return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
  }
  return x;
}

}  // namespace edge::engine
