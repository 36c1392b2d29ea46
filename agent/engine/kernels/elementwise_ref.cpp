#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"

#include <algorithm>

namespace edge::engine {

void LutScalar(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = table[static_cast<uint8_t>(x[i])];
}

void DepthwiseChannelScalar(const DepthwiseArgs& a) {
  // Chunks of 64 outputs with taps outer, so the compiler vectorizes the inner loops; the
  // integer sums do not depend on the order.
  constexpr int64_t kChunk = 64;
  const float lo = static_cast<float>(a.qmin - a.zero_point), hi = static_cast<float>(a.qmax - a.zero_point);
  for (int64_t q0 = 0; q0 < a.grid; q0 += kChunk) {
    const int64_t len = std::min(kChunk, a.grid - q0);
    int32_t acc[kChunk];
    for (int64_t i = 0; i < len; ++i) acc[i] = a.bias;
    for (int t = 0; t < a.taps; ++t) {
      const int8_t* __restrict src = a.plane + q0 + a.offsets[t];
      const int16_t w = a.weights[t], zx = a.zx;
      for (int64_t i = 0; i < len; ++i) acc[i] += static_cast<int16_t>(w * static_cast<int16_t>(src[i] - zx));
    }
    int8_t* __restrict out = a.out + q0;
    const float m = a.mult;
    const int32_t zp = a.zero_point;
    for (int64_t i = 0; i < len; ++i) {
      float v = static_cast<float>(acc[i]) * m;
      v = std::min(std::max(v, lo), hi);
      out[i] = static_cast<int8_t>(static_cast<int32_t>(RoundHalfEvenSmall(v)) + zp);
    }
  }
}

void QAddScalar(const QAddArgs& p) {
  const float lo = static_cast<float>(p.qmin - p.zo), hi = static_cast<float>(p.qmax - p.zo);
  const float ra = p.ra, rb = p.rb;
  const int32_t za = p.za, zb = p.zb, zo = p.zo;
  for (int64_t i = 0; i < p.n; ++i) {
    float v = ra * static_cast<float>(p.a[i] - za) + rb * static_cast<float>(p.b[i] - zb);
    v = std::min(std::max(v, lo), hi);
    p.y[i] = static_cast<int8_t>(static_cast<int32_t>(RoundHalfEvenSmall(v)) + zo);
  }
}

void QuantizeScalar(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y) {
  const float lo = static_cast<float>(-128 - zero_point), hi = static_cast<float>(127 - zero_point);
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i] / scale;
    v = !(v >= lo) ? lo : (v > hi ? hi : v);  // NaN saturates low
    y[i] = static_cast<int8_t>(static_cast<int32_t>(RoundHalfEvenSmall(v)) + zero_point);
  }
}

}  // namespace edge::engine
