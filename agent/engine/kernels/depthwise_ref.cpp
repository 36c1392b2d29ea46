// Scalar depthwise kernel: the specification the SIMD tiers must match byte for byte.
#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {

void DepthwiseScalar(const DepthwiseArgs& a) {
  const DepthwisePlan& p = *a.plan;
  for (int64_t c = 0; c < a.channels; ++c) {
    const int8_t* src = a.src + c * a.src_stride;
    const int8_t* w = a.weights + c * p.taps;
    int8_t* out = a.out + c * a.out_stride;
    for (int64_t q = 0; q < p.grid; ++q) {
      const uint64_t* masks = p.masks.data() + (q / kDepthwiseBlock) * p.taps;
      const int bit = static_cast<int>(q % kDepthwiseBlock);
      int32_t acc = a.bias[c];
      for (int t = 0; t < p.taps; ++t) {
        const bool read = ((masks[t] >> bit) & 1) != 0;
        acc += w[t] * ((read ? src[q + p.offsets[t]] : a.zx) + 128);
      }
      out[q] = Requantize(acc, a.mult[c], a.zero_point, a.qmin, a.qmax);
    }
  }
}

}  // namespace edge::engine
