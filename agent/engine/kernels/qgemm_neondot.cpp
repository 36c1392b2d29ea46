// arm64 dot-product tier (ARMv8.2-A + dotprod: Cortex-A76/A78, Raspberry Pi 5, Jetson Orin).
// Compiled with -march=armv8.2-a+dotprod for this file only; reached through QGemmForTier.
//
// SDOT multiplies signed bytes only, so the activations (stored unsigned, u = x + 128) are
// flipped to signed with XOR 0x80 (u - 128, exactly x) and the sums start from
// QGemmArgs::bias_signed = bias + 128 * sum_k w (mod 2^32), which makes every int32 sum equal
// the scalar kernel's sum_k u * w + bias. 4-byte dot products of s8 x s8 fit int32 with room;
// the accumulation wraps like the scalar WrapAdd.
//
// The packed right operand's 16 bytes at column c are 4 columns x 4 k: one SDOT operand as
// loaded. Tile: up to 8 rows x 8 columns, 16 int32x4 accumulators (row r, columns 0-3 / 4-7).
// A left row's 16 bytes hold 4 k-groups; loaded (and flipped when they are activations) once
// per 4 k-groups and used through SDOT's by-element form, lane j = k-group g + j. Per k-group:
// 2 loads of the right operand (+ 2 EOR when it holds the activations) and 16 SDOT.
//
// Inner loop: SDOT by element, 16 MACs per instruction (4 lanes x 4-byte dot products); 64 of
// them per 4 k-groups of an 8 x 8 tile (1024 MACs) against 8 + 8 loads and 8 EOR, i.e. ~12
// MACs per instruction overall. Cortex-A76 issues SDOT on both ASIMD pipes (its optimization
// guide): the target to measure against is ~32 MACs per cycle per core.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_neon_common.h"

namespace edge::engine {
namespace {

__attribute__((always_inline)) inline uint32_t Load4(const uint8_t* p) {
  uint32_t word;
  std::memcpy(&word, p, 4);
  return word;
}

__attribute__((always_inline)) inline int8x16_t Flip(uint8x16_t u) {
  return vreinterpretq_s8_u8(veorq_u8(u, vdupq_n_u8(0x80)));
}

// A row's left bytes as signed (flipped when they are the activations).
template <bool kLeftWeights>
__attribute__((always_inline)) inline int8x16_t LeftSigned(uint8x16_t u) {
  return kLeftWeights ? vreinterpretq_s8_u8(u) : Flip(u);
}

// k-group g + kLane against 8 columns from rg: lane kLane of each row's left vector.
template <bool kLeftWeights, int kRows, int kLane>
__attribute__((always_inline)) inline void Step(int32x4_t (&acc)[kRows][2], const uint8_t* rg,
                                                const int8x16_t (&l)[kRows]) {
  const uint8x16_t u0 = vld1q_u8(rg), u1 = vld1q_u8(rg + 16);  // columns 0-3 and 4-7, 4 k each
  const int8x16_t r0 = kLeftWeights ? Flip(u0) : vreinterpretq_s8_u8(u0);
  const int8x16_t r1 = kLeftWeights ? Flip(u1) : vreinterpretq_s8_u8(u1);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = vdotq_laneq_s32(acc[r][0], r0, l[r], kLane);
    acc[r][1] = vdotq_laneq_s32(acc[r][1], r1, l[r], kLane);
  }
}

// Not inlined into Run's row dispatch: GCC 12 then keeps the accumulators in registers.
template <bool kLeftWeights, int kRows>
__attribute__((noinline)) void Tile(const QGemmArgs& a, const NeonEpilogue& e, const NeonPanel& p, int64_t m0) {
  int32x4_t acc[kRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
  const uint8_t* lrow = a.left + m0 * a.kp;
  const int64_t lstride = a.kp, groups = a.kp >> 2;
  WithRightGroups(a, p.n0, [&](auto right) __attribute__((always_inline)) {
    int8x16_t l[kRows];
    int64_t g = 0;
    for (; g + 4 <= groups; g += 4) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) l[r] = LeftSigned<kLeftWeights>(vld1q_u8(lrow + r * lstride + g * 4));
      Step<kLeftWeights, kRows, 0>(acc, right(g), l);
      Step<kLeftWeights, kRows, 1>(acc, right(g + 1), l);
      Step<kLeftWeights, kRows, 2>(acc, right(g + 2), l);
      Step<kLeftWeights, kRows, 3>(acc, right(g + 3), l);
    }
    const int64_t rest = groups - g;  // 0-3 k-groups: only their bytes of each row are read
    if (rest > 0) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const uint8_t* src = lrow + r * lstride + g * 4;
        uint32x4_t words = vsetq_lane_u32(Load4(src), vdupq_n_u32(0), 0);
        if (rest > 1) words = vsetq_lane_u32(Load4(src + 4), words, 1);
        if (rest > 2) words = vsetq_lane_u32(Load4(src + 8), words, 2);
        l[r] = LeftSigned<kLeftWeights>(vreinterpretq_u8_u32(words));
      }
      Step<kLeftWeights, kRows, 0>(acc, right(g), l);
      if (rest > 1) Step<kLeftWeights, kRows, 1>(acc, right(g + 1), l);
      if (rest > 2) Step<kLeftWeights, kRows, 2>(acc, right(g + 2), l);
    }
  });
  StoreTile<kLeftWeights, kRows>(a, e, p, m0, a.bias_signed, acc);
}

template <bool kLeftWeights>
void Run(const QGemmArgs& a) {
  const NeonEpilogue e = MakeNeonEpilogue(a);
  ForEachTile(a, [&](const NeonPanel& p, int64_t m0, int64_t rows) {
    ForTileRows(rows, [&]<int kRows>() { Tile<kLeftWeights, kRows>(a, e, p, m0); });
  });
}

}  // namespace

void QGemmNeonDot(const QGemmArgs& a) {
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
