// AVX2 tier (no VNNI): bytes widened to int16 and multiplied with vpmaddwd, which cannot
// saturate (vpmaddubsw could, so it is not used). A tile is 6 rows x 8 columns: per k-group
// the 8 columns' 32 bytes are widened once (two vpmovzxbw/vpmovsxbw from memory) and each row
// adds two vpmaddwd of them with its 4 left values, broadcast from a copy of the left rows
// widened to int16 once per call (one vpbroadcastq load, no shuffle per row and group). The 12
// accumulators hold (column, k-pair) partial sums, folded into columns once after the K loop;
// with the two operand vectors and the broadcast that is 15 of the 16 ymm registers.
// The AVX-VNNI tier (QGemmAvxVnni, further down) shares the tile's requantization and stores.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {
namespace {

constexpr int kTileRows = static_cast<int>(kQGemmAvx2TileRows);
// The widened left rows of one pass over the columns (int16 elements on the stack, 32 KB). A
// row longer than a tile's share of it (kp > 2730) is widened in the k-loop instead.
constexpr int64_t kWidenedElems = 16384;

// The products of 4 bytes, u8 x s8, add at most this much to a sum per k-group.
constexpr int64_t kGroupReach = 4 * 255 * 128;

// kRowCount rows of 8 ScaleSums results narrowed to bytes (PackQuads): out[r / 4] holds rows
// r..r+3 as 8-byte qwords. A row's lanes hold its columns in order, or (kHaddOrder) in
// vphaddd's order 0 1 4 5 | 2 3 6 7.
template <int kRowCount, bool kHaddOrder>
inline void PackRowsOf8(const QuantRange& range, const __m256i* q, __m256i* out) {
  const __m256i dword_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  // after the dword permute a row's 8 bytes are its columns 0 1 4 5 2 3 6 7
  const __m256i hadd_order = _mm256_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15,
                                              0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
  const __m256i zero = _mm256_setzero_si256();
#pragma GCC unroll 2
  for (int r = 0; r < kRowCount; r += 4) {
    // packs work per 128-bit lane: bytes come out as rows 0-3 lanes 0-3 | lanes 4-7
    const __m256i q0 = q[r], q1 = r + 1 < kRowCount ? q[r + 1] : zero;
    const __m256i q2 = r + 2 < kRowCount ? q[r + 2] : zero, q3 = r + 3 < kRowCount ? q[r + 3] : zero;
    __m256i rows = _mm256_permutevar8x32_epi32(PackQuads(range, q0, q1, q2, q3), dword_order);
    if constexpr (kHaddOrder) rows = _mm256_shuffle_epi8(rows, hadd_order);
    out[r / 4] = rows;
  }
}

// The same, stored: bytes[r][0..7].
template <int kRowCount, bool kHaddOrder>
inline void PackRowsOf8(const QuantRange& range, const __m256i* q, int8_t* bytes) {
  __m256i rows[(kRowCount + 3) / 4];
  PackRowsOf8<kRowCount, kHaddOrder>(range, q, rows);
#pragma GCC unroll 4
  for (int i = 0; i < (kRowCount + 3) / 4; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(bytes + 32 * i), rows[i]);
}

// Stores rows m0.. of a tile of kCols columns from n0 (bytes[r][kCols], in a buffer of
// buffer_bytes), honouring the grid (only its valid columns are outputs) and the last,
// partial column block.
template <int kCols>
inline void StoreTileRows(const QGemmArgs& a, const int8_t* bytes, int64_t buffer_bytes, int rows, int64_t m0,
                          int64_t n0) {
  const int64_t cols = std::min<int64_t>(kCols, a.n - n0);
  const int64_t row0 = a.grid_pitch == 0 ? 0 : n0 / a.grid_pitch;
  const int64_t col0 = a.grid_pitch == 0 ? n0 : n0 - row0 * a.grid_pitch;
  const int64_t width = a.grid_pitch == 0 ? a.n : a.grid_width;
  if (cols == kCols && col0 + kCols <= width) {
    int8_t* out = a.out + m0 * a.ldo + row0 * width + col0;
    for (int r = 0; r < rows; ++r) __builtin_memcpy(out + r * a.ldo, bytes + r * kCols, kCols);
    return;
  }
  // Otherwise one run of columns per grid row the tile touches, its valid part copied per row.
  // A run whose 8 (or, for a run of 9-16, 16) bytes end by the plane's last output is stored
  // as that many bytes, instead of a memcpy call of the run's length per row (a grid of pitch
  // 24 and width 23 ends every third tile with a 7-byte run). The bytes past the run are
  // garbage (other columns, or tile rows past the real ones), overwritten later by the runs
  // and tiles that own those outputs. That holds because within one call each output row's
  // column tiles are stored in increasing column order (Run and RunVnni: columns outside, row
  // tiles inside; a split of the columns across threads would break it) and ldo is at least
  // the plane.
  const int64_t plane_end = a.grid_pitch == 0 ? a.n : (a.n / a.grid_pitch) * width + std::min(a.n % a.grid_pitch, width);
  int64_t c = 0, row = row0, col = col0;
  while (c < cols) {
    const int64_t run = a.grid_pitch == 0 ? cols - c : std::min(cols - c, a.grid_pitch - col);
    const int64_t valid = std::min(run, width - col);
    const int64_t at = row * width + col;
    for (int r = 0; valid > 0 && r < rows; ++r) {
      int8_t* to = a.out + (m0 + r) * a.ldo + at;
      const int64_t from = r * kCols + c;
      if (valid <= 8 && at + 8 <= plane_end && from + 8 <= buffer_bytes) {
        __builtin_memcpy(to, bytes + from, 8);
      } else if (valid <= 16 && at + 16 <= plane_end && from + 16 <= buffer_bytes) {
        __builtin_memcpy(to, bytes + from, 16);
      } else {
        __builtin_memcpy(to, bytes + from, static_cast<size_t>(valid));
      }
    }
    c += run;
    col = 0;
    ++row;
  }
}

// A GEMV's columns n0..n0+8*kGroups-1 (sums[i]: columns 8i..8i+7 in order, without the
// bias) requantized and stored.
template <bool kClamp, int kGroups>
inline void StoreGemvColumns(const QGemmArgs& a, const QuantRange& range, const __m256i (&sums)[kGroups], int64_t n0) {
  __m256i q[kGroups];
#pragma GCC unroll 8
  for (int i = 0; i < kGroups; ++i) {
    const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bias + n0 + 8 * i));
    q[i] = ScaleSums<kClamp>(range, _mm256_add_epi32(sums[i], bias), _mm256_loadu_ps(a.mult + n0 + 8 * i));
  }
  alignas(32) int8_t bytes[kGroups][8];
  PackRowsOf8<kGroups, false>(range, q, &bytes[0][0]);  // "rows" here are the groups of 8 columns
  __builtin_memcpy(a.out + n0, &bytes[0][0], sizeof(bytes));
}

template <bool kLeftWeights>
inline __m256i WidenRight(const uint8_t* p) {
  // R holds activations (unsigned) when the weights are on the left, weights (signed) otherwise.
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return kLeftWeights ? _mm256_cvtepu8_epi16(bytes) : _mm256_cvtepi8_epi16(bytes);
}

// The 4 left values of k-group g of row r as int16 pairs broadcast to every 64-bit lane: from
// the widened copy ([group][row][4] int16, so a tile's rows are one pointer and constant
// offsets) or, without one, from the left bytes.
template <bool kLeftWeights, bool kWidened, int kRows>
inline __m256i BroadcastLeft(const void* left, int64_t lstride, int r, int64_t g) {
  if constexpr (kWidened) {
    int64_t word;
    __builtin_memcpy(&word, static_cast<const int16_t*>(left) + (g * kRows + r) * 4, 8);
    return _mm256_set1_epi64x(word);
  } else {
    int32_t bytes;
    __builtin_memcpy(&bytes, static_cast<const uint8_t*>(left) + r * lstride + g * 4, 4);
    const __m128i b = _mm_cvtsi32_si128(bytes);
    return _mm256_broadcastq_epi64(kLeftWeights ? _mm_cvtepi8_epi16(b) : _mm_cvtepu8_epi16(b));
  }
}

// Left rows [rows][kp] widened to int16 (signed weights or unsigned activations), laid out per
// tile of kTileRows rows (the last tile may be shorter) as [group][row in tile][4].
template <bool kLeftWeights>
void WidenLeft(const uint8_t* left, int64_t rows, int64_t kp, int16_t* out) {
  const int64_t groups = kp >> 2;
  for (int64_t t0 = 0; t0 < rows; t0 += kTileRows) {
    const int64_t tile_rows = std::min<int64_t>(kTileRows, rows - t0);
    for (int64_t r = 0; r < tile_rows; ++r) {
      const uint8_t* src = left + (t0 + r) * kp;
      int16_t* dst = out + t0 * kp + r * 4;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t bytes;
        __builtin_memcpy(&bytes, src + g * 4, 4);
        const __m128i b = _mm_cvtsi32_si128(bytes);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + g * tile_rows * 4),
                         kLeftWeights ? _mm_cvtepi8_epi16(b) : _mm_cvtepu8_epi16(b));
      }
    }
  }
}

// Rows m0..m0+kRows-1 (their left values at `left`: the widened tile, or the rows' bytes
// `lstride` apart) times columns n0..n0+7, requantized and stored.
template <bool kLeftWeights, bool kWidened, bool kClamp, int kRows>
void Tile(const QGemmArgs& a, const QuantRange& range, const void* left, int64_t lstride, int64_t m0, int64_t n0) {
  __m256i acc_lo[kRows], acc_hi[kRows];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) acc_lo[r] = acc_hi[r] = _mm256_setzero_si256();
  const uint8_t* rbase = a.right + n0 * 4;
  const int64_t rstride = a.np * 4;
  const int64_t groups = a.kp >> 2;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rg = a.right_groups != nullptr ? a.right_groups[g] + n0 * 4 : rbase + g * rstride;
    const __m256i r_lo = WidenRight<kLeftWeights>(rg);       // columns 0-3, 4 k each
    const __m256i r_hi = WidenRight<kLeftWeights>(rg + 16);  // columns 4-7
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m256i lv = BroadcastLeft<kLeftWeights, kWidened, kRows>(left, lstride, r, g);
      acc_lo[r] = MaddAdd(acc_lo[r], r_lo, lv);
      acc_hi[r] = MaddAdd(acc_hi[r], r_hi, lv);
    }
  }
  // hadd folds the k-pairs into columns in the order [c0 c1 c4 c5 | c2 c3 c6 c7]; the sums
  // stay in it (a column's bias and multiplier are permuted to match) until the bytes' shuffle
  __m256i col_bias = _mm256_setzero_si256();
  __m256 col_mult = _mm256_setzero_ps();
  if constexpr (!kLeftWeights) {
    col_bias = _mm256_permute4x64_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bias + n0)), 0xD8);
    col_mult = _mm256_castsi256_ps(
        _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_loadu_ps(a.mult + n0)), 0xD8));
  }
  __m256i q[kRows];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) {
    const __m256i sums = _mm256_hadd_epi32(acc_lo[r], acc_hi[r]);
    q[r] = kLeftWeights ? ScaleSums<kClamp>(range, _mm256_add_epi32(sums, _mm256_set1_epi32(a.bias[m0 + r])),
                                            _mm256_set1_ps(a.mult[m0 + r]))
                        : ScaleSums<kClamp>(range, _mm256_add_epi32(sums, col_bias), col_mult);
  }
  __m256i rows[2];  // rows 0-3, 4-5 as qwords
  PackRowsOf8<kRows, true>(range, q, rows);
  if (a.grid_pitch == 0 && n0 + 8 <= a.n) {
    // the common case, 8 outputs per row in place: each row's qword stored from the registers
    int8_t* out = a.out + m0 * a.ldo + n0;
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m128i half = r % 4 < 2 ? _mm256_castsi256_si128(rows[r / 4]) : _mm256_extracti128_si256(rows[r / 4], 1);
      // _mm_storel_epi64 stores through an unaligned type (_mm_storeh_pd's double store would
      // be a misaligned access: ldo need not be a multiple of 8)
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + r * a.ldo), r % 2 == 0 ? half : _mm_unpackhi_epi64(half, half));
    }
    return;
  }
  alignas(32) int8_t bytes[8][8];
  for (int i = 0; i < (kRows + 3) / 4; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(bytes[4 * i]), rows[i]);
  StoreTileRows<8>(a, &bytes[0][0], sizeof(bytes), kRows, m0, n0);
}

template <bool kLeftWeights, bool kWidened, bool kClamp>
void RowTiles(const QGemmArgs& a, const QuantRange& range, const void* left, int64_t lstride, int64_t m_begin,
              int64_t m_end, int64_t n0) {
  const size_t elem = kWidened ? sizeof(int16_t) : sizeof(uint8_t);
  for (int64_t m0 = m_begin; m0 < m_end; m0 += kTileRows) {
    // a widened tile starts at its first row's offset in [rows][kp] order
    const void* l = static_cast<const char*>(left) + static_cast<size_t>((m0 - m_begin) * a.kp) * elem;
    WithCount<kTileRows>(m_end - m0, [&](auto rows) {
      Tile<kLeftWeights, kWidened, kClamp, decltype(rows)::value>(a, range, l, lstride, m0, n0);
    });
  }
}

inline __m256i Broadcast4(const uint8_t* p) {
  int32_t word;
  __builtin_memcpy(&word, p, 4);
  return _mm256_set1_epi32(word);
}

// One activation row (batch-1 Gemm, a GEMV) times a panel of weight columns, eight independent
// accumulators per broadcast. AVX2 (`left` the row widened, [group][4] int16): 32 columns, per
// k-group 128 bytes of weights (two cache lines) widened in four 32-byte halves, 8 vpmaddwd,
// so the loop overhead per weight byte is a quarter of the 8-column tile's. AVX-VNNI (`left`
// unused, the row's bytes read in place): 64 columns, 8 vpdpbusd of 32 bytes each. Every
// column of the panel must be an output (no grid, none past n).
template <bool kVnni, bool kClamp>
void GemvPanel(const QGemmArgs& a, const QuantRange& range, const int16_t* left, int64_t n0) {
  __m256i acc[8];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_si256();
  const int64_t groups = a.kp >> 2;
  const int64_t rstride = a.np * 4;
  const uint8_t* rg = a.right + n0 * 4;
  for (int64_t g = 0; g < groups; ++g, rg += rstride) {
    if constexpr (kVnni) {
      const __m256i lv = Broadcast4(a.left + g * 4);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        acc[j] = DpbusdVex(acc[j], lv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rg + 32 * j)));
      }
    } else {
      int64_t word;
      __builtin_memcpy(&word, left + g * 4, 8);
      const __m256i lv = _mm256_set1_epi64x(word);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) acc[j] = MaddAdd(acc[j], WidenRight<false>(rg + 16 * j), lv);
    }
  }
  if constexpr (kVnni) {
    StoreGemvColumns<kClamp>(a, range, acc, n0);
  } else {
    __m256i sums[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      // acc[2i], acc[2i+1]: columns 8i..8i+3 and 8i+4..8i+7 as (column, k-pair) sums
      sums[i] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[2 * i], acc[2 * i + 1]), 0xD8);
    }
    StoreGemvColumns<kClamp>(a, range, sums, n0);
  }
}

template <bool kLeftWeights, bool kClamp>
void Run(const QGemmArgs& a, const QuantRange& range) {
  // Rows per pass: as many whole tiles as the widened buffer holds.
  const int64_t chunk = kWidenedElems / a.kp / kTileRows * kTileRows;
  if (chunk == 0) {
    for (int64_t n0 = 0; n0 < a.n; n0 += 8) RowTiles<kLeftWeights, false, kClamp>(a, range, a.left, a.kp, 0, a.m, n0);
    return;
  }
  alignas(32) int16_t widened[kWidenedElems];
  for (int64_t mc = 0; mc < a.m; mc += chunk) {
    const int64_t m_end = std::min(a.m, mc + chunk);
    // Weights widened at load are used in place: a chunk is whole tiles, so its layout is the
    // one WidenLeft would give it.
    const int16_t* rows = widened;
    if (kLeftWeights && a.left_widened != nullptr) {
      rows = a.left_widened + mc * a.kp;
    } else {
      WidenLeft<kLeftWeights>(a.left + mc * a.kp, m_end - mc, a.kp, widened);
    }
    int64_t n0 = 0;
    if constexpr (!kLeftWeights) {
      // a GEMV: 32-column panels while they lie inside the outputs and the packed columns
      if (a.m == 1 && a.grid_pitch == 0 && a.right_groups == nullptr) {
        for (; n0 + 32 <= a.n && n0 + 32 <= a.np; n0 += 32) GemvPanel<false, kClamp>(a, range, rows, n0);
      }
    }
    // Columns outside, the chunk's row tiles inside: a column panel is reused from L1 by them.
    for (; n0 < a.n; n0 += 8) RowTiles<kLeftWeights, true, kClamp>(a, range, rows, a.kp, mc, m_end, n0);
  }
}

// ---- AVX-VNNI tier: the same u8 x s8 4-deep dot product as the AVX-512 VNNI tier, on ymm.
// vpdpbusd sums four exact byte products into each int32 lane, so nothing is widened and
// nothing can saturate: a 6 x 16 tile is, per k-group, two 32-byte loads of the right operand
// (16 columns x 4 k), one 4-byte broadcast per row and 12 vpdpbusd into 12 accumulators that
// hold whole columns (no k-pair folding).

// Rows m0..m0+kRows-1 times columns n0..n0+15, requantized and stored.
template <bool kLeftWeights, bool kClamp, int kRows>
void VnniTile(const QGemmArgs& a, const QuantRange& range, int64_t m0, int64_t n0) {
  __m256i acc[kRows][2];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const uint8_t* left = a.left + m0 * a.kp;
  const uint8_t* rbase = a.right + n0 * 4;
  const int64_t rstride = a.np * 4;
  const int64_t groups = a.kp >> 2;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rg = a.right_groups != nullptr ? a.right_groups[g] + n0 * 4 : rbase + g * rstride;
    const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rg));       // columns 0-7
    const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rg + 32));  // columns 8-15
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m256i lv = Broadcast4(left + r * a.kp + g * 4);
      // vpdpbusd multiplies unsigned bytes by signed ones: activations by weights
      acc[r][0] = kLeftWeights ? DpbusdVex(acc[r][0], r0, lv) : DpbusdVex(acc[r][0], lv, r0);
      acc[r][1] = kLeftWeights ? DpbusdVex(acc[r][1], r1, lv) : DpbusdVex(acc[r][1], lv, r1);
    }
  }
  __m256i q[2 * kRows];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) {
    for (int h = 0; h < 2; ++h) {
      const __m256i bias = kLeftWeights ? _mm256_set1_epi32(a.bias[m0 + r])
                                        : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bias + n0 + 8 * h));
      const __m256 mult = kLeftWeights ? _mm256_set1_ps(a.mult[m0 + r]) : _mm256_loadu_ps(a.mult + n0 + 8 * h);
      q[2 * r + h] = ScaleSums<kClamp>(range, _mm256_add_epi32(acc[r][h], bias), mult);
    }
  }
  alignas(32) int8_t bytes[6][16];
  PackRowsOf8<2 * kRows, false>(range, q, &bytes[0][0]);  // "rows" of 8: (row, half) -> bytes[row][8 * half]
  StoreTileRows<16>(a, &bytes[0][0], sizeof(bytes), kRows, m0, n0);
}

template <bool kLeftWeights, bool kClamp>
void RunVnni(const QGemmArgs& a, const QuantRange& range) {
  int64_t n0 = 0;
  if constexpr (!kLeftWeights) {
    if (a.m == 1 && a.grid_pitch == 0 && a.right_groups == nullptr) {
      for (; n0 + 64 <= a.n && n0 + 64 <= a.np; n0 += 64) GemvPanel<true, kClamp>(a, range, nullptr, n0);
    }
  }
  // Columns outside, row tiles inside: a 16-column panel of the right operand is reused from
  // L1 by every row tile (np is a multiple of 16, so a panel never reads past it).
  for (; n0 < a.n; n0 += 16) {
    for (int64_t m0 = 0; m0 < a.m; m0 += kTileRows) {
      WithCount<kTileRows>(a.m - m0, [&](auto rows) { VnniTile<kLeftWeights, kClamp, decltype(rows)::value>(a, range, m0, n0); });
    }
  }
}

// The call's requantization form (WithQuantRange): a channel's sum is its bias plus at most
// kp / 4 k-groups of products.
template <typename F>
void WithClamp(const QGemmArgs& a, F&& kernel) {
  const int64_t channels = a.weights == QGemmWeights::kLeft ? a.m : a.n;
  WithQuantRange(a.bias, a.mult, channels, (a.kp >> 2) * kGroupReach, a.qmin, a.qmax, a.zero_point, kernel);
}

}  // namespace

void QGemmAvx2(const QGemmArgs& a) {
  WithClamp(a, [&](const QuantRange& range, auto clamp) {
    if (a.weights == QGemmWeights::kLeft) {
      Run<true, decltype(clamp)::value>(a, range);
    } else {
      Run<false, decltype(clamp)::value>(a, range);
    }
  });
}

void QGemmAvxVnni(const QGemmArgs& a) {
  WithClamp(a, [&](const QuantRange& range, auto clamp) {
    if (a.weights == QGemmWeights::kLeft) {
      RunVnni<true, decltype(clamp)::value>(a, range);
    } else {
      RunVnni<false, decltype(clamp)::value>(a, range);
    }
  });
}

}  // namespace edge::engine
