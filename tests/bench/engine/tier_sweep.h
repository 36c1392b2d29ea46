#pragma once

#include <cstdio>

namespace edge::engine::bench {

// Prints a Markdown table on any architecture: int8 GEMM GOP/s of every kernel tier this CPU
// supports (the scalar reference included), square problems and batch-1 GEMVs, so a user on a
// Raspberry Pi or a Jetson can measure the arm64 tiers (`edge_engine_bench tiers`); then ns per
// element of the per-element int8 kernels (lookup, Add, QuantizeLinear) and of the float
// activations computed in double (Tanh, Erf, Gelu) per tier.
int RunTierSweep(std::FILE* out);

}  // namespace edge::engine::bench
