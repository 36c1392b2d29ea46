// The 64-byte operand of ldtilecfg (palette 1), shared by the AMX kernel and its benchmark.
#pragma once

#include <cstdint>

namespace edge::engine {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile
  uint8_t rows[16] = {};
};
static_assert(sizeof(AmxTileConfig) == 64);

// Tiles 0-7 all 16 rows x 64 bytes: int32 accumulators of 16 x 16, byte sources of 16 x 64
// (A) and 16 k-groups x 16 columns x 4 (B). Evaluated at compile time, so no out-of-line
// copy is emitted from an ISA file.
inline constexpr AmxTileConfig kAmxFullTiles = [] {
  AmxTileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = 16;
  }
  return c;
}();

}  // namespace edge::engine
