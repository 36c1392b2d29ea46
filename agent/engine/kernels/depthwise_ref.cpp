// Scalar depthwise kernel: the specification the SIMD tiers must match byte for byte.
//
// Every output is acc = bias + sum_t w[t] * (s_t + 128), s_t the tap's source byte where the
// plan's mask bit is set and zx where it is not. Outputs in the plan's interior have every
// mask bit set, so they are summed tap by tap across a run of outputs (a loop the compiler
// vectorizes); only the border tests mask bits per output.
#include <algorithm>

#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
namespace {

constexpr int64_t kRun = 64;  // interior outputs summed together (a stack accumulator)

struct ChannelArgs {
  const DepthwiseArgs& a;
  const DepthwisePlan& p;
  const int8_t* src;
  const int8_t* w;
  int8_t* out;
  int32_t bias;
  float mult;
};

// Outputs [q, q + n) of a border: each tap reads its byte or zx, as its mask bit says.
void BorderOutputs(const ChannelArgs& ch, int64_t q, int64_t n) {
  const DepthwisePlan& p = ch.p;
  for (const int64_t end = q + n; q < end; ++q) {
    const uint64_t* masks = p.masks.data() + (q / kDepthwiseBlock) * p.taps;
    const int bit = static_cast<int>(q % kDepthwiseBlock);
    int32_t acc = ch.bias;
    for (int t = 0; t < p.real_taps; ++t) {
      const bool read = ((masks[t] >> bit) & 1) != 0;
      acc = WrapAdd(acc, ch.w[t] * ((read ? ch.src[q + p.offsets[t]] : ch.a.zx) + 128));
    }
    ch.out[q] = Requantize(acc, ch.mult, ch.a.zero_point, ch.a.qmin, ch.a.qmax);
  }
}

// Outputs [q, q + n) of the interior, n <= kRun: every tap reads its byte.
void InteriorOutputs(const ChannelArgs& ch, int64_t q, int64_t n) {
  const DepthwisePlan& p = ch.p;
  int32_t acc[kRun];
  for (int64_t i = 0; i < n; ++i) acc[i] = ch.bias;
  for (int t = 0; t < p.real_taps; ++t) {
    const int8_t* s = ch.src + q + p.offsets[t];
    const int32_t w = ch.w[t];
    for (int64_t i = 0; i < n; ++i) acc[i] = WrapAdd(acc[i], w * (s[i] + 128));
  }
  for (int64_t i = 0; i < n; ++i) {
    ch.out[q + i] = Requantize(acc[i], ch.mult, ch.a.zero_point, ch.a.qmin, ch.a.qmax);
  }
}

}  // namespace

void DepthwiseScalar(const DepthwiseArgs& a) {
  const DepthwisePlan& p = *a.plan;
  const int64_t rows = p.grid / p.pitch;
  for (int64_t c = 0; c < a.channels; ++c) {
    const ChannelArgs ch{a, p, a.src + c * a.src_stride, a.weights + c * p.taps, a.out + c * a.out_stride,
                         a.bias[c], a.mult[c]};
    for (int64_t oy = 0; oy < rows; ++oy) {
      const int64_t row = oy * p.pitch;
      if (oy < p.row_begin || oy >= p.row_end) {
        BorderOutputs(ch, row, p.pitch);
        continue;
      }
      BorderOutputs(ch, row, p.col_begin);
      for (int64_t ox = p.col_begin; ox < p.col_end; ox += kRun) {
        InteriorOutputs(ch, row + ox, std::min(kRun, p.col_end - ox));
      }
      BorderOutputs(ch, row + p.col_end, p.pitch - p.col_end);
    }
  }
}

}  // namespace edge::engine
