#include "agent/engine/kernels/im2col_u8.h"

namespace edge::engine {

void Im2colU8(const int8_t* x, const ConvGeometry& g, uint8_t pad_byte, int64_t kp, int64_t np,
              uint8_t* out) {
  const int64_t k_total = g.channels * g.kernel_h * g.kernel_w;
  const int64_t pixels = g.out_h * g.out_w;
  for (int64_t k = 0; k < kp; ++k) {
    uint8_t* dst = out + (k >> 2) * np * 4 + (k & 3);
    if (k >= k_total) {
      for (int64_t p = 0; p < np; ++p) dst[p * 4] = 0;
      continue;
    }
    const int64_t c = k / (g.kernel_h * g.kernel_w);
    const int64_t ky = (k / g.kernel_w) % g.kernel_h;
    const int64_t kx = k % g.kernel_w;
    const int8_t* plane = x + c * g.in_h * g.in_w;
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const int64_t iy = oy * g.stride_h - g.pad_top + ky * g.dilation_h;
      uint8_t* row = dst + oy * g.out_w * 4;
      if (iy < 0 || iy >= g.in_h) {
        for (int64_t ox = 0; ox < g.out_w; ++ox) row[ox * 4] = pad_byte;
        continue;
      }
      const int8_t* src = plane + iy * g.in_w;
      const int64_t x0 = kx * g.dilation_w - g.pad_left;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const int64_t ix = ox * g.stride_w + x0;
        row[ox * 4] = (ix < 0 || ix >= g.in_w) ? pad_byte : static_cast<uint8_t>(src[ix] + 128);
      }
    }
    for (int64_t p = pixels; p < np; ++p) dst[p * 4] = 0;
  }
}

}  // namespace edge::engine
