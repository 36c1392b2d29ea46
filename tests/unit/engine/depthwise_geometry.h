// A random depthwise convolution geometry for the kernel tests that compare a tier's depthwise
// kernel against the scalar one: any kernel size, stride, dilation and asymmetric padding that
// leaves at least one output, one channel (the tests choose their own channel counts).
#pragma once

#include <cstdint>
#include <random>

#include "agent/engine/kernels/depthwise.h"

namespace edge::engine::testing {

// Every eighth trial has wide rows: interior runs longer than the scalar kernel's 64-output
// run, and tap windows whose 32 or 64 mask bits are all set.
inline ConvGeometry RandomDepthwiseGeometry(std::mt19937& rng, int trial, int max_dilation) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  ConvGeometry g;
  g.channels = 1;
  for (;;) {
    const bool wide = trial % 8 == 7;
    g.in_h = pick(1, wide ? 8 : 20);
    g.in_w = pick(wide ? 60 : 1, wide ? 150 : 40);
    g.kernel_h = pick(1, 5);
    g.kernel_w = pick(1, 5);
    g.stride_h = pick(1, 3);
    g.stride_w = pick(1, 3);
    g.dilation_h = pick(1, max_dilation);
    g.dilation_w = pick(1, max_dilation);
    g.pad_top = pick(0, 3);
    g.pad_left = pick(0, 3);
    const int64_t pad_bottom = pick(0, 3), pad_right = pick(0, 3);
    const int64_t span_h = g.dilation_h * (g.kernel_h - 1) + 1, span_w = g.dilation_w * (g.kernel_w - 1) + 1;
    if (g.in_h + g.pad_top + pad_bottom < span_h || g.in_w + g.pad_left + pad_right < span_w) continue;
    g.out_h = (g.in_h + g.pad_top + pad_bottom - span_h) / g.stride_h + 1;
    g.out_w = (g.in_w + g.pad_left + pad_right - span_w) / g.stride_w + 1;
    return g;
  }
}

}  // namespace edge::engine::testing
