// The int8 output step shared by the AVX-512 kernel files (elementwise_avx512.cpp, and the VNNI
// GEMM's folded bias Add in qgemm_avx512vnni.cpp, which must give the one-pass Add's bytes). In
// an anonymous namespace, as avx2_common.h: each file is compiled with its own target flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace edge::engine {
namespace {

// SaturateToInt8 on 16 lanes (see QAddAvx512 / elementwise_avx2.cpp): maxps returns its second
// operand for NaN, so NaN saturates low like the scalar code; then cvtps2dq's rounding half to
// even, the zero point, and the (exact, in-range) narrowing.
inline __m128i SaturateLanes16(__m512 v, __m512 lo, __m512 hi, __m512i zo) {
  return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi)), zo));
}

// The output's clamp bounds and zero point, for SaturateLanes16.
struct OutputRange16 {
  __m512 lo, hi;
  __m512i zo;
  OutputRange16(int32_t qmin, int32_t qmax, int32_t zero_point)
      : lo(_mm512_set1_ps(static_cast<float>(qmin - zero_point))),
        hi(_mm512_set1_ps(static_cast<float>(qmax - zero_point))),
        zo(_mm512_set1_epi32(zero_point)) {}
  __m128i operator()(__m512 v) const { return SaturateLanes16(v, lo, hi, zo); }
};

// Four vectors of int32 lanes (outputs 0-15, 16-31, 32-47, 48-63), each at most qmax - zp, to
// 64 bytes in order: the saturating packs, the zero point added to the int16s with saturation,
// the packs' 128-bit-lane interleave undone by one dword permute (`order`), and the lower
// bound as a byte max. Every step is monotone and exact on [qmin - zp, qmax - zp], so a lane
// below it (even INT_MIN) ends at qmin, as the reference's clamp before rounding does; the
// VNNI GEMM's epilogue (qgemm_avx512vnni.cpp) and Narrow64.
struct PackBytes64 {
  __m512i zp16, qmin8, order;
  PackBytes64(int32_t qmin, int32_t zero_point)
      : zp16(_mm512_set1_epi16(static_cast<int16_t>(zero_point))),
        qmin8(_mm512_set1_epi8(static_cast<char>(qmin))),
        // after packs_epi32 + packs_epi16, dword 4i + v holds lanes 4i..4i+3 of vector v
        order(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)) {}
  __m512i operator()(__m512i y0, __m512i y1, __m512i y2, __m512i y3) const {
    const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(y0, y1), zp16);
    const __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(y2, y3), zp16);
    return _mm512_max_epi8(_mm512_permutexvar_epi32(order, _mm512_packs_epi16(w01, w23)), qmin8);
  }
};

// SaturateToInt8 on 64 lanes for streaming kernels, ~2 vector operations fewer per 16 than
// OutputRange16 (whose float max and min, int32 zero-point add and vpmovsdb are ~5 of a
// streaming Add's ~14 per 16 lanes, all its issue width bounds): y = cvtps2dq(min(hi, v)),
// then PackBytes64. The float min keeps cvtps2dq from turning a value past qmax - zp into
// INT_MIN; NaN, which minps passes on as its second operand, and anything below int32 become
// INT_MIN and end at qmin, the reference's bytes for every float. Where qmax is 127 and the
// call bounds every |v| below 2^29 (`reach`, from its ratios and operands; NaN fails), the min
// is left out: cvtps2dq is exact there and the packs saturate high values to 127. Needs
// |zp| <= 2^14 and int8 bounds (Fits).
struct Narrow64 {
  PackBytes64 pack;
  __m512 hi;
  bool clamp_hi;
  Narrow64(int32_t qmin, int32_t qmax, int32_t zero_point, double reach)
      : pack(qmin, zero_point),
        hi(_mm512_set1_ps(static_cast<float>(qmax - zero_point))),
        clamp_hi(qmax != 127 || !(reach < 0x1p29)) {}
  static bool Fits(int32_t qmin, int32_t qmax, int32_t zero_point) {
    return qmin >= -128 && qmax <= 127 && qmin <= qmax && zero_point >= -(1 << 14) && zero_point <= (1 << 14);
  }
  __m512i Round(__m512 v) const { return _mm512_cvtps_epi32(clamp_hi ? _mm512_min_ps(hi, v) : v); }
  __m512i operator()(__m512 v0, __m512 v1, __m512 v2, __m512 v3) const {
    return pack(Round(v0), Round(v1), Round(v2), Round(v3));
  }
};

// The first min(n, 16) lanes.
inline __mmask16 FirstLanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// body(i, lanes) for i = 0, 16, ... below n: whole vectors with the all-lanes mask, a constant
// for which the loads and stores below are plain ones, then the last 1-15 elements with theirs.
// Masked loads and stores on every vector cost ~20 % of a streaming kernel on Zen 5.
template <class Body>
inline void ForVectors16(int64_t n, Body&& body) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) body(i, static_cast<__mmask16>(0xFFFF));
  if (i < n) body(i, FirstLanes(n - i));
}

// 16 int8 as int32 lanes (lanes outside `m` 0), and 16 bytes stored (only the lanes of `m`).
inline __m512i LoadS8x16(const int8_t* p, __mmask16 m) {
  if (m == 0xFFFF) return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p));
}
inline void StoreBytes16(int8_t* p, __mmask16 m, __m128i v) {
  if (m == 0xFFFF) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
  } else {
    _mm_mask_storeu_epi8(p, m, v);
  }
}

}  // namespace
}  // namespace edge::engine
