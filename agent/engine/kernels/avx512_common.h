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
