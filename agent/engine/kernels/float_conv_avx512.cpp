// AVX-512F float Conv rows (FloatConvRowFn): kernels/float_conv_simd.h over 16-float vectors.
#include <immintrin.h>

#include "agent/engine/kernels/float_conv_simd.h"
#include "agent/engine/kernels/float_rows.h"

namespace edge::engine {
namespace {

struct Avx512Floats {
  using V = __m512;
  using VI = __m512i;
  using M = __mmask16;
  static constexpr int kLanes = 16;
  static V Set1(float v) { return _mm512_set1_ps(v); }
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V Max(V lo, V v) { return _mm512_max_ps(lo, v); }  // (lo > v) ? lo : v
  static V Min(V hi, V v) { return _mm512_min_ps(hi, v); }  // (hi < v) ? hi : v
  // p[0], p[2], ..., p[30]: the second load masked to p[16..30]
  static V LoadEven(const float* p) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_maskz_loadu_ps(0x7FFF, p + 16));
  }
  static V Gather(const float* p, VI index) { return _mm512_i32gather_ps(index, p, 4); }
  static VI Iota(int64_t step) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32(static_cast<int32_t>(step)));
  }
  static M Inside(int64_t first, int64_t step, int64_t limit, int64_t count) {
    const VI at = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(first)), Iota(step));
    const M inside = _mm512_cmpge_epi32_mask(at, _mm512_setzero_si512()) &
                     _mm512_cmplt_epi32_mask(at, _mm512_set1_epi32(static_cast<int32_t>(limit)));
    return static_cast<M>(inside & ((1u << count) - 1));
  }
  static V MaskedLoad(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  // the lanes of m from p[0], p[2], ...: source float 2l read where lane l is in m
  static V MaskedLoadEven(const float* p, M m) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    // lane l -> source bit 2l (BMI2, which every AVX-512 CPU has)
    const auto spread = [](uint32_t lanes) { return static_cast<__mmask16>(_pdep_u32(lanes, 0x5555u)); };
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(spread(m & 0xFFu), p), even,
                                  _mm512_maskz_loadu_ps(spread(static_cast<uint32_t>(m) >> 8), p + 16));
  }
  static V MaskedGather(const float* p, VI index, M m) {
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, p, 4);
  }
  static V MaskedAdd(V acc, M m, V v) { return _mm512_mask_add_ps(acc, m, acc, v); }
  static void MaskedStore(float* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static VI LoadI(const int32_t* p) { return _mm512_loadu_si512(p); }
  static VI AddI(VI v, int64_t k) { return _mm512_add_epi32(v, _mm512_set1_epi32(static_cast<int32_t>(k))); }
  // 0 <= v < limit: one unsigned compare
  static M InRange(VI v, int64_t limit) { return _mm512_cmplt_epu32_mask(v, _mm512_set1_epi32(static_cast<int32_t>(limit))); }
  static M And(M a, M b) { return static_cast<M>(a & b); }
  // the cell activations' (kernels/float_rows.h)
  static V Sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V Div(V a, V b) { return _mm512_div_ps(a, b); }
  static V Bits(V v, int32_t mask, bool keep) {  // v's bits and mask (keep) or xor mask
    const __m512i m = _mm512_set1_epi32(mask), b = _mm512_castps_si512(v);
    return _mm512_castsi512_ps(keep ? _mm512_and_si512(b, m) : _mm512_xor_si512(b, m));
  }
  static V Neg(V v) { return Bits(v, INT32_MIN, false); }
  static V Abs(V v) { return Bits(v, INT32_MAX, true); }
  static M IsNan(V v) { return _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); }
  static M Less(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static bool All(M m) { return m == 0xFFFF; }
  static V Select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
  static V OrSign(V t, V x) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), _mm512_castps_si512(Bits(x, INT32_MIN, true))));
  }
  static V Pow2(V k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23));
  }
};

}  // namespace

void FloatConvRowAvx512(const FloatConvRowArgs& a) { float_conv::Row<Avx512Floats>(a); }

// 8 channels x 3 vectors: 24 + 3 + 1 of the 32 zmm (x 2 vectors measured ~10 % slower on fp32
// ResNet-8, 385 against 346 us; at AVX2 3 vectors of 4 channels spill, 659 against 707)
void FloatConvPlaneAvx512(const FloatConvPlaneArgs& a) { float_conv::Plane<Avx512Floats, 8, 3>(a); }

// blocks of 4 rows x 4 vectors (16 + 4 + 1 of the 32 zmm); single rows 16 vectors per pass
void RowsTimesMatrixAvx512(const float* x, int64_t m, int64_t ldx, int64_t rows, const float* w, int64_t ldw, int64_t n,
                           float* y, int64_t ldy) {
  RowsTimesMatrixBlocked<Avx512Floats, 4, 4, 16>(x, m, ldx, rows, w, ldw, n, y, ldy);
}

void CellActivationAvx512(CellActivation f, const float* x, int64_t n, float* y) {
  CellActivationVectors<Avx512Floats>(f, x, n, y);
}

}  // namespace edge::engine
