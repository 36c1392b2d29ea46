// AVX2 float Conv rows (FloatConvRowFn): kernels/float_conv_simd.h over 8-float vectors.
#include <immintrin.h>

#include "agent/engine/kernels/float_conv_simd.h"
#include "agent/engine/kernels/float_rows.h"

namespace edge::engine {
namespace {

struct Avx2Floats {
  using V = __m256;
  using VI = __m256i;
  using M = __m256i;  // all ones in a lane inside
  static constexpr int kLanes = 8;
  static V Set1(float v) { return _mm256_set1_ps(v); }
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V Max(V lo, V v) { return _mm256_max_ps(lo, v); }  // (lo > v) ? lo : v
  static V Min(V hi, V v) { return _mm256_min_ps(hi, v); }  // (hi < v) ? hi : v
  // p[0], p[2], ..., p[14]: the second load masked to p[8..14]
  static V LoadEven(const float* p) {
    const V lo = _mm256_loadu_ps(p);
    const V hi = _mm256_maskload_ps(p + 8, _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0));
    const V pairs = _mm256_shuffle_ps(lo, hi, 0x88);  // lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
  }
  static V Gather(const float* p, VI index) { return _mm256_i32gather_ps(p, index, 4); }
  static VI Iota(int64_t step) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int32_t>(step)));
  }
  static M Inside(int64_t first, int64_t step, int64_t limit, int64_t count) {
    const VI lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const VI at = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(first)), Iota(step));
    const VI ge0 = _mm256_cmpgt_epi32(at, _mm256_set1_epi32(-1));
    const VI below = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(limit)), at);
    const VI counted = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(count)), lane);
    return _mm256_and_si256(_mm256_and_si256(ge0, below), counted);
  }
  static V MaskedLoad(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  // the lanes of m from p[0], p[2], ...: source float 2l read where lane l is in m
  static V MaskedLoadEven(const float* p, M m) {
    // lane l's mask to source lane 2l; the odd source lanes are not read
    const __m256i to_low = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), to_high = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256i even = _mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0);
    const __m256i low = _mm256_and_si256(_mm256_permutevar8x32_epi32(m, to_low), even);
    const __m256i high = _mm256_and_si256(_mm256_permutevar8x32_epi32(m, to_high), even);
    const V pairs = _mm256_shuffle_ps(_mm256_maskload_ps(p, low), _mm256_maskload_ps(p + 8, high), 0x88);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
  }
  static V MaskedGather(const float* p, VI index, M m) {
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, index, _mm256_castsi256_ps(m), 4);
  }
  static V MaskedAdd(V acc, M m, V v) { return _mm256_blendv_ps(acc, _mm256_add_ps(acc, v), _mm256_castsi256_ps(m)); }
  static void MaskedStore(float* p, M m, V v) { _mm256_maskstore_ps(p, m, v); }
  static VI LoadI(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static VI AddI(VI v, int64_t k) { return _mm256_add_epi32(v, _mm256_set1_epi32(static_cast<int32_t>(k))); }
  static M InRange(VI v, int64_t limit) {
    return _mm256_and_si256(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(limit)), v));
  }
  static M And(M a, M b) { return _mm256_and_si256(a, b); }
  // the cell activations' (kernels/float_rows.h)
  static V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V Div(V a, V b) { return _mm256_div_ps(a, b); }
  static V Neg(V v) { return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f)); }
  static V Abs(V v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
  static M IsNan(V v) { return _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)); }
  static M Less(V a, V b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static bool All(M m) { return _mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xFF; }
  static V Select(M m, V a, V b) { return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m)); }
  static V OrSign(V t, V x) { return _mm256_or_ps(t, _mm256_and_ps(x, _mm256_set1_ps(-0.0f))); }
  static V Pow2(V k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(k), _mm256_set1_epi32(127)), 23));
  }
};

}  // namespace

void FloatConvRowAvx2(const FloatConvRowArgs& a) { float_conv::Row<Avx2Floats>(a); }

void FloatConvPlaneAvx2(const FloatConvPlaneArgs& a) { float_conv::Plane<Avx2Floats, 4, 2>(a); }  // 8 + 2 + 1 of 16 ymm

// blocks of 3 rows x 3 vectors (9 + 3 + 1 of the 16 ymm); single rows 8 vectors per pass
void RowsTimesMatrixAvx2(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w, int64_t ldw, int64_t n,
                         float* y, int64_t ldy) {
  RowsTimesMatrixBlocked<Avx2Floats, 3, 3, 8>(x, m, ldx, rows, w, ldw, n, y, ldy);
}

void CellActivationAvx2(CellActivation f, const float* x, int64_t n, float* y) {
  CellActivationVectors<Avx2Floats>(f, x, n, y);
}

}  // namespace edge::engine
