#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {

void LutScalar(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = table[static_cast<uint8_t>(x[i])];
}

void DepthwiseTapScalar(int32_t* __restrict acc, const int8_t* __restrict src, int64_t n, int16_t w,
                        int16_t zx) {
  for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<int16_t>(w * static_cast<int16_t>(src[i] - zx));
}

void DepthwiseChannelScalar(const DepthwiseArgs& a) {
  for (int64_t q = 0; q < a.grid; ++q) {
    int32_t acc = a.bias;
    for (int t = 0; t < a.taps; ++t) {
      acc += static_cast<int16_t>(a.weights[t] * static_cast<int16_t>(a.plane[q + a.offsets[t]] - a.zx));
    }
    a.out[q] = Requantize(acc, a.mult, a.zero_point, a.qmin, a.qmax);
  }
}

}  // namespace edge::engine
