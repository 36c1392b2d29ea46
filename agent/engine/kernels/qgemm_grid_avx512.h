// Grid stores for the AVX-512 GEMM kernels (VNNI and AMX): where 16 output columns go when
// QGemmArgs::grid_pitch is set. Include only from files compiled with AVX-512 enabled.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
// Internal linkage on purpose: each including file is compiled with its own target flags, and
// one shared out-of-line copy must not carry another file's instructions.
namespace {

// Where the 16 columns from n go in an output row: runs of lanes, each one masked store at
// `offset` from the row (lane i to offset + i; integer offsets, they may be negative).
struct ColumnRuns {
  int count = 0;
  __mmask16 mask[17];
  int64_t offset[17];
};

inline void GridRuns(const QGemmArgs& a, int64_t n, ColumnRuns& runs) {
  const int64_t lanes = std::min<int64_t>(16, a.n - n);
  runs.count = 0;
  int64_t row = n / a.grid_pitch, col = n - row * a.grid_pitch;
  for (int64_t i = 0; i < lanes; ++row, col = 0) {
    const int64_t run = std::min(lanes - i, a.grid_pitch - col);  // lanes in this grid row
    const int64_t valid = std::max<int64_t>(0, std::min(run, a.grid_width - col));
    if (valid > 0) {
      runs.mask[runs.count] = __mmask16(((1u << valid) - 1u) << i);
      runs.offset[runs.count] = row * a.grid_width + col - i;
      ++runs.count;
    }
    i += run;
  }
}

}  // namespace
}  // namespace edge::engine
