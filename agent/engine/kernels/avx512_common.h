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

}  // namespace
}  // namespace edge::engine
