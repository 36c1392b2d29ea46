// arm64 Advanced SIMD tier (ARMv8.0-A, no dot product: Cortex-A72 / Raspberry Pi 4).
//
// Bytes are widened to int16 (u8 activations zero-extended, s8 weights sign-extended, so the
// unsigned activations need no correction and `bias` is used as is), then multiplied with
// SMLAL/SMLAL2 by element, 16 x 16 -> 32 bit: exact, no saturating instruction anywhere.
//
// Tile: up to 8 rows x 8 columns, 16 int32x4 accumulators (row r, columns 0-3 / 4-7). Per
// k-group (4 k) the right operand's 8 columns (32 bytes, column-major [c][4 k]) are loaded
// once, transposed to k-major with four UZP (k0 k1 | k2 k3, 8 columns each) and widened
// (4 xTL); each left row's 8 bytes (two k-groups) are loaded and widened once per two
// k-groups. The inner loop is then, per row and k, one SMLAL (columns 0-3) and one SMLAL2
// (columns 4-7) with the row's k-th int16 as the scalar element.
//
// Inner loop: SMLAL by element, 4 MACs per instruction (16-bit lanes into 32-bit, 4 lanes);
// 128 of them per two k-groups of an 8 x 8 tile (512 MACs) against 4 loads + 8 UZP + 8 widens
// of the right operand and 8 loads + 8 widens of the left, i.e. ~3.1 MACs per instruction
// overall. On Cortex-A72 SMLAL issues on F0 only, one per cycle (its optimization guide),
// while the loads, UZP and widens can use F1 and the load pipe: the target to measure against
// is ~4 MACs per cycle per core.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_neon_common.h"

namespace edge::engine {
namespace {

// Right operand bytes widened: activations (weights on the left) are unsigned.
template <bool kLeftWeights>
__attribute__((always_inline)) inline int16x8_t WidenRightLow(uint8x16_t v) {
  return kLeftWeights ? vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v))) : vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(v)));
}
template <bool kLeftWeights>
__attribute__((always_inline)) inline int16x8_t WidenRightHigh(uint8x16_t v) {
  return kLeftWeights ? vreinterpretq_s16_u16(vmovl_high_u8(v)) : vmovl_high_s8(vreinterpretq_s8_u8(v));
}
// Left operand bytes widened: weights (on the left) are signed.
template <bool kLeftWeights>
__attribute__((always_inline)) inline int16x8_t WidenLeft(uint8x8_t v) {
  return kLeftWeights ? vmovl_s8(vreinterpret_s8_u8(v)) : vreinterpretq_s16_u16(vmovl_u8(v));
}

// One k-group against 8 columns: lanes kLane0 .. kLane0 + 3 of each row's left vector are its
// 4 k values of this group.
template <bool kLeftWeights, int kRows, int kLane0>
__attribute__((always_inline)) inline void Step(int32x4_t (&acc)[kRows][2], const uint8_t* rg,
                                                const int16x8_t (&l)[kRows]) {
  const uint8x16_t q0 = vld1q_u8(rg), q1 = vld1q_u8(rg + 16);  // columns 0-3 and 4-7, 4 k each
  // To k-major in two unzips: even bytes (k0 k2 of each column), odd bytes (k1 k3), then
  // t01 = k0 of columns 0-7 | k1 of columns 0-7, t23 = k2 | k3.
  const uint8x16_t even = vuzp1q_u8(q0, q1), odd = vuzp2q_u8(q0, q1);
  const uint8x16_t t01 = vuzp1q_u8(even, odd), t23 = vuzp2q_u8(even, odd);
  const int16x8_t k0 = WidenRightLow<kLeftWeights>(t01), k1 = WidenRightHigh<kLeftWeights>(t01);
  const int16x8_t k2 = WidenRightLow<kLeftWeights>(t23), k3 = WidenRightHigh<kLeftWeights>(t23);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = vmlal_laneq_s16(acc[r][0], vget_low_s16(k0), l[r], kLane0 + 0);
    acc[r][1] = vmlal_high_laneq_s16(acc[r][1], k0, l[r], kLane0 + 0);
    acc[r][0] = vmlal_laneq_s16(acc[r][0], vget_low_s16(k1), l[r], kLane0 + 1);
    acc[r][1] = vmlal_high_laneq_s16(acc[r][1], k1, l[r], kLane0 + 1);
    acc[r][0] = vmlal_laneq_s16(acc[r][0], vget_low_s16(k2), l[r], kLane0 + 2);
    acc[r][1] = vmlal_high_laneq_s16(acc[r][1], k2, l[r], kLane0 + 2);
    acc[r][0] = vmlal_laneq_s16(acc[r][0], vget_low_s16(k3), l[r], kLane0 + 3);
    acc[r][1] = vmlal_high_laneq_s16(acc[r][1], k3, l[r], kLane0 + 3);
  }
}

// Not inlined: inlined into Run's row dispatch, GCC 12 kept the accumulators of all the row
// counts' copies on the stack (measured in the generated code).
template <bool kLeftWeights, int kRows>
__attribute__((noinline)) void Tile(const QGemmArgs& a, const NeonEpilogue& e, const NeonPanel& p, int64_t m0) {
  int32x4_t acc[kRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
  const uint8_t* lrow = a.left + m0 * a.kp;
  const int64_t lstride = a.kp, groups = a.kp >> 2;
  WithRightGroups(a, p.n0, [&](auto right) __attribute__((always_inline)) {
    int16x8_t l[kRows];
    int64_t g = 0;
    for (; g + 2 <= groups; g += 2) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) l[r] = WidenLeft<kLeftWeights>(vld1_u8(lrow + r * lstride + g * 4));
      Step<kLeftWeights, kRows, 0>(acc, right(g), l);
      Step<kLeftWeights, kRows, 4>(acc, right(g + 1), l);
    }
    if (g < groups) {  // an odd last k-group: only its 4 bytes of each row are read
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        uint32_t word;
        std::memcpy(&word, lrow + r * lstride + g * 4, 4);
        l[r] = WidenLeft<kLeftWeights>(vcreate_u8(word));
      }
      Step<kLeftWeights, kRows, 0>(acc, right(g), l);
    }
  });
  StoreTile<kLeftWeights, kRows>(a, e, p, m0, a.bias, acc);
}

template <bool kLeftWeights>
void Run(const QGemmArgs& a) {
  const NeonEpilogue e = MakeNeonEpilogue(a);
  ForEachTile(a, [&](const NeonPanel& p, int64_t m0, int64_t rows) {
    ForTileRows(rows, [&]<int kRows>() { Tile<kLeftWeights, kRows>(a, e, p, m0); });
  });
}

}  // namespace

void QGemmNeon(const QGemmArgs& a) {
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
