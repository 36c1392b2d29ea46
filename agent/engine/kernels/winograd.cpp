// The tier-neutral side of the Winograd F(2x2, 3x3) conv (kernels/winograd.h): its scratch and
// its weight transform, done once when a model loads.
#include "agent/engine/kernels/winograd.h"

namespace edge::engine {

int64_t WinogradScratchBytes(int64_t cin, int64_t oh, int64_t ow) {
  const int64_t hp = 2 * ((oh + 1) / 2) + 2, wp = 2 * ((ow + 1) / 2) + 2;
  return cin * hp * wp + 64;
}

void PackWinogradWeights(const int8_t* w, int64_t cout, int64_t cin, int16_t* u) {
  // G' = 2G, so that U = G' g G'^T is an integer matrix (4x the usual U)
  static constexpr int kG[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  const int64_t cin2 = WinogradPairs(cin) * 2;
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t c = 0; c < cin2; ++c) {
      int32_t g[3][3] = {};
      if (c < cin) {
        for (int k = 0; k < 9; ++k) g[k / 3][k % 3] = w[(o * cin + c) * 9 + k];
      }
      int32_t gg[4][3];  // G' g
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 3; ++j) gg[i][j] = kG[i][0] * g[0][j] + kG[i][1] * g[1][j] + kG[i][2] * g[2][j];
      }
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          const int32_t v = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          u[((4 * i + j) * cout + o) * cin2 + c] = static_cast<int16_t>(v);  // |v| <= 9 * 128
        }
      }
    }
  }
}

}  // namespace edge::engine
