// arm64 Advanced SIMD (ARMv8.0-A) tier of the depthwise kernel, for every arm64 tier: 16
// outputs per step, the AVX2 tier's scheme on 128-bit vectors. Each tap loads its 16 source
// bytes unmasked (they lie inside the source buffer; the rare window that crosses its ends is
// gathered byte by byte) and selects zx where the plan's mask drops a lane. Two taps are
// interleaved per output and multiplied as signed bytes by the pair of weights (smull: int16
// products, which cannot overflow), and sadalp adds each output's pair of products into its
// int32 accumulator; the +128 shift is added to the bias instead (128 * sum_t w, the same
// integer mod 2^32). Requantization as the scalar Requantize: a separate multiply (this file is
// compiled with -ffp-contract=off), min/max clamps, rounding half to even by fcvtns, and the
// int8 result as the low byte of the int32, like the scalar cast.
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
namespace {

constexpr int64_t kStep = 16;  // outputs per step, a quarter of a mask word

// 0xFF in byte i where bit i of `bits` (16 bits) is set.
inline uint8x16_t ExpandBits(uint32_t bits) {
  static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bytes =
      vcombine_u8(vdup_n_u8(static_cast<uint8_t>(bits)), vdup_n_u8(static_cast<uint8_t>(bits >> 8)));
  return vtstq_u8(bytes, vld1q_u8(kBit));
}

struct Source {
  uintptr_t begin, end;  // the whole source buffer
  int8x16_t fill;        // zx in every byte
  int8_t zx;
};

// The 16 bytes at `at` for one tap (source bytes where `bits` has a 1, zx elsewhere). Integer
// addresses: the window may start outside the buffer, and then is never dereferenced there.
inline int8x16_t LoadTap(const Source& s, uintptr_t at, uint32_t bits) {
  if (bits == 0) return s.fill;
  if (at < s.begin || at + kStep > s.end) {
    int8_t bytes[kStep];
    for (int i = 0; i < kStep; ++i) {
      bytes[i] = ((bits >> i) & 1) != 0 ? *reinterpret_cast<const int8_t*>(at + static_cast<uintptr_t>(i)) : s.zx;
    }
    return vld1q_s8(bytes);
  }
  const int8x16_t v = vld1q_s8(reinterpret_cast<const int8_t*>(at));
  return bits == 0xFFFFu ? v : vbslq_s8(ExpandBits(bits), v, s.fill);
}

inline int32x4_t Requantize4(int32x4_t acc, float32x4_t mult, float32x4_t lo, float32x4_t hi, int32x4_t zp) {
  float32x4_t x = vmulq_f32(vcvtq_f32_s32(acc), mult);
  x = vminq_f32(vmaxq_f32(x, lo), hi);  // NaN stays NaN and converts to 0, as in the scalar code on arm64
  return vaddq_s32(vcvtnq_s32_f32(x), zp);
}

}  // namespace

void DepthwiseNeon(const DepthwiseArgs& a) {
  const DepthwisePlan& p = *a.plan;
  const float lo_s = static_cast<float>(a.qmin - a.zero_point), hi_s = static_cast<float>(a.qmax - a.zero_point);
  // fcvtns rounds like RoundHalfEvenSmall only within 2^22 (bounds no int8 model has)
  if (!(std::fabs(lo_s) <= 4194304.0f && std::fabs(hi_s) <= 4194304.0f)) {
    DepthwiseScalar(a);
    return;
  }
  const int64_t* offsets = p.offsets.data();
  const uintptr_t src0 = reinterpret_cast<uintptr_t>(a.src);
  const Source source{src0, src0 + static_cast<uintptr_t>(a.channels * a.src_stride), vdupq_n_s8(a.zx), a.zx};
  const float32x4_t lo = vdupq_n_f32(lo_s), hi = vdupq_n_f32(hi_s);
  const int32x4_t zp = vdupq_n_s32(a.zero_point);
  for (int64_t c = 0; c < a.channels; ++c) {
    const int8_t* w = a.weights + c * p.taps;
    int8_t* out = a.out + c * a.out_stride;
    int32_t weight_sum = 0;
    for (int t = 0; t < p.real_taps; ++t) weight_sum += w[t];
    const int32x4_t bias = vdupq_n_s32(WrapAdd(a.bias[c], 128 * weight_sum));
    const float32x4_t mult = vdupq_n_f32(a.mult[c]);
    const uintptr_t channel = src0 + static_cast<uintptr_t>(c * a.src_stride);
    for (int64_t q = 0; q < p.grid; q += kStep) {
      const uint64_t* masks = p.masks.data() + (q / kDepthwiseBlock) * p.taps;
      const int shift = static_cast<int>(q % kDepthwiseBlock);
      const uintptr_t at = channel + static_cast<uintptr_t>(q);
      // acc[j] holds outputs 4j..4j+3 in order
      int32x4_t acc0 = bias, acc1 = bias, acc2 = bias, acc3 = bias;
      for (int t = 0; t < p.real_taps; t += 2) {
        const bool pair = t + 1 < p.real_taps;  // else the second tap is none: weight 0, zx
        const int8x16_t v0 = LoadTap(source, at + static_cast<uintptr_t>(offsets[t]),
                                     static_cast<uint32_t>(masks[t] >> shift) & 0xFFFFu);
        const int8x16_t v1 = pair ? LoadTap(source, at + static_cast<uintptr_t>(offsets[t + 1]),
                                            static_cast<uint32_t>(masks[t + 1] >> shift) & 0xFFFFu)
                                  : source.fill;
        const uint16_t w01 = static_cast<uint16_t>(static_cast<uint8_t>(w[t]) |
                                                   (pair ? static_cast<uint8_t>(w[t + 1]) << 8 : 0));
        const int8x16_t wv = vreinterpretq_s8_u16(vdupq_n_u16(w01));  // w0 w1 w0 w1 ...
        // (v0, v1) byte pairs: outputs 0-7 in `lo_pairs`, 8-15 in `hi_pairs`
        const int8x16_t lo_pairs = vzip1q_s8(v0, v1), hi_pairs = vzip2q_s8(v0, v1);
        acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(lo_pairs), vget_low_s8(wv)));
        acc1 = vpadalq_s16(acc1, vmull_high_s8(lo_pairs, wv));
        acc2 = vpadalq_s16(acc2, vmull_s8(vget_low_s8(hi_pairs), vget_low_s8(wv)));
        acc3 = vpadalq_s16(acc3, vmull_high_s8(hi_pairs, wv));
      }
      const int32x4_t r0 = Requantize4(acc0, mult, lo, hi, zp), r1 = Requantize4(acc1, mult, lo, hi, zp);
      const int32x4_t r2 = Requantize4(acc2, mult, lo, hi, zp), r3 = Requantize4(acc3, mult, lo, hi, zp);
      const int16x8_t h0 = vcombine_s16(vmovn_s32(r0), vmovn_s32(r1));
      const int16x8_t h1 = vcombine_s16(vmovn_s32(r2), vmovn_s32(r3));
      const int8x16_t bytes = vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
      if (q + kStep <= p.grid) {
        vst1q_s8(out + q, bytes);
      } else {
        int8_t tail[kStep];
        vst1q_s8(tail, bytes);
        std::memcpy(out + q, tail, static_cast<size_t>(p.grid - q));
      }
    }
  }
}

}  // namespace edge::engine
