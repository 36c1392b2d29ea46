// Grid stores for the AVX-512 GEMM kernels (VNNI and AMX): where a vector of output columns
// goes when QGemmArgs::grid_pitch is set. Include only from files compiled with AVX-512 enabled.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
// Internal linkage on purpose: each including file is compiled with its own target flags, and
// one shared out-of-line copy must not carry another file's instructions.
namespace {

// Where up to kLanes consecutive columns go in an output row: runs of lanes, each one masked
// store at `offset` from the row (lane i to offset + i; integer offsets, they may be negative).
template <typename Mask, int kLanes>
struct LaneRuns {
  int count = 0;
  Mask mask[kLanes + 1];
  int64_t offset[kLanes + 1];
};
using ColumnRuns = LaneRuns<__mmask16, 16>;  // 16 int32 lanes (AMX epilogue)
using PanelRuns = LaneRuns<__mmask64, 64>;   // 64 byte lanes (VNNI epilogue, packed rows)

// The runs of the columns [n, n + min(width, a.n - n)); width <= kLanes.
template <typename Mask, int kLanes>
inline void GridRuns(const QGemmArgs& a, int64_t n, LaneRuns<Mask, kLanes>& runs, int64_t width = kLanes) {
  const int64_t lanes = std::min<int64_t>(width, a.n - n);
  runs.count = 0;
  int64_t row = n / a.grid_pitch, col = n - row * a.grid_pitch;
  for (int64_t i = 0; i < lanes; ++row, col = 0) {
    const int64_t run = std::min(lanes - i, a.grid_pitch - col);  // lanes in this grid row
    const int64_t valid = std::max<int64_t>(0, std::min(run, a.grid_width - col));
    if (valid > 0) {
      const uint64_t bits = valid >= 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1u;
      runs.mask[runs.count] = static_cast<Mask>(bits << i);
      runs.offset[runs.count] = row * a.grid_width + col - i;
      ++runs.count;
    }
    i += run;
  }
}

}  // namespace
}  // namespace edge::engine
