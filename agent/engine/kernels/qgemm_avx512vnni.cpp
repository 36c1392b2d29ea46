// AVX-512 VNNI tier: one vpdpbusd per 4-deep multiply-accumulate of 16 output columns.
// Compiled with -mavx512* -mavx512vnni for this file only; reached through QGemmForTier.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/avx512_common.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_grid_avx512.h"

namespace edge::engine {
namespace {

// vpdpbusd through inline assembly: with the intrinsic, GCC 12 copies every accumulator
// before the instruction and keeps a shadow copy on the stack, which costs ~3x throughput.
inline __m512i Dpbusd(__m512i acc, __m512i unsigned_bytes, __m512i signed_bytes) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(unsigned_bytes), "v"(signed_bytes));
  return acc;
}

constexpr int kMaxVecs = 4;               // 6 rows x 4 vectors = 24 accumulators of the 32 zmm registers
constexpr int kPanelLanes = kMaxVecs * 16;  // int32 per row of a tile's partial sums

// K-blocking: a tile's column panel of the right operand (up to 4 vectors x K bytes) stays in
// L1 while the row tiles below it reuse it up to K = 512 (32 KB); past that (4 vectors x 1024
// deep is 64 KB) the k-groups are split into equal blocks of at most kBlockGroups. Row blocks
// of kBlockRows rows are the outer loop, column panels inside them: a block's left rows (120 x
// 1024 bytes at K = 1024) stay in L2 while every panel passes over them, instead of the whole
// left operand streaming once per panel. Within a row block and panel the row tiles run over
// one k-block after the other, reading a contiguous copy of the block's panel (32 KB), and
// their partial sums wait in an int32 buffer on the stack (30 KB) between k-blocks. Measured
// at 1024^3 (scratch driver, old/new alternated, 10 rounds): this order with 128 groups x 120
// rows 81-84 % of the VNNI peak against 76-80 % for the previous column-panel-outer order
// with 96 x 96 (ratio of medians 1.05-1.11); 96 groups or 96 rows lose part of the gain
// (more partial-sum loads/stores per vpdpbusd), 192 rows gains ~1 point more but needs 48 KB
// of partial sums. Prefetching the next tile's left rows measured neutral.
constexpr int64_t kMaxUnblockedGroups = 128;
constexpr int64_t kBlockGroups = 128;
constexpr int64_t kBlockRows = 120;  // a multiple of both tile heights (6 and 8)

// Requantization constants of one call. The sequence per row of a tile is
//   x = min(hi, (float)acc * mult);  y = cvtps2dq(x)                      (int32, y <= qmax - zp)
//   bytes = max(packs_epi16(adds_epi16(packs_epi32(y..), zp)), qmin)
// which stores the reference's bytes: every step is monotone and exact on [qmin - zp,
// qmax - zp], so an x below the low bound (which the reference clamps to qmin - zp before
// rounding) still ends at or below qmin and is clamped there; the high bound must be applied in
// float, where cvtps2dq of a too large x would turn into INT_MIN, and after it nothing can
// exceed qmax. (Multipliers are finite: lowering rejects any other.) Where qmax is 127 and no
// x can reach 2^31 (clamp_hi false), the min is left out: cvtps2dq is then exact, and the
// saturating packs take any y above 127 - zp to 127.
struct Epilogue {
  bool clamp_hi;
  // Optional, weights on the left: a per-column term added to the sums with the per-row bias
  // (QMatMulAvx512Vnni's zero-point correction), [np]
  const int32_t* col_bias = nullptr;
  __m512 hi;  // qmax - zp
  PackBytes64 pack{-128, 0};
};

Epilogue MakeEpilogue(const QGemmArgs& a) {
  Epilogue e;
  // the AVX2 kernels' test (avx2_common.h): every |bias| + K x 255 x 128 (u8 x s8 products)
  // times its multiplier below 2^29; StoreTileColumnAdd clamps anyway
  const int64_t channels = a.weights == QGemmWeights::kLeft ? a.m : a.n;
  e.clamp_hi = a.qmax != 127 || a.column_add != nullptr ||
               !Unclamped(a.bias, a.mult, channels, a.kp * 255 * 128, a.zero_point);
  e.hi = _mm512_set1_ps(static_cast<float>(a.qmax - a.zero_point));
  e.pack = PackBytes64(a.qmin, a.zero_point);
  return e;
}

// The packed sequence needs the zero point to fit int16 with room for qmin - zp, and int8
// bounds (which int8 outputs have); anything else goes to the scalar kernel.
bool EpilogueFits(const QGemmArgs& a) {
  return a.qmin >= -128 && a.qmax <= 127 && a.qmin <= a.qmax && a.zero_point >= -32000 && a.zero_point <= 32000;
}

// Where a tile reads the right operand's k-groups: through the per-group table, or from
// `first` (k-group g0, column n0) on at a constant stride.
struct RightSource {
  const uint8_t* const* groups = nullptr;
  const uint8_t* first = nullptr;
  int64_t stride = 0;
};

// One column panel (kVecs x 16 columns from n0) of the output: where its bytes go.
struct Panel {
  int64_t n0 = 0;
  __mmask64 mask = 0;  // plain store: lanes that are columns < n
  PanelRuns runs;      // grid store
};

// Four vectors of requantized int32 (y[0..count), count <= 4) to 64 bytes in their order.
__attribute__((always_inline)) inline __m512i Narrow(const __m512i (&y)[4], int count, const Epilogue& e) {
  // Missing vectors repeat the last one: their bytes land in lanes that are not stored.
  return e.pack(y[0], y[count > 1 ? 1 : 0], y[count > 2 ? 2 : count - 1], y[count > 3 ? 3 : count - 1]);
}

// A store mask over a row's columns moved to the lanes that hold them (sh = lane - column).
__attribute__((always_inline)) inline __mmask64 ShiftMask(__mmask64 columns, int sh) {
  return sh >= 0 ? columns << sh : columns >> -sh;
}

// One vector of sums to int32 y (see Epilogue).
template <bool kClampHi>
__attribute__((always_inline)) inline __m512i Requantize(__m512i acc, __m512 mult, const Epilogue& e) {
  const __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
  return _mm512_cvtps_epi32(kClampHi ? _mm512_min_ps(e.hi, x) : x);
}

// A tile's sums requantized and stored (see Epilogue).
template <bool kLeftWeights, int kRows, int kVecs, bool kGrid, bool kClampHi>
__attribute__((always_inline)) inline void StoreTileAs(const QGemmArgs& a, const Epilogue& e, const Panel& p,
                                                       int64_t m0, const __m512i (&acc)[kRows][kVecs]) {
  const int64_t n0 = p.n0;
  // Locals, not the arguments' fields: the int8 stores below could alias those, which would
  // make the compiler reload them after every store.
  const float* mult = a.mult;
  const uintptr_t out = reinterpret_cast<uintptr_t>(a.out + m0 * a.ldo);
  const int64_t ldo = a.ldo;
  // The tile's vectors in row-major order, four at a time narrowed into one vector of bytes
  // (a row's vectors are contiguous columns; with 1-3 vectors per row, one vector of bytes
  // holds the ends of two rows or several rows, each row its own masked store).
  constexpr int kVectors = kRows * kVecs;
  if constexpr (kLeftWeights && kVecs == 3 && kGrid) {
    // Three vectors per row on a grid: each row narrowed on its own into lanes 0-47, so every
    // row stores through the panel's own runs (held in registers) at no lane shift. (Plain
    // stores keep the four-vector narrowing below: one mask per row either way, and the
    // per-row packs measured 2-3 % slower on efflite_swish and mnas_se.)
    // (the panel's fields read into locals: the stores could alias them)
    const int count = p.runs.count;
    const __mmask64 mask0 = p.runs.mask[0], mask1 = p.runs.mask[1];
    const int64_t off0 = p.runs.offset[0], off1 = p.runs.offset[1];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 m = _mm512_set1_ps(mult[m0 + r]);
      __m512i y[4];
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) y[v] = Requantize<kClampHi>(acc[r][v], m, e);
      y[3] = y[2];
      const __m512i bytes = Narrow(y, 3, e);
      const uintptr_t base = out + static_cast<uintptr_t>(r * ldo);
      if (count > 0) _mm512_mask_storeu_epi8(reinterpret_cast<void*>(base + static_cast<uintptr_t>(off0)), mask0, bytes);
      if (count > 1) _mm512_mask_storeu_epi8(reinterpret_cast<void*>(base + static_cast<uintptr_t>(off1)), mask1, bytes);
      for (int i = 2; i < count; ++i) {
        _mm512_mask_storeu_epi8(reinterpret_cast<void*>(base + static_cast<uintptr_t>(p.runs.offset[i])), p.runs.mask[i],
                                bytes);
      }
    }
    return;
  }
#pragma GCC unroll 8
  for (int j = 0; j < (kVectors + 3) / 4; ++j) {
    __m512i y[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const int f = std::min(4 * j + q, kVectors - 1), r = f / kVecs, v = f % kVecs;
      const __m512 m = kLeftWeights ? _mm512_set1_ps(mult[m0 + r]) : _mm512_loadu_ps(mult + n0 + v * 16);
      y[q] = Requantize<kClampHi>(acc[r][v], m, e);
    }
    const __m512i bytes = Narrow(y, std::min(4, kVectors - 4 * j), e);
    const int r_first = 4 * j / kVecs, r_last = std::min(4 * j + 3, kVectors - 1) / kVecs;
#pragma GCC unroll 8
    for (int r = r_first; r <= r_last; ++r) {
      // Lane l of `bytes` holds column l - sh of row r (masked-off lanes are never written, so
      // the store's base may lie before the row).
      const int sh = 16 * (r * kVecs - 4 * j);
      const uintptr_t base = out + static_cast<uintptr_t>(r * ldo - sh);
      if constexpr (!kGrid) {
        _mm512_mask_storeu_epi8(reinterpret_cast<void*>(base + static_cast<uintptr_t>(n0)), ShiftMask(p.mask, sh), bytes);
      } else {
        for (int i = 0; i < p.runs.count; ++i) {
          // the panel's runs cover all its rows' columns: most miss this row's lanes
          const __mmask64 lanes = ShiftMask(p.runs.mask[i], sh);
          if (lanes == 0) continue;
          _mm512_mask_storeu_epi8(reinterpret_cast<void*>(base + static_cast<uintptr_t>(p.runs.offset[i])), lanes,
                                  bytes);
        }
      }
    }
  }
}

// A weights-right tile's sums through QGemmArgs::column_add: per vector of 16 columns the code
// (Requantize with the float clamp, the low bound as an int32 max: the code minus the zero
// point), then the one-pass float Add's operations in its order (QFloatBinaryRun16 in
// elementwise_avx512.cpp: the dequantizing multiply, the add, the clamp, the division and the
// shared SaturateLanes16), 16 bytes per masked store.
template <int kRows, int kVecs>
__attribute__((always_inline)) inline void StoreTileColumnAdd(const QGemmArgs& a, const Epilogue& e, const Panel& p,
                                                              int64_t m0, const __m512i (&acc)[kRows][kVecs]) {
  const QGemmColumnAdd& c = *a.column_add;
  const __m512 scale_in = _mm512_set1_ps(c.scale_in), scale_out = _mm512_set1_ps(c.scale_out);
  const __m512 lo = _mm512_set1_ps(c.lo), hi = _mm512_set1_ps(c.hi);
  const OutputRange16 range(-128, 127, c.zero_point_out);
  const __m512i code_lo = _mm512_set1_epi32(a.qmin - a.zero_point);
  int8_t* const out = a.out + m0 * a.ldo;
  const int64_t ldo = a.ldo, n0 = p.n0;
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) {
    const int64_t j = n0 + 16 * v;
    const __mmask16 lanes = a.n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max<int64_t>(a.n - j, 0)) - 1);
    const __m512 mult = _mm512_loadu_ps(a.mult + j), add = _mm512_loadu_ps(c.add + j);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512i code = _mm512_max_epi32(Requantize<true>(acc[r][v], mult, e), code_lo);
      const __m512 sum = _mm512_add_ps(_mm512_mul_ps(scale_in, _mm512_cvtepi32_ps(code)), add);
      const __m512 clamped = _mm512_min_ps(hi, _mm512_max_ps(lo, sum));
      _mm_mask_storeu_epi8(out + r * ldo + j, lanes, range(_mm512_div_ps(clamped, scale_out)));
    }
  }
}

// (the GEMV's tiles: no column add, Run keeps it off that path)
template <bool kLeftWeights, int kRows, int kVecs, bool kGrid>
__attribute__((always_inline)) inline void StoreTileRequantized(const QGemmArgs& a, const Epilogue& e, const Panel& p,
                                                                int64_t m0, const __m512i (&acc)[kRows][kVecs]) {
  if (e.clamp_hi) {
    StoreTileAs<kLeftWeights, kRows, kVecs, kGrid, true>(a, e, p, m0, acc);
  } else {
    StoreTileAs<kLeftWeights, kRows, kVecs, kGrid, false>(a, e, p, m0, acc);
  }
}

template <bool kLeftWeights, int kRows, int kVecs, bool kGrid>
__attribute__((always_inline)) inline void StoreTile(const QGemmArgs& a, const Epilogue& e, const Panel& p,
                                                     int64_t m0, const __m512i (&acc)[kRows][kVecs]) {
  if constexpr (!kLeftWeights && !kGrid) {
    if (a.column_add != nullptr) {
      StoreTileColumnAdd<kRows, kVecs>(a, e, p, m0, acc);
      return;
    }
  }
  StoreTileRequantized<kLeftWeights, kRows, kVecs, kGrid>(a, e, p, m0, acc);
}

// One tile: kRows rows x kVecs vectors of 16 columns, over the k-groups [g0, g1). `first`:
// the accumulators start at the bias (the same int32 sum as adding it at the end), else at
// `partial`; `last`: requantize and store, else save the sums to `partial` (row stride 64).
// kGrid: the columns are a grid (QGemmArgs::grid_pitch); a template parameter so that the
// plain store keeps its one masked store per row.
template <bool kLeftWeights, int kRows, int kVecs, bool kGrid>
void Tile(const QGemmArgs& a, const Epilogue& e, const Panel& p, const RightSource& rs, int64_t m0, int64_t g0,
          int64_t g1, int32_t* partial, bool first, bool last) {
  const int64_t n0 = p.n0;
  __m512i acc[kRows][kVecs];
  if (first) {
    if constexpr (kLeftWeights) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const __m512i bias = _mm512_set1_epi32(a.bias[m0 + r]);
#pragma GCC unroll 4
        for (int v = 0; v < kVecs; ++v) acc[r][v] = bias;
      }
      if (e.col_bias != nullptr) {
#pragma GCC unroll 4
        for (int v = 0; v < kVecs; ++v) {
          const __m512i cb = _mm512_loadu_si512(e.col_bias + n0 + v * 16);
#pragma GCC unroll 8
          for (int r = 0; r < kRows; ++r) acc[r][v] = _mm512_add_epi32(acc[r][v], cb);
        }
      }
    } else {
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        const __m512i bias = _mm512_loadu_si512(a.bias + n0 + v * 16);
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) acc[r][v] = bias;
      }
    }
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_load_si512(partial + r * kPanelLanes + v * 16);
    }
  }
  const uint8_t* lrow = a.left + m0 * a.kp;
  const int64_t lstride = a.kp;
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
  if (rs.groups != nullptr) {
    for (int64_t g = g0; g < g1; ++g) step(rs.groups[g] + n0 * 4, lrow + g * 4);
  } else {
    // Evenly spaced k-groups: pointers advance by a constant, no per-group table lookup.
    const uint8_t* rg = rs.first;
    const int64_t rstride = rs.stride;
    for (int64_t g = g0; g < g1; ++g, rg += rstride) step(rg, lrow + g * 4);
  }
  if (!last) {
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) _mm512_store_si512(partial + r * kPanelLanes + v * 16, acc[r][v]);
    }
    return;
  }
  StoreTile<kLeftWeights, kRows, kVecs, kGrid>(a, e, p, m0, acc);
}

// One row (M = 1, weights right: a batch-1 Gemm, a GEMV) over all k-groups of a column panel
// of kVecs vectors, with kChains sets of accumulators taking the k-groups in turn: the single
// row's tile has only kVecs dependency chains, each vpdpbusd waiting for the one before it,
// which left the weight stream at half the rate of a plain read. The sets are added before
// the requantization (int32 sums wrap, so any order gives the same bits).
template <int kVecs, int kChains>
void GemvTile(const QGemmArgs& a, const Epilogue& e, const Panel& p, const RightSource& rs, int64_t groups) {
  const int64_t n0 = p.n0;
  __m512i acc[kChains][kVecs];
#pragma GCC unroll 16
  for (int v = 0; v < kVecs; ++v) {
    acc[0][v] = _mm512_loadu_si512(a.bias + n0 + v * 16);
#pragma GCC unroll 4
    for (int c = 1; c < kChains; ++c) acc[c][v] = _mm512_setzero_si512();
  }
  const uint8_t* rg = rs.first;
  const int64_t rstride = rs.stride;
  const uint8_t* lg = a.left;
  auto step = [&](int c, const uint8_t* r, const uint8_t* l) __attribute__((always_inline)) {
    int32_t word;
    __builtin_memcpy(&word, l, 4);
    const __m512i lv = _mm512_set1_epi32(word);
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) acc[c][v] = Dpbusd(acc[c][v], lv, _mm512_loadu_si512(r + v * 64));
  };
  int64_t g = 0;
  for (; g + kChains <= groups; g += kChains, rg += kChains * rstride, lg += 4 * kChains) {
#pragma GCC unroll 4
    for (int c = 0; c < kChains; ++c) step(c, rg + c * rstride, lg + 4 * c);
  }
  for (; g < groups; ++g, rg += rstride, lg += 4) step(0, rg, lg);
  __m512i sum[1][kVecs];
#pragma GCC unroll 16
  for (int v = 0; v < kVecs; ++v) {
    sum[0][v] = acc[0][v];
#pragma GCC unroll 4
    for (int c = 1; c < kChains; ++c) sum[0][v] = _mm512_add_epi32(sum[0][v], acc[c][v]);
  }
  if constexpr (kVecs <= 4) {
    StoreTileRequantized<false, 1, kVecs, false>(a, e, p, 0, sum);
  } else {
    static_assert(kVecs % 4 == 0, "a wide panel is whole 64-column quads, all of them outputs");
#pragma GCC unroll 4
    for (int q = 0; q < kVecs / 4; ++q) {
      const __m512i quad[1][4] = {{sum[0][4 * q], sum[0][4 * q + 1], sum[0][4 * q + 2], sum[0][4 * q + 3]}};
      Panel pq;
      pq.n0 = n0 + 64 * q;
      pq.mask = ~__mmask64{0};
      StoreTileRequantized<false, 1, 4, false>(a, e, pq, 0, quad);
    }
  }
}

template <bool kLeftWeights, int kRows, bool kGrid>
void TileRows(const QGemmArgs& a, const Epilogue& e, const Panel& p, const RightSource& rs, int vecs, int64_t m0,
              int64_t g0, int64_t g1, int32_t* partial, bool first, bool last) {
  // Weights left: up to 8 rows x 3 vectors; weights right: up to 6 rows x 4 vectors.
  switch (vecs) {
    case 1: Tile<kLeftWeights, kRows, 1, kGrid>(a, e, p, rs, m0, g0, g1, partial, first, last); break;
    case 2: Tile<kLeftWeights, kRows, 2, kGrid>(a, e, p, rs, m0, g0, g1, partial, first, last); break;
    case 3: Tile<kLeftWeights, kRows, 3, kGrid>(a, e, p, rs, m0, g0, g1, partial, first, last); break;
    default:
      if constexpr (!kLeftWeights && kRows <= 6) {
        Tile<kLeftWeights, kRows, 4, kGrid>(a, e, p, rs, m0, g0, g1, partial, first, last);
      }
      break;
  }
}

template <bool kLeftWeights, bool kGrid>
void AnyTile(const QGemmArgs& a, const Epilogue& e, const Panel& p, const RightSource& rs, int vecs, int64_t rows,
             int64_t m0, int64_t g0, int64_t g1, int32_t* partial, bool first, bool last) {
  switch (rows) {
    case 1: TileRows<kLeftWeights, 1, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    case 2: TileRows<kLeftWeights, 2, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    case 3: TileRows<kLeftWeights, 3, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    case 4: TileRows<kLeftWeights, 4, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    case 5: TileRows<kLeftWeights, 5, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    case 6: TileRows<kLeftWeights, 6, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    case 7: TileRows<kLeftWeights, 7, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
    default: TileRows<kLeftWeights, 8, kGrid>(a, e, p, rs, vecs, m0, g0, g1, partial, first, last); break;
  }
}

// Copies k-groups [g0, g1) of a column panel (vecs x 64 bytes each) into `panel`, one group
// every kPanelLanes * 4 bytes: a k-block of the right operand on 4 pages instead of one page
// per k-group (its k-groups are np * 4 bytes apart), which the DTLB holds while the row tiles
// below reuse it.
void PackPanel(const QGemmArgs& a, int64_t n0, int vecs, int64_t g0, int64_t g1, uint8_t* panel) {
  for (int64_t g = g0; g < g1; ++g, panel += kPanelLanes * 4) {
    const uint8_t* src = (a.right_groups != nullptr ? a.right_groups[g] : a.right + g * a.np * 4) + n0 * 4;
    for (int v = 0; v < vecs; ++v) _mm512_store_si512(panel + v * 64, _mm512_loadu_si512(src + v * 64));
  }
}

// Conv (weights left) has few rows (output channels, usually a multiple of 8) and many
// columns: 8 x 48 tiles. Gemm (weights right) has many rows: 6 x 64 tiles (12 x 32 measured
// slower). Both use 24 accumulators. Unblocked K: column panels outside, row tiles inside, so a
// panel of the right operand is reused from L1 by every row tile; blocked K: row blocks
// outside (see kBlockRows).
template <bool kLeftWeights, bool kGrid>
void Run(const QGemmArgs& a, const int32_t* col_bias = nullptr) {
  constexpr int kRowsPerTile = kLeftWeights ? 8 : 6;
  constexpr int kVecsPerTile = kLeftWeights ? 3 : kMaxVecs;
  static_assert(kBlockRows % kRowsPerTile == 0);
  Epilogue e = MakeEpilogue(a);
  if (col_bias != nullptr) {
    e.col_bias = col_bias;
    e.clamp_hi = true;  // (MakeEpilogue's bound leaves the column term out)
  }
  const int64_t groups = a.kp >> 2;
  // Equal k-blocks (no short tail block) when K-blocking.
  // (a weights-left panel is 3 vectors wide: the same 32 KB holds 170 of its k-groups; convs of
  // 64-72 channels, K = 576-648, measured 3-8 % faster unblocked)
  const int64_t unblocked = kMaxUnblockedGroups * kMaxVecs / kVecsPerTile;
  const int64_t blocks = groups <= unblocked ? 1 : (groups + kBlockGroups - 1) / kBlockGroups;
  const int64_t block_groups = (groups + blocks - 1) / std::max<int64_t>(blocks, 1);
  // The column panel starting at n0: its width in vectors, and where its bytes go.
  auto panel_at = [&](int64_t n0, Panel& p) {
    const int64_t lanes = std::min<int64_t>(16 * kVecsPerTile, a.n - n0);
    p.n0 = n0;
    if constexpr (kGrid) {
      GridRuns(a, n0, p.runs, lanes);
    } else {
      p.mask = lanes >= 64 ? ~__mmask64{0} : (__mmask64{1} << lanes) - 1u;
    }
    return static_cast<int>((lanes + 15) / 16);
  };
  Panel p;
  // A GEMV reuses no panel across row tiles: no K-blocking, more chains per tile instead.
  if constexpr (!kLeftWeights && !kGrid) {
    if (a.m == 1 && a.right_groups == nullptr && a.column_add == nullptr) {
      RightSource whole;
      whole.stride = a.np * 4;
      int64_t n0 = 0;
      // 256 columns at a time while they are all outputs: each k-group's 1 KB read in one
      // sequential run (16 chains), the rest in 64-column panels
      for (; n0 + 256 <= a.n; n0 += 256) {
        p.n0 = n0;
        whole.first = a.right + n0 * 4;
        GemvTile<16, 1>(a, e, p, whole, groups);
      }
      for (; n0 < a.n; n0 += 16 * kVecsPerTile) {
        const int vecs = panel_at(n0, p);
        whole.first = a.right + n0 * 4;
        switch (vecs) {
          case 1: GemvTile<1, 4>(a, e, p, whole, groups); break;
          case 2: GemvTile<2, 4>(a, e, p, whole, groups); break;
          case 3: GemvTile<3, 4>(a, e, p, whole, groups); break;
          default: GemvTile<4, 4>(a, e, p, whole, groups); break;
        }
      }
      return;
    }
  }
  if (blocks <= 1) {
    RightSource whole;  // the operand in place
    whole.groups = a.right_groups;
    whole.stride = a.np * 4;
    for (int64_t n0 = 0; n0 < a.n; n0 += 16 * kVecsPerTile) {
      const int vecs = panel_at(n0, p);
      whole.first = a.right_groups == nullptr ? a.right + n0 * 4 : nullptr;  // else unused (and right may be null)
      for (int64_t m0 = 0; m0 < a.m; m0 += kRowsPerTile) {
        AnyTile<kLeftWeights, kGrid>(a, e, p, whole, vecs, std::min<int64_t>(kRowsPerTile, a.m - m0), m0, 0, groups,
                                     nullptr, true, true);
      }
    }
    return;
  }
  // K-blocked: row blocks outside, column panels inside, so a block's left rows (kBlockRows x
  // kp bytes, 120 KB at K = 1024) stay in L2 while every column panel passes over them, and
  // the left operand is read from memory once instead of once per column panel.
  // Both written before they are read.
  alignas(64) int32_t partial[kBlockRows * kPanelLanes];
  alignas(64) uint8_t panel[kBlockGroups * kPanelLanes * 4];
  RightSource packed;
  packed.first = panel;
  packed.stride = kPanelLanes * 4;
  for (int64_t mb = 0; mb < a.m; mb += kBlockRows) {
    const int64_t mend = std::min(a.m, mb + kBlockRows);
    for (int64_t n0 = 0; n0 < a.n; n0 += 16 * kVecsPerTile) {
      const int vecs = panel_at(n0, p);
      for (int64_t g0 = 0; g0 < groups; g0 += block_groups) {
        const int64_t g1 = std::min(groups, g0 + block_groups);
        PackPanel(a, n0, vecs, g0, g1, panel);
        for (int64_t m0 = mb; m0 < mend; m0 += kRowsPerTile) {
          AnyTile<kLeftWeights, kGrid>(a, e, p, packed, vecs, std::min<int64_t>(kRowsPerTile, mend - m0), m0, g0, g1,
                                       partial + (m0 - mb) * kPanelLanes, g0 == 0, g1 == groups);
        }
      }
    }
  }
}

}  // namespace

void QGemmAvx512Vnni(const QGemmArgs& a) {
  if (!EpilogueFits(a)) {
    QGemmScalar(a);
    // the codes, then the Add over them in place (element-wise)
    if (a.column_add != nullptr) QFloatBinaryRunScalar(ColumnAddRun(*a.column_add, a.out, a.zero_point, a.m, a.n, a.out));
    return;
  }
  const bool left = a.weights == QGemmWeights::kLeft, grid = a.grid_pitch != 0;
  if (left) {
    grid ? Run<true, true>(a) : Run<true, false>(a);
  } else {
    grid ? Run<false, true>(a) : Run<false, false>(a);
  }
}

// The int8 MatMul of two activations (ElementwiseKernels::qmatmul_int) as a weights-left GEMM:
// A's rows as the signed left operand (in place where K is a multiple of 4), B's rows four at a
// time interleaved into k-groups as x + 128 (the tier's Interleave4), so that the kernel's
// exact int32 sums are sum_t a_it * (b_tj + 128). Then
//   sum_t (a_it - za) (b_tj - zb) = that - za * sum_t (b_tj + 128)
//                                   - (128 + zb) * sum_t a_it + K * za * (128 + zb),
// the row terms as the bias, the column term (sums of the packed bytes by vpdpbusd against
// ones) added with it, every term exact in int32 (wrapping adds, the total in range), and the
// kernel's requantization is Requantize's. False where the operands outgrow the stack scratch.
bool QMatMulAvx512Vnni(const QMatMulExactArgs& x) {
  constexpr int64_t kMaxBytes = 16384, kMaxRows = 1024;
  const int64_t kp = RoundUp(x.k, 4), np = PackedColumns(x.n), groups = kp / 4;
  const bool copy_a = kp != x.k;
  // Fewer than 16 columns and a short K (PointNet's [1024, 3] x [3, 3] input transform): a
  // weights-left tile per 8 rows of A, each one k-group and a 16-lane epilogue for n lanes,
  // cost more than the float-exact kernel the caller falls back to (8.1-9.0 -> 4.5 us there).
  if (x.n < 16 && x.k < 16) return false;
  if (x.m < 1 || x.n < 1 || x.k < 1 || x.m > kMaxRows || np > kMaxRows || kp * np > kMaxBytes ||
      (copy_a && x.m * kp > kMaxBytes)) {
    return false;
  }
  alignas(64) uint8_t packed[kMaxBytes];
  alignas(64) int8_t a_padded[kMaxBytes];
  alignas(64) int32_t bias[kMaxRows], col_bias[kMaxRows];
  alignas(64) float mult[kMaxRows];
  // B's k-groups; rows past K read a zero row whose bytes (+128) meet A's zero padding
  alignas(64) static const int8_t zero_row[kMaxRows] = {};
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* rows[4];
    for (int j = 0; j < 4; ++j) rows[j] = 4 * g + j < x.k ? x.b + (4 * g + j) * x.n : zero_row;
    Interleave4Avx512(rows, x.n, packed + g * np * 4);
    if (np > x.n) std::memset(packed + g * np * 4 + x.n * 4, 0, static_cast<size_t>((np - x.n) * 4));
  }
  // column sums of b + 128 over t < K (the padding rows' 128s taken off), times -za
  const __m512i ones = _mm512_set1_epi8(1);
  const int32_t padding = static_cast<int32_t>((kp - x.k) * 128);
  for (int64_t j = 0; j < np; j += 16) {
    __m512i sums = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; ++g) sums = Dpbusd(sums, _mm512_load_si512(packed + (g * np + j) * 4), ones);
    const __m512i real = _mm512_sub_epi32(sums, _mm512_set1_epi32(padding));
    _mm512_store_si512(col_bias + j, _mm512_mullo_epi32(real, _mm512_set1_epi32(-x.za)));
  }
  const int8_t* left = x.a;
  if (copy_a) {
    // each row's k bytes and kp - k zeros: a masked load and store a row per 64 bytes (a
    // memcpy and memset call per row cost ~8 us over PointNet's 1024 rows of 3)
    for (int64_t i = 0; i < x.m; ++i) {
      for (int64_t t = 0; t < kp; t += 64) {
        const int64_t in = std::min<int64_t>(64, std::max<int64_t>(0, x.k - t)), out = std::min<int64_t>(64, kp - t);
        const __mmask64 load = in == 64 ? ~__mmask64{0} : (__mmask64{1} << in) - 1;
        const __mmask64 store = out == 64 ? ~__mmask64{0} : (__mmask64{1} << out) - 1;
        _mm512_mask_storeu_epi8(a_padded + i * kp + t, store, _mm512_maskz_loadu_epi8(load, x.a + i * x.k + t));
      }
    }
    left = a_padded;
  }
  const int32_t constant = static_cast<int32_t>(x.k) * x.za * (128 + x.zb);
  const __m512i flip = _mm512_set1_epi8(-128), zero = _mm512_setzero_si512();
  for (int64_t i = 0; i < x.m; ++i) {
    int32_t sum = 0;
    if (x.k <= 16) {  // a few bytes: added directly (the vector sum's reduction costs more)
      for (int64_t t = 0; t < x.k; ++t) sum += x.a[i * x.k + t];
    } else {
      // sum_t a_it as sum_t (a_it + 128) - 128 K: vpsadbw's unsigned sums of 8 bytes
      __m512i sums = zero;
      for (int64_t t = 0; t < x.k; t += 64) {
        const __mmask64 in = x.k - t >= 64 ? ~__mmask64{0} : (__mmask64{1} << (x.k - t)) - 1;
        const __m512i v = _mm512_maskz_mov_epi8(in, _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, x.a + i * x.k + t), flip));
        sums = _mm512_add_epi64(sums, _mm512_sad_epu8(v, zero));
      }
      sum = static_cast<int32_t>(_mm512_reduce_add_epi64(sums) - 128 * x.k);
    }
    bias[i] = constant - (128 + x.zb) * sum;
    mult[i] = x.scale;
  }
  QGemmArgs g;
  g.weights = QGemmWeights::kLeft;
  g.m = x.m;
  g.n = x.n;
  g.kp = kp;
  g.np = np;
  g.left = reinterpret_cast<const uint8_t*>(left);
  g.right = packed;
  g.bias = bias;
  g.mult = mult;
  g.zero_point = x.zo;
  g.qmin = x.qmin;
  g.qmax = x.qmax;
  g.out = x.y;
  g.ldo = x.n;
  if (!EpilogueFits(g)) return false;
  Run<true, false>(g, col_bias);
  return true;
}

}  // namespace edge::engine
