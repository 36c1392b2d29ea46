#include "tests/bench/engine/amx_peak.h"

#include <immintrin.h>

#include <chrono>

#include "agent/engine/kernels/amx_tile_config.h"

namespace edge::engine::bench {

// Tiles 0-3 accumulate from sources 4-5 x 6-7, the 2 x 2 blocking of the kernel without its
// loads: each chain waits only on itself.
double MeasureAmxPeakOpsPerSecond(int64_t iterations) {
  _tile_loadconfig(&kAmxFullTiles);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iterations; ++i) {
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  _tile_release();
  return static_cast<double>(iterations) * 4.0 * 16.0 * 16.0 * 64.0 * 2.0 / seconds;
}

}  // namespace edge::engine::bench
