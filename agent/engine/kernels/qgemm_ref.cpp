// Scalar reference: the specification every SIMD tier is tested against.
#include "agent/engine/kernels/qgemm.h"

#include <algorithm>
#include <cstring>

namespace edge::engine {

void QGemmScalar(const QGemmArgs& a) {
  const bool left_weights = a.weights == QGemmWeights::kLeft;
  for (int64_t m = 0; m < a.m; ++m) {
    const uint8_t* lrow = a.left + m * a.kp;
    for (int64_t n = 0; n < a.n; ++n) {
      int32_t acc = 0;
      for (int64_t k = 0; k < a.kp; ++k) {
        const uint8_t* group = a.right_groups != nullptr ? a.right_groups[k >> 2] : a.right + (k >> 2) * a.np * 4;
        const uint8_t rb = group[n * 4 + (k & 3)];
        const uint8_t lb = lrow[k];
        const int32_t l = left_weights ? int32_t{static_cast<int8_t>(lb)} : int32_t{lb};
        const int32_t r = left_weights ? int32_t{rb} : int32_t{static_cast<int8_t>(rb)};
        acc = WrapAdd(acc, l * r);
      }
      const int64_t ch = left_weights ? m : n;
      const int64_t column = StoredColumn(a, n);
      if (column < 0) continue;
      a.out[m * a.ldo + column] = Requantize(WrapAdd(acc, a.bias[ch]), a.mult[ch], a.zero_point, a.qmin, a.qmax);
    }
  }
}

void PackRightS8(const int8_t* w, int64_t n, int64_t k, int64_t np, int64_t kp, int8_t* packed) {
  std::memset(packed, 0, static_cast<size_t>(np * kp));
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = 0; i < k; ++i) packed[((i >> 2) * np + c) * 4 + (i & 3)] = w[c * k + i];
  }
}

void WidenLeftS8(const int8_t* w, int64_t rows, int64_t kp, int16_t* out) {
  for (int64_t t0 = 0; t0 < rows; t0 += kQGemmAvx2TileRows) {
    const int64_t tile_rows = std::min(kQGemmAvx2TileRows, rows - t0);
    for (int64_t r = 0; r < tile_rows; ++r) {
      for (int64_t k = 0; k < kp; ++k) out[t0 * kp + ((k >> 2) * tile_rows + r) * 4 + (k & 3)] = w[(t0 + r) * kp + k];
    }
  }
}

void PackLeftU8(const int8_t* x, int64_t m, int64_t k, int64_t kp, uint8_t* packed) {
  for (int64_t r = 0; r < m; ++r) {
    const int8_t* src = x + r * k;
    uint8_t* dst = packed + r * kp;
    for (int64_t i = 0; i < k; ++i) dst[i] = static_cast<uint8_t>(src[i] + 128);
    for (int64_t i = k; i < kp; ++i) dst[i] = 0;
  }
}

}  // namespace edge::engine
