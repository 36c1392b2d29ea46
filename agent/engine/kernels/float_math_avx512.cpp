// AVX-512 forms of the float functions computed in double (kernels/float_math_simd.h): eight
// doubles per vector; Transcendental on two vectors at a time. Compiled with -mavx512f/vl and
// -ffp-contract=off, without -mfma, so that no multiply and add can be fused; reached through
// ElementwiseForTier after the cpuid checks.
#include <immintrin.h>

#include "agent/engine/kernels/float_math_simd.h"

namespace edge::engine {
namespace {

struct Avx512Doubles {
  using VD = __m512d;
  using M = __mmask8;
  using VF = __m256;
  using MF = __mmask8;
  static constexpr int kLanes = 8;
  static VD Set1(double v) { return _mm512_set1_pd(v); }
  static VD Add(VD a, VD b) { return _mm512_add_pd(a, b); }
  static VD Sub(VD a, VD b) { return _mm512_sub_pd(a, b); }
  static VD Mul(VD a, VD b) { return _mm512_mul_pd(a, b); }
  static VD Div(VD a, VD b) { return _mm512_div_pd(a, b); }
  static VD Neg(VD a) {
    return _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(INT64_MIN)));
  }
  static VD Abs(VD a) { return _mm512_abs_pd(a); }
  static VD Min(VD a, VD b) { return _mm512_min_pd(a, b); }
  static VD Max(VD a, VD b) { return _mm512_max_pd(a, b); }
  static VD RoundEven(VD a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static VD Scale2(VD p, VD k) { return _mm512_scalef_pd(p, k); }  // exact where the result is normal
  static M Less(VD a, VD b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static M Unordered(VD a) { return _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q); }
  static M AndNot(M a, M b) { return static_cast<M>(~a & b); }
  static bool Any(M m) { return m != 0; }
  static bool All(M m) { return m == 0xFF; }
  static VD Select(M m, VD a, VD b) { return _mm512_mask_blend_pd(m, b, a); }
  static VD Widen(VF v) { return _mm512_cvtps_pd(v); }
  static VF Narrow(VD v) { return _mm512_cvtpd_ps(v); }
  static VF LoadF(const float* p) { return _mm256_loadu_ps(p); }
  static void StoreF(float* p, VF v) { _mm256_storeu_ps(p, v); }
  static VF SetF(float v) { return _mm256_set1_ps(v); }
  static VF AddF(VF a, VF b) { return _mm256_add_ps(a, b); }
  static VF SubF(VF a, VF b) { return _mm256_sub_ps(a, b); }
  static VF MulF(VF a, VF b) { return _mm256_mul_ps(a, b); }
  static MF NanOrZeroF(VF x) {
    const MF zero = _mm256_cmp_ps_mask(x, _mm256_setzero_ps(), _CMP_EQ_OQ);
    return static_cast<MF>(_mm256_cmp_ps_mask(x, x, _CMP_UNORD_Q) | zero);
  }
  static VF SelectF(MF m, VF a, VF b) { return _mm256_mask_blend_ps(m, b, a); }
};

}  // namespace

void ExpShiftedAvx512(const float* x, int64_t n, float shift, float* y) {
  float_math::ExpShiftedRows<Avx512Doubles>(x, n, shift, y);
}

void FloatTranscendentalAvx512(FloatTranscendental op, const float* x, int64_t n, float* y) {
  float_math::Transcendental<float_math::Twice<Avx512Doubles>>(op, x, n, y);
}

}  // namespace edge::engine
