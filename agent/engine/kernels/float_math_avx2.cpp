// AVX2 forms of the float functions computed in double (kernels/float_math_simd.h): four doubles
// per vector; Transcendental on two vectors at a time. Compiled with -mavx2 and
// -ffp-contract=off, without -mfma, so that no multiply and add can be fused.
#include <immintrin.h>

#include "agent/engine/kernels/float_math_simd.h"

namespace edge::engine {
namespace {

struct Avx2Doubles {
  using VD = __m256d;
  using M = __m256d;  // all ones in a lane that holds
  using VF = __m128;
  using MF = __m128;
  static constexpr int kLanes = 4;
  static VD Set1(double v) { return _mm256_set1_pd(v); }
  static VD Add(VD a, VD b) { return _mm256_add_pd(a, b); }
  static VD Sub(VD a, VD b) { return _mm256_sub_pd(a, b); }
  static VD Mul(VD a, VD b) { return _mm256_mul_pd(a, b); }
  static VD Div(VD a, VD b) { return _mm256_div_pd(a, b); }
  static VD Neg(VD a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
  static VD Abs(VD a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static VD Min(VD a, VD b) { return _mm256_min_pd(a, b); }
  static VD Max(VD a, VD b) { return _mm256_max_pd(a, b); }
  static VD RoundEven(VD a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^k from its exponent bits (k within [-1022, 1023]): a normal double, so the multiply is
  // exact where the product is normal, as ldexp is
  static VD Scale2(VD p, VD k) {
    const __m256i biased = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k)), _mm256_set1_epi64x(1023));
    return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(biased, 52)));
  }
  static M Less(VD a, VD b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static M Unordered(VD a) { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
  static M AndNot(M a, M b) { return _mm256_andnot_pd(a, b); }
  static bool Any(M m) { return _mm256_movemask_pd(m) != 0; }
  static bool All(M m) { return _mm256_movemask_pd(m) == 0xF; }
  static VD Select(M m, VD a, VD b) { return _mm256_blendv_pd(b, a, m); }
  static VD Widen(VF v) { return _mm256_cvtps_pd(v); }
  static VF Narrow(VD v) { return _mm256_cvtpd_ps(v); }
  static VF LoadF(const float* p) { return _mm_loadu_ps(p); }
  static void StoreF(float* p, VF v) { _mm_storeu_ps(p, v); }
  static VF SetF(float v) { return _mm_set1_ps(v); }
  static VF AddF(VF a, VF b) { return _mm_add_ps(a, b); }
  static VF SubF(VF a, VF b) { return _mm_sub_ps(a, b); }
  static VF MulF(VF a, VF b) { return _mm_mul_ps(a, b); }
  static MF NanOrZeroF(VF x) {
    return _mm_or_ps(_mm_cmp_ps(x, x, _CMP_UNORD_Q), _mm_cmp_ps(x, _mm_setzero_ps(), _CMP_EQ_OQ));
  }
  static VF SelectF(MF m, VF a, VF b) { return _mm_blendv_ps(b, a, m); }
};

}  // namespace

void ExpShiftedAvx2(const float* x, int64_t n, float shift, float* y) {
  float_math::ExpShiftedRows<Avx2Doubles>(x, n, shift, y);
}

void FloatTranscendentalAvx2(FloatTranscendental op, const float* x, int64_t n, float* y) {
  float_math::Transcendental<float_math::Twice<Avx2Doubles>>(op, x, n, y);
}

}  // namespace edge::engine
