// The 256-entry int8 lookup on AVX-512 VBMI. Its own file, compiled with -mavx512vbmi: the
// other AVX-512 kernels also serve CPUs without VBMI (Cascade Lake), where an instruction the
// compiler chose from these flags would fault. Reached through ElementwiseForTier only where
// cpuid reports VBMI.
#include <immintrin.h>

#include "agent/engine/kernels/elementwise.h"

namespace edge::engine {

void LutAvx512Vbmi(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  // Two 128-entry vpermi2b lookups, selected by the index's top bit.
  const __m512i t0 = _mm512_loadu_si512(table);
  const __m512i t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128);
  const __m512i t3 = _mm512_loadu_si512(table + 192);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i idx = _mm512_loadu_si512(x + i);  // as unsigned: 0..127 low half, 128..255 high
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, idx, t3);
    const __mmask64 top = _mm512_movepi8_mask(idx);
    _mm512_storeu_si512(out + i, _mm512_mask_blend_epi8(top, lo, hi));
  }
  LutScalar(x + i, n - i, table, out + i);
}

}  // namespace edge::engine
