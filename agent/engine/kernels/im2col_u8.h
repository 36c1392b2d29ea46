// Builds the unsigned, 4-interleaved activation operand of an int8 Conv: R[kp/4][np][4] with
// R[k][p] = x[c][iy][ix] + 128 for k = (c, ky, kx) and output pixel p; padding reads the
// input zero point, K and column padding are zero. Shared by every kernel tier.
#pragma once

#include <cstdint>

namespace edge::engine {

struct ConvGeometry {
  int64_t channels = 0;  // input channels of one group
  int64_t in_h = 0, in_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t out_h = 0, out_w = 0;
};

void Im2colU8(const int8_t* x, const ConvGeometry& g, uint8_t pad_byte, int64_t kp, int64_t np,
              uint8_t* out);

}  // namespace edge::engine
