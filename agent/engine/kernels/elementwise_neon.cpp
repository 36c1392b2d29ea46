// arm64 Advanced SIMD (ARMv8.0-A) tier of the per-element int8 kernels, shared by every arm64
// tier (none of them needs more than the baseline here). Each kernel gives the scalar kernel's
// bytes (kernels/elementwise_ref.cpp): float multiply and add separate (this file is compiled
// with -ffp-contract=off, and the intrinsics used are plain fmul/fadd), rounding half to even
// by the conversion instruction (fcvtns), the scalar code's clamps in its order, and the
// int32 -> int8 narrowing as a truncation, like the scalar static_cast.
//
// The conversion rounds exactly like RoundHalfEvenSmall only for |x| <= 2^22, and the clamps
// keep x within their bounds: a call whose bounds (from its zero points and qmin/qmax) lie
// outside that range, which no int8 model has, goes to the scalar kernel.
#include <arm_neon.h>

#include <cmath>

#include "agent/engine/kernels/elementwise.h"

namespace edge::engine {
namespace {

// out[i] = table[idx[i]]: the first quarter by tbl (an index past 63 gives 0), then each
// further quarter by tbx on the index less 64, 128, 192 (tbx leaves lanes whose index is past
// 63 unchanged, and the wrapped differences of the other quarters' indexes all are).
inline uint8x16_t Lookup(const uint8x16x4_t t[4], uint8x16_t idx) {
  const uint8x16_t quarter = vdupq_n_u8(64);
  uint8x16_t r = vqtbl4q_u8(t[0], idx);
  idx = vsubq_u8(idx, quarter);
  r = vqtbx4q_u8(r, t[1], idx);
  idx = vsubq_u8(idx, quarter);
  r = vqtbx4q_u8(r, t[2], idx);
  idx = vsubq_u8(idx, quarter);
  return vqtbx4q_u8(r, t[3], idx);
}

// The low byte of each int32 lane of r0..r3, in order (the scalar kernel's int8 cast).
inline int8x16_t NarrowToBytes(int32x4_t r0, int32x4_t r1, int32x4_t r2, int32x4_t r3) {
  const int16x8_t lo = vcombine_s16(vmovn_s32(r0), vmovn_s32(r1));
  const int16x8_t hi = vcombine_s16(vmovn_s32(r2), vmovn_s32(r3));
  return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

}  // namespace

void LutNeon(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  const uint8_t* t8 = reinterpret_cast<const uint8_t*>(table);
  uint8x16x4_t t[4];
  for (int q = 0; q < 4; ++q) {
    for (int j = 0; j < 4; ++j) t[q].val[j] = vld1q_u8(t8 + 64 * q + 16 * j);
  }
  const uint8_t* in = reinterpret_cast<const uint8_t*>(x);
  uint8_t* dst = reinterpret_cast<uint8_t*>(out);
  int64_t i = 0;
  // Four independent lookups per step: each is a chain of four table instructions.
  for (; i + 64 <= n; i += 64) {
    const uint8x16_t r0 = Lookup(t, vld1q_u8(in + i));
    const uint8x16_t r1 = Lookup(t, vld1q_u8(in + i + 16));
    const uint8x16_t r2 = Lookup(t, vld1q_u8(in + i + 32));
    const uint8x16_t r3 = Lookup(t, vld1q_u8(in + i + 48));
    vst1q_u8(dst + i, r0);
    vst1q_u8(dst + i + 16, r1);
    vst1q_u8(dst + i + 32, r2);
    vst1q_u8(dst + i + 48, r3);
  }
  for (; i + 16 <= n; i += 16) vst1q_u8(dst + i, Lookup(t, vld1q_u8(in + i)));
  LutScalar(x + i, n - i, table, out + i);
}

void QAddNeon(const QAddArgs& p) {
  const float lo_s = static_cast<float>(p.qmin - p.zo), hi_s = static_cast<float>(p.qmax - p.zo);
  if (!RoundsExactlyBySimd(lo_s, hi_s)) {
    QAddScalar(p);
    return;
  }
  const float32x4_t ra = vdupq_n_f32(p.ra), rb = vdupq_n_f32(p.rb);
  const float32x4_t lo = vdupq_n_f32(lo_s), hi = vdupq_n_f32(hi_s);
  const int32x4_t za = vdupq_n_s32(p.za), zb = vdupq_n_s32(p.zb), zo = vdupq_n_s32(p.zo);
  // 4 int8 lanes of an int16x8 half -> (lane - z) as float
  auto low4 = [](int16x8_t v, int32x4_t z) { return vcvtq_f32_s32(vsubq_s32(vmovl_s16(vget_low_s16(v)), z)); };
  auto high4 = [](int16x8_t v, int32x4_t z) { return vcvtq_f32_s32(vsubq_s32(vmovl_high_s16(v), z)); };
  // ra * (a - za) + rb * (b - zb), clamped like std::min(std::max(v, lo), hi) (NaN stays NaN and
  // converts to 0, as the scalar conversion does on arm64), rounded half to even, + zo
  auto lanes = [&](float32x4_t fa, float32x4_t fb) {
    float32x4_t v = vaddq_f32(vmulq_f32(ra, fa), vmulq_f32(rb, fb));
    v = vminq_f32(vmaxq_f32(v, lo), hi);
    return vaddq_s32(vcvtnq_s32_f32(v), zo);
  };
  int64_t i = 0;
  for (; i + 16 <= p.n; i += 16) {
    const int8x16_t a = vld1q_s8(p.a + i), b = vld1q_s8(p.b + i);
    const int16x8_t a0 = vmovl_s8(vget_low_s8(a)), a1 = vmovl_high_s8(a);
    const int16x8_t b0 = vmovl_s8(vget_low_s8(b)), b1 = vmovl_high_s8(b);
    const int32x4_t r0 = lanes(low4(a0, za), low4(b0, zb));
    const int32x4_t r1 = lanes(high4(a0, za), high4(b0, zb));
    const int32x4_t r2 = lanes(low4(a1, za), low4(b1, zb));
    const int32x4_t r3 = lanes(high4(a1, za), high4(b1, zb));
    vst1q_s8(p.y + i, NarrowToBytes(r0, r1, r2, r3));
  }
  QAddScalarFrom(p, i);
}

void QuantizeNeon(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y) {
  const float lo_s = static_cast<float>(-128 - zero_point), hi_s = static_cast<float>(127 - zero_point);
  int64_t i = 0;
  if (RoundsExactlyBySimd(lo_s, hi_s)) {
    const float32x4_t s = vdupq_n_f32(scale), lo = vdupq_n_f32(lo_s), hi = vdupq_n_f32(hi_s);
    const int32x4_t zp = vdupq_n_s32(zero_point);
    // x / scale (a true division, as the scalar code), then !(v >= lo) ? lo : min(v, hi):
    // fmaxnm returns lo where v is NaN, so NaN saturates low as in the scalar kernel
    auto lanes = [&](const float* at) {
      float32x4_t v = vdivq_f32(vld1q_f32(at), s);
      v = vminq_f32(vmaxnmq_f32(v, lo), hi);
      return vaddq_s32(vcvtnq_s32_f32(v), zp);
    };
    for (; i + 16 <= n; i += 16) {
      vst1q_s8(y + i, NarrowToBytes(lanes(x + i), lanes(x + i + 4), lanes(x + i + 8), lanes(x + i + 12)));
    }
  }
  QuantizeScalar(x + i, n - i, scale, zero_point, y + i);
}

}  // namespace edge::engine
