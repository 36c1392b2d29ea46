// arm64 int8 matrix-multiply tier (ARMv8.2-A + dotprod + i8mm: Neoverse V1/N2, Graviton 3,
// Cortex-A710 and later). Compiled with -march=armv8.2-a+dotprod+i8mm for this file only;
// reached through QGemmForTier.
//
// USMMLA (u8 x s8), not SMMLA: the activations are stored unsigned and the weights signed,
// which is exactly USMMLA's operand pair, so no byte is flipped and `bias` is used as is (no
// bias_signed, no EOR per loaded vector). USMMLA takes the unsigned operand first; the
// instruction computes the 2x2 block A (2 rows x 8 k, unsigned) times B^T (2 columns x 8 k,
// signed) into int32 lanes [a0b0, a0b1, a1b0, a1b1], products accumulated without saturation.
//   weights right (Gemm): A = 2 left rows (activations), B = 2 right columns (weights);
//                         an accumulator is (row pair, column pair) in row-major lanes.
//   weights left (Conv):  A = 2 right columns (activations), B = 2 left rows (weights);
//                         the same accumulator index holds the transposed block, which the
//                         epilogue undoes with one UZP1/UZP2 per pair of accumulators.
//
// Operands per two k-groups (8 k): a left row pair is two 8-byte loads; the packed right
// operand groups 4 k per column ([kp/4][np][4]), so the 16 bytes of group g (4 columns x 4 k)
// and of group g + 1 are zipped as 32-bit elements: ZIP1 gives columns 0-1 x 8 k, ZIP2
// columns 2-3. An odd last k-group is zipped with zeros (and its left bytes padded with
// zeros): its second 4 k contribute nothing.
//
// Tile: up to 8 rows (4 row pairs; an odd row count repeats its last row, whose duplicate is
// not stored) x 8 columns (4 column pairs): 16 accumulators. Per 8 k: 4 right loads + 4 ZIP,
// 8 left loads, 16 USMMLA.
//
// Inner loop: USMMLA, 32 MACs per instruction (2 x 2 x 8); 16 per 8 k of an 8 x 8 tile (512
// MACs) against 12 loads and 4 ZIP, i.e. ~16 MACs per instruction overall (twice the SDOT
// tile's MACs per vector instruction). A single output row (m = 1, weights right) would waste
// half of every USMMLA on the repeated row: it goes to the dot-product kernel (the i8mm tier
// implies dotprod), which then uses bias_signed.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_neon_common.h"

namespace edge::engine {
namespace {

__attribute__((always_inline)) inline uint64_t Load4(const uint8_t* p) {
  uint32_t word;
  std::memcpy(&word, p, 4);
  return word;
}

// One 8-k step: left row pairs a[p] (2 rows x 8 k) against right column pairs b[c].
template <bool kLeftWeights, int kPairs>
__attribute__((always_inline)) inline void Mmla(int32x4_t (&acc)[kPairs][4], const uint8x16_t (&a)[kPairs],
                                                const uint8x16_t (&b)[4]) {
#pragma GCC unroll 4
  for (int p = 0; p < kPairs; ++p) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      acc[p][c] = kLeftWeights ? vusmmlaq_s32(acc[p][c], b[c], vreinterpretq_s8_u8(a[p]))
                               : vusmmlaq_s32(acc[p][c], a[p], vreinterpretq_s8_u8(b[c]));
    }
  }
}

// Right column pairs of k-groups g (at r0) and g + 1 (at r1; zeros when absent).
__attribute__((always_inline)) inline void ZipColumns(uint8x16_t (&b)[4], const uint8_t* r0, uint8x16_t g1a,
                                                      uint8x16_t g1b) {
  const uint32x4_t g0a = vreinterpretq_u32_u8(vld1q_u8(r0)), g0b = vreinterpretq_u32_u8(vld1q_u8(r0 + 16));
  b[0] = vreinterpretq_u8_u32(vzip1q_u32(g0a, vreinterpretq_u32_u8(g1a)));  // columns 0-1
  b[1] = vreinterpretq_u8_u32(vzip2q_u32(g0a, vreinterpretq_u32_u8(g1a)));  // columns 2-3
  b[2] = vreinterpretq_u8_u32(vzip1q_u32(g0b, vreinterpretq_u32_u8(g1b)));  // columns 4-5
  b[3] = vreinterpretq_u8_u32(vzip2q_u32(g0b, vreinterpretq_u32_u8(g1b)));  // columns 6-7
}

// Not inlined into Run's row dispatch: GCC 12 then keeps the accumulators in registers.
template <bool kLeftWeights, int kRows>
__attribute__((noinline)) void Tile(const QGemmArgs& a, const NeonEpilogue& e, const NeonPanel& p, int64_t m0) {
  constexpr int kPairs = (kRows + 1) / 2;
  int32x4_t acc[kPairs][4];
#pragma GCC unroll 4
  for (int i = 0; i < kPairs; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = vdupq_n_s32(0);
  // Row 2i and 2i + 1 of pair i; past the tile's rows the last row again (never stored).
  const uint8_t* rows[2 * kPairs];
#pragma GCC unroll 8
  for (int r = 0; r < 2 * kPairs; ++r) rows[r] = a.left + (m0 + std::min(r, kRows - 1)) * a.kp;
  const int64_t groups = a.kp >> 2;
  WithRightGroups(a, p.n0, [&](auto right) __attribute__((always_inline)) {
    uint8x16_t l[kPairs], b[4];
    int64_t g = 0;
    for (; g + 2 <= groups; g += 2) {
#pragma GCC unroll 4
      for (int i = 0; i < kPairs; ++i) l[i] = vcombine_u8(vld1_u8(rows[2 * i] + g * 4), vld1_u8(rows[2 * i + 1] + g * 4));
      const uint8_t* r1 = right(g + 1);
      ZipColumns(b, right(g), vld1q_u8(r1), vld1q_u8(r1 + 16));
      Mmla<kLeftWeights, kPairs>(acc, l, b);
    }
    if (g < groups) {  // an odd last k-group: its 4 bytes of each row, zeros after them
#pragma GCC unroll 4
      for (int i = 0; i < kPairs; ++i) {
        l[i] = vcombine_u8(vcreate_u8(Load4(rows[2 * i] + g * 4)), vcreate_u8(Load4(rows[2 * i + 1] + g * 4)));
      }
      ZipColumns(b, right(g), vdupq_n_u8(0), vdupq_n_u8(0));
      Mmla<kLeftWeights, kPairs>(acc, l, b);
    }
  });
  // To row-major rows of 8 columns. Weights right: lanes [r0c0 r0c1 r1c0 r1c1] per column
  // pair, so 64-bit zips join two column pairs; weights left: lanes [c0r0 c0r1 c1r0 c1r1],
  // so 32-bit unzips do.
  int32x4_t out[2 * kPairs][2];
#pragma GCC unroll 4
  for (int i = 0; i < kPairs; ++i) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const int32x4_t x = acc[i][2 * h], y = acc[i][2 * h + 1];
      if constexpr (kLeftWeights) {
        out[2 * i][h] = vuzp1q_s32(x, y);
        out[2 * i + 1][h] = vuzp2q_s32(x, y);
      } else {
        const int64x2_t x64 = vreinterpretq_s64_s32(x), y64 = vreinterpretq_s64_s32(y);
        out[2 * i][h] = vreinterpretq_s32_s64(vzip1q_s64(x64, y64));
        out[2 * i + 1][h] = vreinterpretq_s32_s64(vzip2q_s64(x64, y64));
      }
    }
  }
  StoreTile<kLeftWeights, kRows>(a, e, p, m0, a.bias, out);  // rows past kRows are not stored
}

template <bool kLeftWeights>
void Run(const QGemmArgs& a) {
  const NeonEpilogue e = MakeNeonEpilogue(a);
  ForEachTile(a, [&](const NeonPanel& p, int64_t m0, int64_t rows) {
    ForTileRows(rows, [&]<int kRows>() { Tile<kLeftWeights, kRows>(a, e, p, m0); });
  });
}

}  // namespace

void QGemmI8mm(const QGemmArgs& a) {
  if (a.m == 1 && a.weights == QGemmWeights::kRight) {
    QGemmNeonDot(a);
    return;
  }
  if (!NeonEpilogueFits(a)) {
    QGemmScalar(a);
    return;
  }
  if (a.weights == QGemmWeights::kLeft) {
    Run<true>(a);
  } else {
    Run<false>(a);
  }
}

}  // namespace edge::engine
