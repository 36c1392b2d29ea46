// AVX2 Winograd F(2x2, 3x3) conv (kernels/winograd.h). The input is padded with its zero point
// once per call, into planes of (2 * tiles_h + 2) x (2 * tiles_w + 2) bytes. Tiles go in blocks
// of 16: four quarters of up to 4 tiles of one tile row, two per 128-bit half, so that a
// tile's 4 x 4 input patch comes from 8-byte row loads (the patch columns 2t..2t+3 are the
// row's even and odd bytes at two offsets). Per block:
//   V = B^T d B for every channel, int16, channel pairs interleaved for vpmaddwd:
//       [16 positions][channel pair][16 tiles][2];
//   per 6 output channels and position: the 6 x 16 product over the channel pairs (12
//       vpmaddwd + 12 vpaddd per pair, as the AVX2 GEMM's tile), kept in a stack buffer;
//   Y = A^T M A / 4 (an exact shift), plus the bias, requantized as QGemm does, the 2 x 2
//       outputs of 8 tiles interleaved into two 16-byte output rows by one byte shuffle.
// Compiled with -mavx2 for this file only; reached through ElementwiseForTier.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/winograd.h"

namespace edge::engine {
namespace {

constexpr int kQuarter = 4;   // tiles per quarter: 8 bytes of a patch row per load
constexpr int kBlock = 16;    // tiles per block: four quarters, two per 128-bit half
constexpr int kRows = 6;      // output channels per product tile
constexpr int kFusedPairs = 2;  // channel pairs up to which FusedChannel replaces the product tile

// Up to 4 consecutive tiles of one tile row (count 0: a filler, computed and not stored).
// Quarters rather than whole rows, so that narrow maps (8 x 8: 4 tiles a row) fill a block.
struct Quarter {
  int64_t ty = 0, tx0 = 0, count = 0;
};

inline __m128i Load8x2(const int8_t* a, const int8_t* b) {
  return _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a)),
                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b)));
}

// The even and odd bytes of four 8-byte rows (one per quarter), widened: lane t of `even` is
// byte 2 * (t % 4) of row t / 4.
inline void EvenOdd(const int8_t* const (&row)[4], int64_t offset, __m256i& even, __m256i& odd) {
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(Load8x2(row[0] + offset, row[1] + offset)),
                                            Load8x2(row[2] + offset, row[3] + offset), 1);
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i s = _mm256_shuffle_epi8(v, split);  // qwords: evens of rows 0-1, odds, evens of 2-3, odds
  even = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(_mm256_permute4x64_epi64(s, 0x08)));
  odd = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(_mm256_permute4x64_epi64(s, 0x0D)));
}

// V = B^T d B of one channel's 16 tiles: v[4i + j], 16 int16 lanes (tiles) each.
inline void InputTransform(const int8_t* plane, int64_t pitch, const Quarter (&qs)[4], __m256i (&v)[16]) {
  __m256i t[4][4];
  for (int i = 0; i < 4; ++i) {
    const int8_t* const row[4] = {plane + (2 * qs[0].ty + i) * pitch + 2 * qs[0].tx0,
                                  plane + (2 * qs[1].ty + i) * pitch + 2 * qs[1].tx0,
                                  plane + (2 * qs[2].ty + i) * pitch + 2 * qs[2].tx0,
                                  plane + (2 * qs[3].ty + i) * pitch + 2 * qs[3].tx0};
    __m256i e0, o0, e2, o2;  // patch columns 0, 1 (offset 0) and 2, 3 (offset 2)
    EvenOdd(row, 0, e0, o0);
    EvenOdd(row, 2, e2, o2);
    t[i][0] = _mm256_sub_epi16(e0, e2);  // d B: columns (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    t[i][1] = _mm256_add_epi16(o0, e2);
    t[i][2] = _mm256_sub_epi16(e2, o0);
    t[i][3] = _mm256_sub_epi16(o0, o2);
  }
  for (int j = 0; j < 4; ++j) {  // B^T (d B): the same on rows
    v[j] = _mm256_sub_epi16(t[0][j], t[2][j]);
    v[4 + j] = _mm256_add_epi16(t[1][j], t[2][j]);
    v[8 + j] = _mm256_sub_epi16(t[2][j], t[1][j]);
    v[12 + j] = _mm256_sub_epi16(t[1][j], t[3][j]);
  }
}

// The block's V for every channel, [16][pairs][16 tiles][2] int16.
void TransformBlock(const int8_t* padded, int64_t cin, int64_t plane_bytes, int64_t pitch, const Quarter (&qs)[4],
                    int16_t* vbuf) {
  const int64_t pairs = WinogradPairs(cin);
  const auto transform = [&](int64_t c, __m256i (&v)[16]) {
    if (c < cin) {
      InputTransform(padded + c * plane_bytes, pitch, qs, v);
    } else {
      for (__m256i& x : v) x = _mm256_setzero_si256();  // the odd channel's zero partner
    }
  };
  for (int64_t p = 0; p < pairs; ++p) {
    __m256i even[16], odd[16];
    transform(2 * p, even);
    transform(2 * p + 1, odd);
    for (int k = 0; k < 16; ++k) {
      // per 128-bit lane: tiles 0-3 | 8-11 (lo) and 4-7 | 12-15 (hi) as (even, odd) pairs
      const __m256i lo = _mm256_unpacklo_epi16(even[k], odd[k]), hi = _mm256_unpackhi_epi16(even[k], odd[k]);
      int16_t* dst = vbuf + ((k * pairs + p) * kBlock) * 2;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permute2x128_si256(lo, hi, 0x20));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
  }
}

// M[k][r][16 tiles] = sum over channel pairs of U[k][m0 + r] . V[k], kRowCount rows.
template <int kRowCount>
void Products(const WinogradArgs& a, const int16_t* vbuf, int64_t m0, int32_t (*m)[kRows][kBlock]) {
  const int64_t pairs = WinogradPairs(a.cin), cin2 = 2 * pairs;
  for (int k = 0; k < 16; ++k) {
    __m256i acc[kRowCount][2];
#pragma GCC unroll 6
    for (int r = 0; r < kRowCount; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const int16_t* right = vbuf + k * pairs * kBlock * 2;
    const int16_t* left = a.u + (k * a.cout + m0) * cin2;
    for (int64_t p = 0; p < pairs; ++p) {
      const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(right + p * kBlock * 2));
      const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(right + p * kBlock * 2 + 16));
#pragma GCC unroll 6
      for (int r = 0; r < kRowCount; ++r) {
        int32_t pair;
        std::memcpy(&pair, left + r * cin2 + 2 * p, 4);
        const __m256i lv = _mm256_set1_epi32(pair);
        acc[r][0] = MaddAdd(acc[r][0], r0, lv);
        acc[r][1] = MaddAdd(acc[r][1], r1, lv);
      }
    }
#pragma GCC unroll 6
    for (int r = 0; r < kRowCount; ++r) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(m[k][r]), acc[r][0]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(m[k][r] + 8), acc[r][1]);
    }
  }
}

// The requantized outputs of 8 tiles (half h of the block: quarters 2h, 2h + 1) of output
// channel o from y = A^T M A: (0, 0), (0, 1), (1, 0), (1, 1) of every tile, 4x the sums (an
// exact shift), plus the bias; the 2 x 2 outputs of each quarter's tiles into two output rows.
template <bool kClamp>
__attribute__((always_inline)) inline void StoreTiles(const WinogradArgs& a, const QuantRange& range,
                                                      const __m256i (&y)[4], int h, int64_t o, const Quarter (&qs)[4]) {
  const __m256i bias = _mm256_set1_epi32(a.bias[o]);
  const __m256 mult = _mm256_set1_ps(a.mult[o]);
  __m256i q[4];  // scaled (ScaleSums)
  for (int i = 0; i < 4; ++i) q[i] = ScaleSums<kClamp>(range, _mm256_add_epi32(_mm256_srai_epi32(y[i], 2), bias), mult);
  // packs per 128-bit lane: [q0 t0-3, q1 t0-3, q2 t0-3, q3 t0-3 | the same for t4-7] bytes;
  // the shuffle interleaves (q0, q1) and (q2, q3) per tile, the permute joins the lanes' rows
  const __m256i packed = PackQuads(range, q[0], q[1], q[2], q[3]);
  const __m256i order = _mm256_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15,
                                         0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  const __m256i rows = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(packed, order), 0xD8);
  const Quarter& first = qs[2 * h];
  if (first.count == kQuarter && qs[2 * h + 1].ty == first.ty && qs[2 * h + 1].tx0 == first.tx0 + kQuarter &&
      2 * first.tx0 + 16 <= a.ow && 2 * first.ty + 2 <= a.oh) {
    // 8 whole tiles side by side: their 16 columns of both rows, straight from the register
    int8_t* dst = a.out + (o * a.oh + 2 * first.ty) * a.ow + 2 * first.tx0;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm256_castsi256_si128(rows));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + a.ow), _mm256_extracti128_si256(rows, 1));
    return;
  }
  alignas(32) int8_t bytes[2][16];  // [output row of the tile][quarter 2h: 0-7, 2h + 1: 8-15]
  _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), rows);
  for (int j = 0; j < 2; ++j) {
    const Quarter& q = qs[2 * h + j];
    const int64_t x0 = 2 * q.tx0, n = std::min<int64_t>(2 * q.count, a.ow - x0);
    for (int dy = 0; dy < 2 && q.count > 0; ++dy) {
      const int64_t oy = 2 * q.ty + dy;
      if (oy >= a.oh) break;
      int8_t* dst = a.out + (o * a.oh + oy) * a.ow + x0;
      const int8_t* src = bytes[dy] + 8 * j;
      if (n == 8) {
        std::memcpy(dst, src, 8);  // a whole quarter: one 8-byte store
      } else if (n >= 4) {         // 4-7 bytes: two overlapping 4-byte moves, no library call
        std::memcpy(dst, src, 4);
        std::memcpy(dst + n - 4, src + n - 4, 4);
      } else {
        for (int64_t b = 0; b < n; ++b) dst[b] = src[b];
      }
    }
  }
}

// Output channel o of half h of the block from the product tile's row r: Y = A^T M A.
template <bool kClamp>
void OutputTransform(const WinogradArgs& a, const QuantRange& range, const int32_t (*m)[kRows][kBlock], int r, int h,
                     int64_t o, const Quarter (&qs)[4]) {
  __m256i x[16];
  for (int k = 0; k < 16; ++k) x[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(m[k][r] + 8 * h));
  __m256i s0[4], s1[4];  // A^T M: rows (m0 + m1 + m2, m1 - m2 - m3)
  for (int j = 0; j < 4; ++j) {
    s0[j] = _mm256_add_epi32(_mm256_add_epi32(x[j], x[4 + j]), x[8 + j]);
    s1[j] = _mm256_sub_epi32(_mm256_sub_epi32(x[4 + j], x[8 + j]), x[12 + j]);
  }
  const __m256i y[4] = {
      _mm256_add_epi32(_mm256_add_epi32(s0[0], s0[1]), s0[2]), _mm256_sub_epi32(_mm256_sub_epi32(s0[1], s0[2]), s0[3]),
      _mm256_add_epi32(_mm256_add_epi32(s1[0], s1[1]), s1[2]), _mm256_sub_epi32(_mm256_sub_epi32(s1[1], s1[2]), s1[3])};
  StoreTiles<kClamp>(a, range, y, h, o, qs);
}

// Few channel pairs (a 3-channel stem: two), where the product tile's 12 accumulators would
// take only a pair or two before their store and reload: per output channel, the block's M
// goes column by column (16 tiles, both halves) straight into A^T M A, in registers. The same
// integer sums as Products + OutputTransform, in another order (exact: they fit int32).
template <bool kClamp, int kPairs>
void FusedChannel(const WinogradArgs& a, const QuantRange& range, const int16_t* vbuf, int64_t o,
                  const Quarter (&qs)[4]) {
  constexpr int pairs = kPairs, cin2 = 2 * kPairs;
  __m256i y[2][4];  // per half: outputs (0, 0), (0, 1), (1, 0), (1, 1)
#pragma GCC unroll 4
  for (int b = 0; b < 4; ++b) {
    __m256i s0[2], s1[2];  // column b of A^T M: m0 + m1 + m2, m1 - m2 - m3
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const int k = 4 * i + b;
      const int16_t* right = vbuf + k * pairs * kBlock * 2;
      const int16_t* left = a.u + (k * a.cout + o) * cin2;
      __m256i m[2];
#pragma GCC unroll 2
      for (int p = 0; p < pairs; ++p) {
        int32_t pair;
        std::memcpy(&pair, left + 2 * p, 4);
        const __m256i lv = _mm256_set1_epi32(pair);
        for (int h = 0; h < 2; ++h) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(right + (p * kBlock + 8 * h) * 2));
          m[h] = p == 0 ? _mm256_madd_epi16(v, lv) : MaddAdd(m[h], v, lv);
        }
      }
      for (int h = 0; h < 2; ++h) {
        if (i == 0) {
          s0[h] = m[h];
        } else if (i == 1) {
          s0[h] = _mm256_add_epi32(s0[h], m[h]);
          s1[h] = m[h];
        } else if (i == 2) {
          s0[h] = _mm256_add_epi32(s0[h], m[h]);
          s1[h] = _mm256_sub_epi32(s1[h], m[h]);
        } else {
          s1[h] = _mm256_sub_epi32(s1[h], m[h]);
        }
      }
    }
    for (int h = 0; h < 2; ++h) {  // A^T M A: y0 = c0 + c1 + c2, y1 = c1 - c2 - c3 of each row
      if (b == 0) {
        y[h][0] = s0[h];
        y[h][2] = s1[h];
      } else if (b == 1) {
        y[h][0] = _mm256_add_epi32(y[h][0], s0[h]);
        y[h][1] = s0[h];
        y[h][2] = _mm256_add_epi32(y[h][2], s1[h]);
        y[h][3] = s1[h];
      } else {  // column 2 adds to y0 and takes from y1, column 3 takes from y1
        if (b == 2) {
          y[h][0] = _mm256_add_epi32(y[h][0], s0[h]);
          y[h][2] = _mm256_add_epi32(y[h][2], s1[h]);
        }
        y[h][1] = _mm256_sub_epi32(y[h][1], s0[h]);
        y[h][3] = _mm256_sub_epi32(y[h][3], s1[h]);
      }
    }
  }
  StoreTiles<kClamp>(a, range, y[0], 0, o, qs);
  if (qs[2].count > 0) StoreTiles<kClamp>(a, range, y[1], 1, o, qs);
}

}  // namespace

void WinogradAvx2(const WinogradArgs& a) {
  // the stack buffers below hold kWinogradMaxChannels; WinogradEligible keeps larger convs away
  if (a.cin > kWinogradMaxChannels) __builtin_trap();
  const int64_t th = (a.oh + 1) / 2, tw = (a.ow + 1) / 2;
  const int64_t hp = 2 * th + 2, wp = 2 * tw + 2, plane_bytes = hp * wp;
  PadPlanesS8(a.x, a.cin, a.ih, a.iw, a.pad_t, a.pad_l, hp, wp, a.zx, a.scratch);
  // the quarters: up to 4 tiles of one tile row each, four per block
  const int64_t per_row = (tw + kQuarter - 1) / kQuarter, count = th * per_row;
  const auto quarter = [&](int64_t i) {
    const int64_t ty = i / per_row, tx0 = (i % per_row) * kQuarter;
    return Quarter{ty, tx0, std::min<int64_t>(kQuarter, tw - tx0)};
  };
  alignas(32) int16_t vbuf[16 * ((kWinogradMaxChannels + 1) / 2) * kBlock * 2];
  alignas(32) int32_t m[16][kRows][kBlock];
  // the sums are bias + sum w * x over cin * 9 taps of signed bytes (|w * x| <= 128 * 128)
  const bool clamp = !Unclamped(a.bias, a.mult, a.cout, a.cin * 9 * 128 * 128, a.zero_point);
  const QuantRange range(a.qmin, a.qmax, a.zero_point, clamp);
  for (int64_t i = 0; i < count; i += 4) {
    Quarter qs[4];
    for (int j = 0; j < 4; ++j) {
      // past the last quarter: a filler over the first one's tiles, not stored
      qs[j] = i + j < count ? quarter(i + j) : Quarter{qs[0].ty, qs[0].tx0, 0};
    }
    TransformBlock(a.scratch, a.cin, plane_bytes, wp, qs, vbuf);
    if (WinogradPairs(a.cin) <= kFusedPairs) {
      const auto fused = clamp ? (a.cin > 2 ? FusedChannel<true, 2> : FusedChannel<true, 1>)
                               : (a.cin > 2 ? FusedChannel<false, 2> : FusedChannel<false, 1>);
      for (int64_t o = 0; o < a.cout; ++o) fused(a, range, vbuf, o, qs);
      continue;
    }
    for (int64_t m0 = 0; m0 < a.cout; m0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, a.cout - m0));
      switch (rows) {
        case 1: Products<1>(a, vbuf, m0, m); break;
        case 2: Products<2>(a, vbuf, m0, m); break;
        case 3: Products<3>(a, vbuf, m0, m); break;
        case 4: Products<4>(a, vbuf, m0, m); break;
        case 5: Products<5>(a, vbuf, m0, m); break;
        default: Products<6>(a, vbuf, m0, m); break;
      }
      for (int r = 0; r < rows; ++r) {
        if (clamp) {
          OutputTransform<true>(a, range, m, r, 0, m0 + r, qs);
          if (qs[2].count > 0) OutputTransform<true>(a, range, m, r, 1, m0 + r, qs);
        } else {
          OutputTransform<false>(a, range, m, r, 0, m0 + r, qs);
          if (qs[2].count > 0) OutputTransform<false>(a, range, m, r, 1, m0 + r, qs);
        }
      }
    }
  }
}

}  // namespace edge::engine
