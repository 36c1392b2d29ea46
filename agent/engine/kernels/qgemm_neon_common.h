// The parts the arm64 GEMM kernels (qgemm_neon.cpp, qgemm_neondot.cpp, qgemm_i8mm.cpp) share:
// the requantization of a row of 8 accumulators, where a panel of 8 output columns is stored
// (plain or grid, QGemmArgs::grid_pitch), and the dispatch of a tile's row count to a template.
// Include only from those files: each is compiled with its own -march, and everything here has
// internal linkage so that no out-of-line copy carries another file's instructions.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstdint>

#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
namespace {

constexpr int kNeonTileRows = 8;  // every arm64 tile is up to 8 rows x 8 columns
constexpr int kNeonTileCols = 8;

// Requantization constants of one call. Per lane, exactly Requantize():
//   x = (float)acc * mult   (FCVT + FMUL, no fused add)
//   x = min(max(x, qmin - zp), qmax - zp)
//   y = fcvtns(x) + zp      (round half to even; equal to RoundHalfEvenSmall for |x| <= 2^22)
//   byte = (int8_t)y        (two XTN: truncation, as the scalar static_cast)
// FMAX/FMIN equal the scalar compare-and-select for every non-NaN x when lo <= hi, and x is
// never NaN (finite multipliers: lowering rejects any other).
struct NeonEpilogue {
  float32x4_t lo, hi;
  int32x4_t zp;
};

// The sequence above is exact where the clamp bounds are integers of at most 2^22 in magnitude
// and ordered; any other call goes to the scalar kernel (no real model has such bounds).
inline bool NeonEpilogueFits(const QGemmArgs& a) {
  const int64_t lo = int64_t{a.qmin} - a.zero_point, hi = int64_t{a.qmax} - a.zero_point;
  return a.qmin <= a.qmax && lo >= -(int64_t{1} << 22) && hi <= (int64_t{1} << 22);
}

inline NeonEpilogue MakeNeonEpilogue(const QGemmArgs& a) {
  NeonEpilogue e;
  e.lo = vdupq_n_f32(static_cast<float>(a.qmin - a.zero_point));
  e.hi = vdupq_n_f32(static_cast<float>(a.qmax - a.zero_point));
  e.zp = vdupq_n_s32(a.zero_point);
  return e;
}

__attribute__((always_inline)) inline int32x4_t RequantizeLanes(int32x4_t acc, int32x4_t bias, float32x4_t mult,
                                                                const NeonEpilogue& e) {
  const float32x4_t x = vmulq_f32(vcvtq_f32_s32(vaddq_s32(acc, bias)), mult);
  return vaddq_s32(vcvtnq_s32_f32(vminq_f32(vmaxq_f32(x, e.lo), e.hi)), e.zp);
}

// A panel of up to 8 consecutive output columns from n0: how many are real, and where they go.
struct NeonPanel {
  int64_t n0 = 0;
  int cols = 0;         // columns < n in the panel
  int64_t whole = -1;   // offset in an output row of 8 contiguous stored columns, or -1
  int64_t row0 = 0;     // grid row and column of n0 (grid_pitch > 0)
  int64_t col0 = 0;
};

inline NeonPanel MakeNeonPanel(const QGemmArgs& a, int64_t n0) {
  NeonPanel p;
  p.n0 = n0;
  p.cols = static_cast<int>(std::min<int64_t>(kNeonTileCols, a.n - n0));
  if (a.grid_pitch == 0) {
    p.col0 = n0;
    if (p.cols == kNeonTileCols) p.whole = n0;
  } else {
    p.row0 = n0 / a.grid_pitch;
    p.col0 = n0 - p.row0 * a.grid_pitch;
    if (p.cols == kNeonTileCols && p.col0 + kNeonTileCols <= a.grid_width) p.whole = p.row0 * a.grid_width + p.col0;
  }
  return p;
}

// Stores one row of a panel (8 bytes, lanes >= p.cols are not columns) at `row_out`.
__attribute__((always_inline)) inline void StorePanelRow(const QGemmArgs& a, const NeonPanel& p, int8_t* row_out,
                                                         int8x8_t bytes) {
  if (p.whole >= 0) {
    vst1_s8(row_out + p.whole, bytes);
    return;
  }
  int8_t tmp[kNeonTileCols];
  vst1_s8(tmp, bytes);
  if (a.grid_pitch == 0) {
    for (int c = 0; c < p.cols; ++c) row_out[p.n0 + c] = tmp[c];
    return;
  }
  // grid row and column of n0 + c, advanced without a division per column
  const int64_t pitch = a.grid_pitch, width = a.grid_width;
  int64_t row = p.row0, col = p.col0;
  for (int c = 0; c < p.cols; ++c) {
    if (col < width) row_out[row * width + col] = tmp[c];
    if (++col == pitch) {
      col = 0;
      ++row;
    }
  }
}

// Requantizes and stores a tile of kRows rows x 8 columns given row-major accumulators
// (acc[r][0]: columns 0-3, acc[r][1]: columns 4-7; rows from kRows on are not read). `bias` is a.bias or a.bias_signed,
// whichever the kernel's sums need.
template <bool kLeftWeights, int kRows>
__attribute__((always_inline)) inline void StoreTile(const QGemmArgs& a, const NeonEpilogue& e, const NeonPanel& p,
                                                     int64_t m0, const int32_t* bias, const int32x4_t (*acc)[2]) {
  const float* mult = a.mult;
  int8_t* out = a.out + m0 * a.ldo;
  const int64_t ldo = a.ldo;
  int32x4_t b0 = vdupq_n_s32(0), b1 = b0;
  float32x4_t f0 = vdupq_n_f32(0.0f), f1 = f0;
  if constexpr (!kLeftWeights) {  // per column (bias and mult are readable up to np)
    b0 = vld1q_s32(bias + p.n0);
    b1 = vld1q_s32(bias + p.n0 + 4);
    f0 = vld1q_f32(mult + p.n0);
    f1 = vld1q_f32(mult + p.n0 + 4);
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    if constexpr (kLeftWeights) {  // per row
      b0 = b1 = vdupq_n_s32(bias[m0 + r]);
      f0 = f1 = vdupq_n_f32(mult[m0 + r]);
    }
    const int32x4_t y0 = RequantizeLanes(acc[r][0], b0, f0, e);
    const int32x4_t y1 = RequantizeLanes(acc[r][1], b1, f1, e);
    const int8x8_t bytes = vmovn_s16(vcombine_s16(vmovn_s32(y0), vmovn_s32(y1)));
    StorePanelRow(a, p, out + r * ldo, bytes);
  }
}

// The order of a call's tiles, tile(panel, m0, rows) with rows <= kNeonTileRows: blocks of up
// to kNeonBlockBytes of left rows outside, column panels inside them, row tiles innermost. A
// panel of the right operand (32 bytes per k-group, 32 KB at K = 4096) is reused from L1 by
// every row tile of a block, and a block's left rows stay in L2 while every panel passes over
// them, so each operand streams from memory about once (without blocks the left operand
// would be read once per 8-column panel). Not yet measured on hardware: the block size is
// a guess from the L2 sizes (Cortex-A72 1 MB shared by 4 cores, A76 256-512 KB per core).
constexpr int64_t kNeonBlockBytes = 128 * 1024;

template <typename F>
__attribute__((always_inline)) inline void ForEachTile(const QGemmArgs& a, F&& tile) {
  const int64_t block_rows =
      std::max<int64_t>(1, kNeonBlockBytes / std::max<int64_t>(a.kp, 1) / kNeonTileRows) * kNeonTileRows;
  for (int64_t mb = 0; mb < a.m; mb += block_rows) {
    const int64_t mend = std::min(a.m, mb + block_rows);
    for (int64_t n0 = 0; n0 < a.n; n0 += kNeonTileCols) {
      const NeonPanel p = MakeNeonPanel(a, n0);
      for (int64_t m0 = mb; m0 < mend; m0 += kNeonTileRows) tile(p, m0, std::min<int64_t>(kNeonTileRows, mend - m0));
    }
  }
}

// Calls f.template operator()<R>() with R = rows, 1 <= rows <= kNeonTileRows.
template <typename F>
__attribute__((always_inline)) inline void ForTileRows(int64_t rows, F&& f) {
  switch (rows) {
    case 1: f.template operator()<1>(); break;
    case 2: f.template operator()<2>(); break;
    case 3: f.template operator()<3>(); break;
    case 4: f.template operator()<4>(); break;
    case 5: f.template operator()<5>(); break;
    case 6: f.template operator()<6>(); break;
    case 7: f.template operator()<7>(); break;
    default: f.template operator()<8>(); break;
  }
}

// Calls body(right) with right(g) = where k-group g of the right operand starts, at column
// n0: through QGemmArgs::right_groups, or at a constant stride (no table load and no branch
// per k-group; body is instantiated for both).
template <typename F>
__attribute__((always_inline)) inline void WithRightGroups(const QGemmArgs& a, int64_t n0, F&& body) {
  if (a.right_groups != nullptr) {
    const uint8_t* const* table = a.right_groups;
    const int64_t offset = n0 * 4;
    body([table, offset](int64_t g) __attribute__((always_inline)) { return table[g] + offset; });
  } else {
    const uint8_t* base = a.right + n0 * 4;
    const int64_t stride = a.np * 4;
    body([base, stride](int64_t g) __attribute__((always_inline)) { return base + g * stride; });
  }
}

}  // namespace
}  // namespace edge::engine
