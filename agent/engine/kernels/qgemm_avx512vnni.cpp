// AVX-512 VNNI tier: one vpdpbusd per 4-deep multiply-accumulate of 16 output columns.
// Compiled with -mavx512* -mavx512vnni for this file only; reached through QGemmForTier.
#include <immintrin.h>

#include <algorithm>

#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_grid_avx512.h"

namespace edge::engine {
namespace {


// vpdpbusd through inline assembly: with the intrinsic, GCC 12 copies every accumulator
// before the instruction and keeps a shadow copy on the stack, which costs ~3x throughput.
inline __m512i Dpbusd(__m512i acc, __m512i unsigned_bytes, __m512i signed_bytes) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(unsigned_bytes), "v"(signed_bytes));
  return acc;
}  // 6 rows x 4 vectors = 24 accumulators of the 32 zmm registers
constexpr int kMaxVecs = 4;

// kGrid: the columns are a grid (QGemmArgs::grid_pitch); a template parameter so that the
// plain store keeps its one masked store per vector.
template <bool kLeftWeights, int kRows, int kVecs, bool kGrid>
void Tile(const QGemmArgs& a, int64_t m0, int64_t n0) {
  __m512i acc[kRows][kVecs];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_setzero_si512();
  }
  const uint8_t* lrow = a.left + m0 * a.kp;
  const int64_t lstride = a.kp;
  const int64_t groups = a.kp >> 2;
  // One k-group: 4 bytes of each left row against kVecs x 16 columns of the right operand.
  auto step = [&](const uint8_t* rg, const uint8_t* lg) __attribute__((always_inline)) {
    __m512i rv[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) rv[v] = _mm512_loadu_si512(rg + v * 64);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      int32_t word;
      __builtin_memcpy(&word, lg + r * lstride, 4);
      const __m512i lv = _mm512_set1_epi32(word);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        // vpdpbusd(acc, unsigned bytes, signed bytes): activations are always the unsigned side
        acc[r][v] = kLeftWeights ? Dpbusd(acc[r][v], rv[v], lv) : Dpbusd(acc[r][v], lv, rv[v]);
      }
    }
  };
  if (a.right_groups != nullptr) {
    for (int64_t g = 0; g < groups; ++g) step(a.right_groups[g] + n0 * 4, lrow + g * 4);
  } else {
    // Plain packed operand: pointers advance by a constant, no per-group table lookup.
    const uint8_t* rg = a.right + n0 * 4;
    const int64_t rstride = a.np * 4;
    for (int64_t g = 0; g < groups; ++g, rg += rstride) step(rg, lrow + g * 4);
  }
  const __m512 lo = _mm512_set1_ps(static_cast<float>(a.qmin - a.zero_point));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(a.qmax - a.zero_point));
  const __m512i zp = _mm512_set1_epi32(a.zero_point);
  ColumnRuns runs[kGrid ? kVecs : 1];
  if constexpr (kGrid) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) GridRuns(a, n0 + v * 16, runs[v]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      const int64_t n = n0 + v * 16;
      __m512i bias;
      __m512 mult;
      if constexpr (kLeftWeights) {
        bias = _mm512_set1_epi32(a.bias[m0 + r]);
        mult = _mm512_set1_ps(a.mult[m0 + r]);
      } else {
        bias = _mm512_loadu_si512(a.bias + n);
        mult = _mm512_loadu_ps(a.mult + n);
      }
      __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc[r][v], bias)), mult);
      x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
      const __m128i bytes = _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(x), zp));
      if constexpr (!kGrid) {
        const int64_t left = a.n - n;
        const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
        _mm_mask_storeu_epi8(a.out + (m0 + r) * a.ldo + n, mask, bytes);
      } else {
        const uintptr_t row = reinterpret_cast<uintptr_t>(a.out + (m0 + r) * a.ldo);
        for (int i = 0; i < runs[v].count; ++i) {
          // masked-off lanes are never written, so the run's base may lie before the row
          _mm_mask_storeu_epi8(reinterpret_cast<void*>(row + static_cast<uintptr_t>(runs[v].offset[i])),
                               runs[v].mask[i], bytes);
        }
      }
    }
  }
}

template <bool kLeftWeights, int kRows, bool kGrid>
void TileRows(const QGemmArgs& a, int64_t m0, int64_t n0, int vecs) {
  // Weights left: up to 8 rows x 3 vectors; weights right: up to 6 rows x 4 vectors.
  switch (vecs) {
    case 1: Tile<kLeftWeights, kRows, 1, kGrid>(a, m0, n0); break;
    case 2: Tile<kLeftWeights, kRows, 2, kGrid>(a, m0, n0); break;
    case 3: Tile<kLeftWeights, kRows, 3, kGrid>(a, m0, n0); break;
    default:
      if constexpr (!kLeftWeights && kRows <= 6) Tile<kLeftWeights, kRows, 4, kGrid>(a, m0, n0);
      break;
  }
}

// Conv (weights left) has few rows (output channels, usually a multiple of 8) and many
// columns: 8 x 48 tiles. Gemm (weights right) has many rows: 6 x 64 tiles (12 x 32 measured
// slower). Both use 24 accumulators.
template <bool kLeftWeights, bool kGrid>
void Run(const QGemmArgs& a) {
  constexpr int kRowsPerTile = kLeftWeights ? 8 : 6;
  constexpr int kVecsPerTile = kLeftWeights ? 3 : kMaxVecs;
  for (int64_t n0 = 0; n0 < a.n; n0 += 16 * kVecsPerTile) {
    const int vecs = static_cast<int>(std::min<int64_t>(kVecsPerTile, (a.n - n0 + 15) / 16));
    for (int64_t m0 = 0; m0 < a.m; m0 += kRowsPerTile) {
      switch (std::min<int64_t>(kRowsPerTile, a.m - m0)) {
        case 1: TileRows<kLeftWeights, 1, kGrid>(a, m0, n0, vecs); break;
        case 2: TileRows<kLeftWeights, 2, kGrid>(a, m0, n0, vecs); break;
        case 3: TileRows<kLeftWeights, 3, kGrid>(a, m0, n0, vecs); break;
        case 4: TileRows<kLeftWeights, 4, kGrid>(a, m0, n0, vecs); break;
        case 5: TileRows<kLeftWeights, 5, kGrid>(a, m0, n0, vecs); break;
        case 6: TileRows<kLeftWeights, 6, kGrid>(a, m0, n0, vecs); break;
        case 7: TileRows<kLeftWeights, 7, kGrid>(a, m0, n0, vecs); break;
        default: TileRows<kLeftWeights, 8, kGrid>(a, m0, n0, vecs); break;
      }
    }
  }
}

}  // namespace

void QGemmAvx512Vnni(const QGemmArgs& a) {
  const bool left = a.weights == QGemmWeights::kLeft, grid = a.grid_pitch != 0;
  if (left) {
    grid ? Run<true, true>(a) : Run<true, false>(a);
  } else {
    grid ? Run<false, true>(a) : Run<false, false>(a);
  }
}

}  // namespace edge::engine
