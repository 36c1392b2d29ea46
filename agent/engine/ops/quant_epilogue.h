// The element-wise int8 ops a conv step applies to its own output (Node::epilogue, folded in
// fold.cpp): the same kernels and parameters as the separate lookup and Add steps, in place,
// so a fused graph computes the same bytes as the unfused one.
#pragma once

#include <cstdint>

#include "agent/engine/compile.h"

namespace edge::engine {

struct QEpilogueOp {
  bool add = false;
  int8_t table[256] = {};  // lookup: out = table[(uint8_t)y]
  Ref other;               // Add: the other operand, y = sat(ra*(y - za) + rb*(other - zb))
  float ra = 1, rb = 1;
  int32_t za = 0, zb = 0, zo = 0, qmin = -128, qmax = 127;
};

// `op` is a kQLut node, a same-shape kQAdd node or a kRequant node (a Concat's requantization,
// as a lookup) whose in[0] is the value being transformed.
QEpilogueOp BuildQEpilogueOp(const Node& op, BuildContext& ctx);

// Every scale is finite and positive, but a requantization factor made of them (input scale
// over output scale, times a weight or second input's scale) can still overflow to infinity,
// which the kernels would turn into NaN for a zero difference (the output saturating low
// instead of at its zero point): such a model is refused at load. `what` names the factor and
// its scales; the compiler prefixes the node.
tl::unexpected<Error> NonFiniteRequant(const std::string& what);

// The scale ratios a requantizing int8 node multiplies by (Add, Concat, the pools, ReduceMean:
// each input's scale over the output's; Mul: both inputs' product over it), NonFiniteRequant
// where one overflows. Other kinds: Ok.
Status CheckRequantRatios(const Node& n, BuildContext& ctx);

// Applies `op` in place to y[0, n).
void RunQEpilogueOp(const QEpilogueOp& op, const ExecEnv& env, int8_t* y, int64_t n);

}  // namespace edge::engine
