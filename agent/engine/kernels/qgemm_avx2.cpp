// AVX2 tier (no VNNI): bytes widened to int16 and multiplied with vpmaddwd, which cannot
// saturate (vpmaddubsw could, so it is not used). Each 8-column block keeps two accumulators
// of (column, k-pair) partial sums that are folded into columns once, after the K loop.
#include <immintrin.h>

#include <algorithm>

#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
namespace {

constexpr int kMaxRows = 4;

template <bool kLeftWeights>
inline __m256i Widen(__m128i bytes) {
  // R holds activations (unsigned) when the weights are on the left.
  return kLeftWeights ? _mm256_cvtepu8_epi16(bytes) : _mm256_cvtepi8_epi16(bytes);
}

template <bool kLeftWeights>
inline __m256i BroadcastLeft(const uint8_t* p) {
  int32_t word;
  __builtin_memcpy(&word, p, 4);
  const __m128i b = _mm_cvtsi32_si128(word);
  const __m128i w = kLeftWeights ? _mm_cvtepi8_epi16(b) : _mm_cvtepu8_epi16(b);
  return _mm256_broadcastq_epi64(w);
}

template <bool kLeftWeights, int kRows>
void Tile(const QGemmArgs& a, int64_t m0, int64_t n0) {
  __m256i acc_lo[kRows], acc_hi[kRows];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) acc_lo[r] = acc_hi[r] = _mm256_setzero_si256();
  const uint8_t* lbase = a.left + m0 * a.kp;
  const uint8_t* rbase = a.right + n0 * 4;
  const int64_t rstride = a.np * 4;
  const int64_t groups = a.kp >> 2;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rg = a.right_groups != nullptr ? a.right_groups[g] + n0 * 4 : rbase + g * rstride;
    const __m256i rv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rg));
    const __m256i r_lo = Widen<kLeftWeights>(_mm256_castsi256_si128(rv));       // columns 0-3
    const __m256i r_hi = Widen<kLeftWeights>(_mm256_extracti128_si256(rv, 1));  // columns 4-7
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const __m256i lv = BroadcastLeft<kLeftWeights>(lbase + r * a.kp + g * 4);
      acc_lo[r] = _mm256_add_epi32(acc_lo[r], _mm256_madd_epi16(r_lo, lv));
      acc_hi[r] = _mm256_add_epi32(acc_hi[r], _mm256_madd_epi16(r_hi, lv));
    }
  }
  const __m256 lo = _mm256_set1_ps(static_cast<float>(a.qmin - a.zero_point));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(a.qmax - a.zero_point));
  const __m256i zp = _mm256_set1_epi32(a.zero_point);
  const int64_t cols = std::min<int64_t>(8, a.n - n0);
  // Where the tile's 8 columns go when they are 8 consecutive outputs (-1: column by column).
  const int64_t row0 = a.grid_pitch == 0 ? 0 : n0 / a.grid_pitch;
  const int64_t col0 = a.grid_pitch == 0 ? n0 : n0 - row0 * a.grid_pitch;
  const int64_t width = a.grid_pitch == 0 ? a.n : a.grid_width;
  const int64_t whole = cols == 8 && col0 + 8 <= width ? row0 * width + col0 : -1;
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    // hadd gives [c0 c1 c4 c5 | c2 c3 c6 c7]; the permute restores column order.
    const __m256i sums = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc_lo[r], acc_hi[r]), 0xD8);
    __m256i bias;
    __m256 mult;
    if constexpr (kLeftWeights) {
      bias = _mm256_set1_epi32(a.bias[m0 + r]);
      mult = _mm256_set1_ps(a.mult[m0 + r]);
    } else {
      bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bias + n0));
      mult = _mm256_loadu_ps(a.mult + n0);
    }
    __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sums, bias)), mult);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(x), zp);
    int8_t* out = a.out + (m0 + r) * a.ldo;
    if (whole >= 0) {
      // q is within [qmin, qmax]: the saturating packs are exact
      const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + whole), _mm_packs_epi16(q16, q16));
      continue;
    }
    alignas(32) int32_t tmp[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), q);
    // grid row and column of n0 + c, advanced without a division per element
    for (int64_t c = 0, row = row0, col = col0; c < cols; ++c) {
      if (col < width) out[row * width + col] = static_cast<int8_t>(tmp[c]);
      if (++col == a.grid_pitch) {
        col = 0;
        ++row;
      }
    }
  }
}

template <bool kLeftWeights>
void Run(const QGemmArgs& a) {
  for (int64_t n0 = 0; n0 < a.n; n0 += 8) {
    for (int64_t m0 = 0; m0 < a.m; m0 += kMaxRows) {
      switch (std::min<int64_t>(kMaxRows, a.m - m0)) {
        case 1: Tile<kLeftWeights, 1>(a, m0, n0); break;
        case 2: Tile<kLeftWeights, 2>(a, m0, n0); break;
        case 3: Tile<kLeftWeights, 3>(a, m0, n0); break;
        default: Tile<kLeftWeights, 4>(a, m0, n0); break;
      }
    }
  }
}

}  // namespace

void QGemmAvx2(const QGemmArgs& a) {
  if (a.weights == QGemmWeights::kLeft) {
    Run<true>(a);
  } else {
    Run<false>(a);
  }
}

}  // namespace edge::engine
