// AMX tier: 16 x 16 int32 tiles, one tdpbusd (u8 activations x s8 weights: Gemm) or tdpbsud
// (s8 weights x u8 activations: Conv) per 64-deep step, exact in int32 like vpdpbusd; the
// requantization is the AVX-512 sequence of the VNNI tier. Compiled with -mamx-tile
// -mamx-int8 and AVX-512 for this file only; reached through QGemmForTier.
#include "agent/engine/kernels/qgemm_amx.h"

#include <immintrin.h>

#include <algorithm>

#include "agent/engine/kernels/amx_tile_config.h"
#include "agent/engine/kernels/qgemm_grid_avx512.h"

namespace edge::engine {
namespace {

constexpr int64_t kTileRows = 16;   // rows of every tile
constexpr int64_t kTileBytes = 64;  // bytes per tile row: 64 k of A, 16 columns x 4 k of B
constexpr int64_t kPanelGroups = 256;  // k-groups of a gathered column panel (kp <= 1024)
constexpr int64_t kTailBlocks = 16;    // row blocks whose K tail is staged once per call (m <= 256)

// Tiles 0-3 accumulate C[i][j] (tile 2i + j), 4-5 hold A row blocks, 6-7 B column blocks,
// all of kAmxFullTiles' shape, so one configuration serves the whole call: ldtilecfg zeroes
// every tile, so switching shapes for edge blocks would cost a store and reload of C.

// Edge blocks (M, N or K short of a whole tile) are copied into zero-padded buffers here, so
// no tile load reads past an operand. On the stack: no allocation per call.
struct alignas(64) Staging {
  uint8_t a[2][kTileRows * kTileBytes];
  uint8_t a_tail[kTailBlocks][kTileRows * kTileBytes];  // the left operand's last, short k-step
  uint8_t b[kTileRows * 2 * kTileBytes];  // [16 k-groups][2 column blocks x 64 bytes]
  uint8_t panel[kPanelGroups * 2 * kTileBytes];  // [kp/4 k-groups][2 column blocks x 64 bytes], 32 KB
  int32_t c[2][4][kTileRows * 16];  // accumulators of this block and the pending one
};

struct Operand {
  const uint8_t* ptr;
  int64_t stride;
};

// Copies rows row0.. and bytes k0.. of the left operand ([m][kp]) into `stage`, zero beyond
// kp and m. A staged K tail's zeros also neutralise whatever the B tile holds in its rows
// past kp/4; rows past m only produce output rows that are never stored.
inline void StageLeft(const QGemmArgs& a, int64_t row0, int64_t k0, uint8_t* stage) {
  const int64_t rows = std::min(kTileRows, a.m - row0);
  const int64_t bytes = std::min(kTileBytes, a.kp - k0);
  const __mmask64 mask = bytes == kTileBytes ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  for (int64_t r = 0; r < kTileRows; ++r) {
    const __m512i v = r < rows ? _mm512_maskz_loadu_epi8(mask, a.left + (row0 + r) * a.kp + k0) : _mm512_setzero_si512();
    _mm512_storeu_si512(stage + r * kTileBytes, v);
  }
}

// Whether every row block's K tail was staged once for the call (Staging::a_tail): a tile
// load right after the stores that staged it waits for them to reach L1, and staging per
// block repeated that for every column block (measured: ResNet-8's 3x3 convs, K = 144-288).
inline bool TailsStaged(const QGemmArgs& a) { return a.kp % kTileBytes != 0 && a.m <= kTailBlocks * kTileRows; }

// Rows row0.. and bytes k0.. of the left operand: in place, from the staged tails, or staged
// into `stage` now (rows short of a tile, or a tail that was not staged for the call).
inline Operand LeftOperand(const QGemmArgs& a, int64_t row0, int64_t k0, const Staging& s, uint8_t* stage) {
  const int64_t rows = std::min(kTileRows, a.m - row0);
  const int64_t bytes = std::min(kTileBytes, a.kp - k0);
  if (bytes < kTileBytes && TailsStaged(a)) return {s.a_tail[row0 / kTileRows], kTileBytes};
  if (rows == kTileRows && bytes == kTileBytes) return {a.left + row0 * a.kp + k0, a.kp};
  StageLeft(a, row0, k0, stage);
  return {stage, kTileBytes};
}

// Whether the 16 group pointers from g load as one tile: evenly spaced (implicit GEMM within
// one tap, where the channel blocks sit a plane apart).
inline bool EvenlySpaced(const uint8_t* const* g) {
  const int64_t stride = g[1] - g[0];
  bool even = true;
  for (int64_t r = 2; r < kTileRows; ++r) even = even && g[r] - g[r - 1] == stride;
  return even;
}

// Whether a group table needs gathering somewhere (a k-step spanning taps, or the K tail).
inline bool NeedsGather(const QGemmArgs& a) {
  if (a.right_groups == nullptr) return false;
  if (a.kp % kTileBytes != 0) return true;
  for (int64_t g0 = 0; g0 < a.kp / 4; g0 += kTileRows) {
    if (!EvenlySpaced(a.right_groups + g0)) return true;
  }
  return false;
}

// The kNt column blocks from n0, all kp/4 groups gathered into one contiguous panel before
// the k-loop; the panel serves every row block of the column block. A group table that does
// not load in place needs it: tile loads that read bytes stored just before wait for those
// stores to reach L1 (measured: gathering per k-step made 16 -> 16 channel convs 1.7x slower
// than VNNI). In-place operands gain from it from three row blocks up (at two, 64^3 lost 15 %): their k-groups sit np*4
// bytes (or a plane) apart, so every B tile row is on another 4 KB page and a large K misses
// the DTLB on them, while the panel's rows are 128 bytes apart (measured, `edge_engine_bench
// gemm`, best of 8 interleaved: 256^3 822 -> 1146 GOP/s, 512^3 900 -> 1482, 1024^3 814 -> 1355).
template <int kNt>
void GatherPanel(const QGemmArgs& a, int64_t n0, uint8_t* panel) {
  constexpr int64_t kWidth = kNt * kTileBytes;
  for (int64_t g = 0; g < a.kp / 4; ++g) {
    const uint8_t* src = a.right_groups != nullptr ? a.right_groups[g] : a.right + g * a.np * 4;
    __builtin_memcpy(panel + g * kWidth, src + n0 * 4, kWidth);
  }
}

// The k-groups k0/4.. of kNt column blocks from n0. The plain packed operand and evenly
// spaced group pointers load in place; a gathered panel is read where it lies; otherwise
// (a K tail, a table too long for the panel) the step is gathered into `stage`. A tail's
// rows past kp/4 keep stale bytes, multiplied by the zero columns of the staged A tail.
template <int kNt>
inline void RightOperands(const QGemmArgs& a, int64_t n0, int64_t k0, const uint8_t* panel, uint8_t* stage,
                          Operand* out) {
  constexpr int64_t kWidth = kNt * kTileBytes;
  const int64_t g0 = k0 / 4;
  if (panel != nullptr) {
    for (int j = 0; j < kNt; ++j) out[j] = {panel + g0 * kWidth + j * kTileBytes, kWidth};
    return;
  }
  const int64_t rows = std::min(kTileRows, a.kp / 4 - g0);
  if (rows == kTileRows) {
    if (a.right_groups == nullptr) {
      for (int j = 0; j < kNt; ++j) out[j] = {a.right + (g0 * a.np + n0 + 16 * j) * 4, a.np * 4};
      return;
    }
    const uint8_t* const* g = a.right_groups + g0;
    if (EvenlySpaced(g)) {
      for (int j = 0; j < kNt; ++j) out[j] = {g[0] + (n0 + 16 * j) * 4, g[1] - g[0]};
      return;
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = a.right_groups != nullptr ? a.right_groups[g0 + r] : a.right + (g0 + r) * a.np * 4;
    __builtin_memcpy(stage + r * kWidth, src + n0 * 4, kWidth);
  }
  for (int j = 0; j < kNt; ++j) out[j] = {stage + j * kTileBytes, kWidth};
}

// The requantization constants of a call.
struct Requant {
  __m512 lo, hi;
  __m512i zp;
};

// A block whose accumulators sit in Staging::c[buf], requantized a few rows at a time between
// the next block's tile multiplies: the AVX-512 epilogue (~10 instructions per 16 outputs)
// then runs while the tile unit works. Run after the block instead, it stalled the tile
// unit: the reorder buffer filled with epilogue work that waited on the last multiplies, so
// the next block's loads and multiplies could not start (measured: with no epilogue at all the
// k-loop ran 1.6x faster at 256^3).
struct Pending {
  int64_t m0 = 0, n0 = 0;
  int next = 0, total = 0;  // rows requantized, rows of the block (short at the M edge)
  int nt = 0, buf = 1;
  __mmask16 mask[2];
  __m512i bias[2];  // per column (kRight)
  __m512 mult[2];
  ColumnRuns runs[2];  // a grid's stores (grid_pitch != 0)
};

template <bool kLeftWeights>
void StartPending(const QGemmArgs& a, int64_t m0, int64_t n0, int mt, int nt, int buf, Pending& p) {
  p.m0 = m0;
  p.n0 = n0;
  p.next = 0;
  p.total = static_cast<int>(std::min<int64_t>(mt * kTileRows, a.m - m0));
  p.nt = nt;
  p.buf = buf;
  for (int j = 0; j < nt; ++j) {
    const int64_t col0 = n0 + 16 * j, left = a.n - col0;
    p.mask[j] = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    if constexpr (!kLeftWeights) {
      p.bias[j] = _mm512_loadu_si512(a.bias + col0);
      p.mult[j] = _mm512_loadu_ps(a.mult + col0);
    }
    if (a.grid_pitch != 0) GridRuns(a, col0, p.runs[j]);
  }
}

// One row of 16 accumulators requantized to bytes (the VNNI tier's sequence).
inline __m128i RequantizeVector(__m512i acc, __m512i bias, __m512 mult, const Requant& q) {
  __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, bias)), mult);
  x = _mm512_min_ps(_mm512_max_ps(x, q.lo), q.hi);
  return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(x), q.zp));
}

// Stores the 16 bytes of columns col0.. into output row `out`: masked at the N edge, or in
// the runs of a grid.
inline void StoreRow(const QGemmArgs& a, int8_t* out, int64_t col0, __mmask16 mask, const ColumnRuns& runs,
                     __m128i bytes) {
  if (a.grid_pitch == 0) {
    _mm_mask_storeu_epi8(out + col0, mask, bytes);
  } else {
    for (int k = 0; k < runs.count; ++k) _mm_mask_storeu_epi8(out + runs.offset[k], runs.mask[k], bytes);
  }
}

// Requantizes one stored 16 x 16 accumulator tile into out rows row0.., columns col0.. at once
// (short k-loops: the block just multiplied).
template <bool kLeftWeights>
void StoreTile(const QGemmArgs& a, const Requant& q, int64_t row0, int64_t col0, const int32_t* c) {
  const int64_t rows = std::min(kTileRows, a.m - row0);
  const int64_t left = a.n - col0;
  const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
  // A grid (implicit-GEMM conv writing its output planes): the same runs for every row.
  ColumnRuns runs;
  if (a.grid_pitch != 0) GridRuns(a, col0, runs);
  __m512i bias = kLeftWeights ? _mm512_setzero_si512() : _mm512_loadu_si512(a.bias + col0);
  __m512 mult = kLeftWeights ? _mm512_setzero_ps() : _mm512_loadu_ps(a.mult + col0);
  for (int64_t r = 0; r < rows; ++r) {
    if constexpr (kLeftWeights) {
      bias = _mm512_set1_epi32(a.bias[row0 + r]);
      mult = _mm512_set1_ps(a.mult[row0 + r]);
    }
    const __m128i bytes = RequantizeVector(_mm512_loadu_si512(c + r * 16), bias, mult, q);
    StoreRow(a, a.out + (row0 + r) * a.ldo, col0, mask, runs, bytes);
  }
}

// Requantizes up to `count` more rows of the pending block (each over its nt column tiles).
template <bool kLeftWeights>
inline void RequantizeRows(const QGemmArgs& a, const Requant& q, const Staging& s, Pending& p, int count) {
  const int end = std::min(p.total, p.next + count);
  for (; p.next < end; ++p.next) {
    const int r = p.next;
    const int64_t row = p.m0 + r;
    __m512i bias = _mm512_setzero_si512();
    __m512 mult = _mm512_setzero_ps();
    if constexpr (kLeftWeights) {
      bias = _mm512_set1_epi32(a.bias[row]);
      mult = _mm512_set1_ps(a.mult[row]);
    }
    for (int j = 0; j < p.nt; ++j) {
      if constexpr (!kLeftWeights) {
        bias = p.bias[j];
        mult = p.mult[j];
      }
      const __m512i acc = _mm512_loadu_si512(s.c[p.buf][2 * (r / kTileRows) + j] + (r % kTileRows) * 16);
      StoreRow(a, a.out + row * a.ldo, p.n0 + 16 * j, p.mask[j], p.runs[j], RequantizeVector(acc, bias, mult, q));
    }
  }
}

// From how many 64-deep steps the epilogue is spread over the next block's k-loop. Shorter
// k-loops requantize right after their own block (measured, best of 6 interleaved runs: spread
// over 2-4 steps it cost 64^3-256^3 8-20 %, over 8-16 steps it gained 512^3 and 1024^3 7-11 %).
constexpr int64_t kOverlapSteps = 8;

// Tile numbers are immediates of the instructions, so the four multiplies are spelled out.
#define EDGE_AMX_DOT(c, x, y)                                       \
  do {                                                              \
    if constexpr (kLeftWeights) {                                   \
      _tile_dpbsud(c, x, y); /* A = s8 weights, B = u8 activations */ \
    } else {                                                        \
      _tile_dpbusd(c, x, y); /* A = u8 activations, B = s8 weights */ \
    }                                                               \
  } while (0)

// A block of kMt x kNt C tiles (up to 32 x 32 outputs) over the whole K; the previous block's
// rows are requantized from the second k-step on (the first step's vector loads would wait
// for the tile stores just made), and this block's accumulators become the pending block.
template <bool kLeftWeights, int kMt, int kNt>
void Block(const QGemmArgs& a, int64_t m0, int64_t n0, const uint8_t* panel, Staging& s, const Requant& q,
           Pending& pending) {
  _tile_zero(0);
  if constexpr (kNt == 2) _tile_zero(1);
  if constexpr (kMt == 2) _tile_zero(2);
  if constexpr (kMt == 2 && kNt == 2) _tile_zero(3);
  const int64_t steps = (a.kp + kTileBytes - 1) / kTileBytes;
  const int per_step = steps >= kOverlapSteps ? static_cast<int>((pending.total + steps - 2) / (steps - 1)) : 0;
  for (int64_t k0 = 0; k0 < a.kp; k0 += kTileBytes) {
    Operand b[kNt];
    RightOperands<kNt>(a, n0, k0, panel, s.b, b);
    const Operand a0 = LeftOperand(a, m0, k0, s, s.a[0]);
    _tile_loadd(4, a0.ptr, a0.stride);
    _tile_loadd(6, b[0].ptr, b[0].stride);
    EDGE_AMX_DOT(0, 4, 6);
    if constexpr (kNt == 2) {
      _tile_loadd(7, b[kNt - 1].ptr, b[kNt - 1].stride);
      EDGE_AMX_DOT(1, 4, 7);
    }
    if constexpr (kMt == 2) {
      const Operand a1 = LeftOperand(a, m0 + kTileRows, k0, s, s.a[1]);
      _tile_loadd(5, a1.ptr, a1.stride);
      EDGE_AMX_DOT(2, 5, 6);
      if constexpr (kNt == 2) EDGE_AMX_DOT(3, 5, 7);
    }
    if (k0 != 0) RequantizeRows<kLeftWeights>(a, q, s, pending, per_step);
  }
  RequantizeRows<kLeftWeights>(a, q, s, pending, pending.total);
  const int buf = pending.buf ^ 1;
  _tile_stored(0, s.c[buf][0], 64);
  if constexpr (kNt == 2) _tile_stored(1, s.c[buf][1], 64);
  if constexpr (kMt == 2) _tile_stored(2, s.c[buf][2], 64);
  if constexpr (kMt == 2 && kNt == 2) _tile_stored(3, s.c[buf][3], 64);
  if (steps >= kOverlapSteps) {
    StartPending<kLeftWeights>(a, m0, n0, kMt, kNt, buf, pending);
    return;
  }
  StoreTile<kLeftWeights>(a, q, m0, n0, s.c[buf][0]);
  if constexpr (kNt == 2) StoreTile<kLeftWeights>(a, q, m0, n0 + 16, s.c[buf][1]);
  if constexpr (kMt == 2) StoreTile<kLeftWeights>(a, q, m0 + kTileRows, n0, s.c[buf][2]);
  if constexpr (kMt == 2 && kNt == 2) StoreTile<kLeftWeights>(a, q, m0 + kTileRows, n0 + 16, s.c[buf][3]);
}

#undef EDGE_AMX_DOT

// Column blocks outside, row blocks inside: the right operand's column panel (the larger
// operand for convs) stays in L1/L2 while every row block passes over it.
template <bool kLeftWeights>
void Run(const QGemmArgs& a) {
  Staging s;
  Pending pending;
  const Requant q{_mm512_set1_ps(static_cast<float>(a.qmin - a.zero_point)),
                  _mm512_set1_ps(static_cast<float>(a.qmax - a.zero_point)), _mm512_set1_epi32(a.zero_point)};
  const bool gather = a.kp / 4 <= kPanelGroups && (a.m > 4 * kTileRows || NeedsGather(a));
  if (TailsStaged(a)) {
    for (int64_t m0 = 0; m0 < a.m; m0 += kTileRows) StageLeft(a, m0, a.kp / kTileBytes * kTileBytes, s.a_tail[m0 / kTileRows]);
  }
  for (int64_t n0 = 0; n0 < a.n; n0 += 32) {
    const bool two_n = a.n - n0 > 16;
    const uint8_t* panel = nullptr;
    if (gather) {
      if (two_n) {
        GatherPanel<2>(a, n0, s.panel);
      } else {
        GatherPanel<1>(a, n0, s.panel);
      }
      panel = s.panel;
    }
    for (int64_t m0 = 0; m0 < a.m; m0 += 32) {
      const bool two_m = a.m - m0 > kTileRows;
      if (two_m && two_n) {
        Block<kLeftWeights, 2, 2>(a, m0, n0, panel, s, q, pending);
      } else if (two_m) {
        Block<kLeftWeights, 2, 1>(a, m0, n0, panel, s, q, pending);
      } else if (two_n) {
        Block<kLeftWeights, 1, 2>(a, m0, n0, panel, s, q, pending);
      } else {
        Block<kLeftWeights, 1, 1>(a, m0, n0, panel, s, q, pending);
      }
    }
  }
  RequantizeRows<kLeftWeights>(a, q, s, pending, pending.total);
}

}  // namespace

// Measured with `edge_engine_bench amx` (docs/engine.md, "Kernel tiers"): below one full
// 64-deep step the tiles lose (0.5-0.9x VNNI at K = 16-36); fewer than 16 rows leave most of
// every tile empty (M = 1-8: 0.15-0.9x at K <= 256). One step (K = 64) wins in that
// steady-state loop (1.0-1.5x) but not inside a model: MobileNet's 1x1 convs (K = 64-96)
// on tiles made the whole model ~9% slower, its depthwise steps included (the core runs
// slower for a while after tile use, and a short burst of tiles pays the unit's warm-up).
// From two steps up (ResNet-8's 3x3 convs, K = 144-576) they win in the model too.
bool AmxPays(const QGemmArgs& a) { return a.m >= 16 && a.n >= 16 && a.kp >= 128; }

void QGemmAmxTiles(const QGemmArgs& a) {
  _tile_loadconfig(&kAmxFullTiles);
  if (a.weights == QGemmWeights::kLeft) {
    Run<true>(a);
  } else {
    Run<false>(a);
  }
  // Back to the initial state, so context switches stop saving 8 KB of tile data.
  _tile_release();
}

void QGemmAmx(const QGemmArgs& a) {
  if (AmxPays(a)) {
    QGemmAmxTiles(a);
  } else {
    QGemmAvx512Vnni(a);
  }
}

}  // namespace edge::engine
