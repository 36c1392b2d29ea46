// AVX2 tier of the per-element int8 kernels: the 256-entry lookup, the residual Add, the input
// QuantizeLinear, broadcasting Add/Mul runs and requantization (Concat). Each gives the scalar kernel's bytes (kernels/elementwise_ref.cpp):
// float multiply and add separate (compiled with -ffp-contract=off, no FMA), the scalar
// clamps with their NaN behaviour (operand order of maxps/minps chosen to match), rounding
// half to even by cvtps2dq, which equals RoundHalfEvenSmall within 2^22 (calls whose bounds
// lie outside, zero points no int8 model has, take the scalar kernel), and the int32 -> int8
// narrowing as a truncation to the low byte, like the scalar static_cast.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/copy_bytes.h"
#include "agent/engine/kernels/elementwise.h"

namespace edge::engine {
namespace {

inline __m256i Load8AsInt32(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// 8 elements of a run operand as int32: contiguous, or the run's one value in every lane.
template <bool kContiguous>
inline __m256i RunOperand(const int8_t* p, int64_t i) {
  if constexpr (kContiguous) return Load8AsInt32(p + i);
  return _mm256_set1_epi32(p[0]);
}

// A streaming kernel's values (8 floats on the output's scale per vector) to bytes. Where every
// |value| of the call is below 2^29 (`reach`, from its ratios and operands; NaN fails), |zp| <=
// 2^14 and the bounds are int8, 32 per step without the float clamp (QuantRange's unclamped
// form: cvtps2dq, PackQuads' saturating packs and byte clamps, one dword permute restoring the
// order): ~9 vector operations fewer per 32 than four SaturateLanes and two LowBytes.
class StreamNarrow {
 public:
  StreamNarrow(int32_t qmin, int32_t qmax, int32_t zo, double reach)
      : wide_(reach < 0x1p29 && zo >= -(1 << 14) && zo <= (1 << 14) && qmin >= -128 && qmax <= 127),
        packed_(qmin, qmax, zo, false),
        range_(qmin, qmax, zo) {}
  bool wide() const { return wide_; }
  __m256i Bytes32(__m256 v0, __m256 v1, __m256 v2, __m256 v3) const {
    const __m256i q = PackQuads(packed_, _mm256_cvtps_epi32(v0), _mm256_cvtps_epi32(v1), _mm256_cvtps_epi32(v2),
                                _mm256_cvtps_epi32(v3));
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  }
  __m128i Bytes16(__m256 v0, __m256 v1) const { return LowBytes(range_(v0), range_(v1)); }

 private:
  bool wide_;
  QuantRange packed_;
  OutputRange range_;
};

// Steps of 32 elements where StreamNarrow is wide, then of 16; the last 1-15 as one more step
// over the last 16 where `overlap` (the output overlaps neither contiguous operand: the
// elements computed twice get the same bytes). Returns the elements done.
template <bool kMul, bool kAContiguous, bool kBContiguous>
int64_t BinaryRun(const QBinaryRunArgs& p, bool overlap) {
  const __m256 ra = _mm256_set1_ps(p.ra), rb = _mm256_set1_ps(p.rb);
  const __m256i za = _mm256_set1_epi32(p.za), zb = _mm256_set1_epi32(p.zb);
  const double ra_abs = std::fabs(static_cast<double>(p.ra)), rb_abs = std::fabs(static_cast<double>(p.rb));
  const StreamNarrow narrow(p.qmin, p.qmax, p.zo,
                            kMul ? ra_abs * Int8Reach(p.za) * Int8Reach(p.zb)
                                 : ra_abs * Int8Reach(p.za) + rb_abs * Int8Reach(p.zb));
  auto lanes = [&](int64_t i) {
    const __m256i a = _mm256_sub_epi32(RunOperand<kAContiguous>(p.a, i), za);
    const __m256i b = _mm256_sub_epi32(RunOperand<kBContiguous>(p.b, i), zb);
    if constexpr (kMul) {
      return _mm256_mul_ps(ra, _mm256_cvtepi32_ps(_mm256_mullo_epi32(a, b)));  // |a * b| <= 2^16: exact
    } else {
      return _mm256_add_ps(_mm256_mul_ps(ra, _mm256_cvtepi32_ps(a)), _mm256_mul_ps(rb, _mm256_cvtepi32_ps(b)));
    }
  };
  const auto step = [&](int64_t i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p.y + i), narrow.Bytes16(lanes(i), lanes(i + 8)));
  };
  int64_t i = 0;
  for (; narrow.wide() && i + 32 <= p.n; i += 32) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.y + i),
                        narrow.Bytes32(lanes(i), lanes(i + 8), lanes(i + 16), lanes(i + 24)));
  }
  for (; i + 16 <= p.n; i += 16) step(i);
  if (i == p.n || !overlap || p.n < 16) return i;
  step(p.n - 16);
  return p.n;
}

template <bool kMul>
int64_t BinaryRunOfSteps(const QBinaryRunArgs& p, bool overlap) {
  if (p.a_step != 0 && p.b_step != 0) return BinaryRun<kMul, true, true>(p, overlap);
  if (p.a_step != 0) return BinaryRun<kMul, true, false>(p, overlap);
  if (p.b_step != 0) return BinaryRun<kMul, false, true>(p, overlap);
  return BinaryRun<kMul, false, false>(p, overlap);
}

int64_t BinarySteps(const QBinaryRunArgs& p, bool overlap) {
  return p.mul ? BinaryRunOfSteps<true>(p, overlap) : BinaryRunOfSteps<false>(p, overlap);
}

}  // namespace

namespace {

// One row (run) of QBinaryRunAvx2.
void BinaryRowAvx2(const QBinaryRunArgs& p) {
  const auto apart = [&p](const int8_t* x, int64_t step) { return step == 0 || !RangesMeet(p.y, p.n, x, p.n); };
  const int64_t done = BinarySteps(p, apart(p.a, p.a_step) && apart(p.b, p.b_step));
  if (done == p.n) return;
  // A run shorter than 16 (or written over an operand): its last 1-15 elements as one step over
  // copies padded to 16 (a broadcast operand's one value read where it is), the real ones stored.
  alignas(16) int8_t a[16] = {}, b[16] = {}, y[16];
  const int64_t rest = p.n - done;
  QBinaryRunArgs tail = p;
  tail.a = p.a + done * p.a_step;
  tail.b = p.b + done * p.b_step;
  if (p.a_step != 0) {
    CopyBytes(a, tail.a, rest);
    tail.a = a;
  }
  if (p.b_step != 0) {
    CopyBytes(b, tail.b, rest);
    tail.b = b;
  }
  tail.n = 16;
  tail.y = y;
  BinarySteps(tail, false);
  CopyBytes(p.y + done, y, rest);
}

}  // namespace

void QBinaryRunAvx2(const QBinaryRunArgs& p) {
  if (!RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    QBinaryRunScalar(p);
    return;
  }
  QBinaryRunArgs row = p;
  row.rows = 1;
  for (int64_t r = 0; r < p.rows; ++r, row.a += p.a_row, row.b += p.b_row, row.y += p.n) BinaryRowAvx2(row);
}

void QMeanAvx2(const QMeanArgs& p) {
  int64_t i = 0;
  if (RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    const __m256 ratio = _mm256_set1_ps(p.ratio);
    const OutputRange range(p.qmin, p.qmax, p.zo);
    auto lanes = [&](int64_t at) {
      const __m256 sums = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.sums + at)));
      const __m256 mean = _mm256_div_ps(sums, _mm256_loadu_ps(p.divs + at));
      return range(_mm256_mul_ps(mean, ratio));
    };
    for (; i + 16 <= p.n; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p.y + i), LowBytes(lanes(i), lanes(i + 8)));
    }
  }
  QMeanScalar(QMeanArgs{p.sums + i, p.divs + i, p.n - i, p.ratio, p.zo, p.qmin, p.qmax, p.y + i});
}

namespace {

// Rows of a, as floats a - za, converted once per block of kMatMulRows rows (K <= 258).
constexpr int kMatMulRows = 4;
constexpr int64_t kMatMulMaxDepth = 258;

// R rows x V vectors of 8 output columns (from column j0), the sums in registers across the k
// loop: each b vector loaded once for the R rows, each a value broadcast once for the V
// vectors. With `kMasked`, the last vector holds a row's last 1-7 columns (vmaskmovps reads no
// dropped lane) and only those are stored. y is row 0's output row.
template <int R, int V, bool kMasked>
inline void MatMulExactTile(const float* af, const float* bf, int64_t k, int64_t n, int64_t j0, __m256i mask,
                            __m256 scale, const OutputRange& range, int8_t* y) {
  __m256 acc[R][V];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  }
  for (int64_t t = 0; t < k; ++t) {
    const float* br = bf + t * n + j0;
    __m256 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      bv[v] = kMasked && v == V - 1 ? _mm256_maskload_ps(br + 8 * v, mask) : _mm256_loadu_ps(br + 8 * v);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(af + r * k + t);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);  // exact: integers < 2^24
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    int8_t* yr = y + r * n + j0;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __m256i q = range(_mm256_mul_ps(acc[r][v], scale));
      if (kMasked && v == V - 1) {
        alignas(16) int8_t bytes[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(bytes), LowBytes(q, q));
        for (int64_t j = j0 + 8 * v; j < n; ++j) yr[j - j0] = bytes[j - j0 - 8 * v];
      } else {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(yr + 8 * v), LowBytes(q, q));
      }
    }
  }
}

// R rows (of a block) across all columns: pairs of whole vectors, a last whole one, then the
// row's last 1-7 columns.
template <int R>
inline void MatMulExactRows(const float* af, const float* bf, int64_t k, int64_t n, __m256 scale,
                            const OutputRange& range, int8_t* y) {
  const int64_t whole = n / 8 * 8;
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n - whole)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  int64_t j0 = 0;
  for (; j0 + 16 <= whole; j0 += 16) MatMulExactTile<R, 2, false>(af, bf, k, n, j0, mask, scale, range, y);
  if (j0 < whole) {
    if (whole < n) {  // the last whole vector and the tail together
      MatMulExactTile<R, 2, true>(af, bf, k, n, j0, mask, scale, range, y);
      return;
    }
    MatMulExactTile<R, 1, false>(af, bf, k, n, j0, mask, scale, range, y);
    j0 += 8;
  }
  if (j0 < n) MatMulExactTile<R, 1, true>(af, bf, k, n, j0, mask, scale, range, y);
}

}  // namespace

// Blocks of four rows of a (converted to floats once) against vectors of 8 output columns of b
// (converted once), two vectors per tile: 8 sums in registers per k step (QMatMulExactArgs).
void QMatMulExactAvx2(const QMatMulExactArgs& p) {
  if (p.k > kMatMulMaxDepth ||
      !RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    QMatMulExactScalar(p);
    return;
  }
  const int64_t m = p.m, k = p.k, n = p.n;
  for (int64_t e = 0; e < k * n; ++e) p.bf[e] = static_cast<float>(static_cast<int32_t>(p.b[e]) - p.zb);
  const __m256 scale = _mm256_set1_ps(p.scale);
  const OutputRange range(p.qmin, p.qmax, p.zo);
  float af[kMatMulRows * kMatMulMaxDepth];
  for (int64_t i = 0; i < m; i += kMatMulRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kMatMulRows, m - i));
    for (int64_t e = 0; e < rows * k; ++e) af[e] = static_cast<float>(static_cast<int32_t>(p.a[i * k + e]) - p.za);
    int8_t* y = p.y + i * n;
    switch (rows) {
      case 1: MatMulExactRows<1>(af, p.bf, k, n, scale, range, y); break;
      case 2: MatMulExactRows<2>(af, p.bf, k, n, scale, range, y); break;
      case 3: MatMulExactRows<3>(af, p.bf, k, n, scale, range, y); break;
      default: MatMulExactRows<4>(af, p.bf, k, n, scale, range, y); break;
    }
  }
}

void QRequantAvx2(const QRequantArgs& p) {
  int64_t i = 0;
  if (RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    const __m256 ratio = _mm256_set1_ps(p.ratio);
    const StreamNarrow narrow(p.qmin, p.qmax, p.zo, std::fabs(static_cast<double>(p.ratio)) * Int8Reach(p.zi));
    const __m256i zi = _mm256_set1_epi32(p.zi);
    auto lanes = [&](int64_t at) {
      return _mm256_mul_ps(ratio, _mm256_cvtepi32_ps(_mm256_sub_epi32(Load8AsInt32(p.x + at), zi)));
    };
    for (; narrow.wide() && i + 32 <= p.n; i += 32) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.y + i),
                          narrow.Bytes32(lanes(i), lanes(i + 8), lanes(i + 16), lanes(i + 24)));
    }
    for (; i + 16 <= p.n; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p.y + i), narrow.Bytes16(lanes(i), lanes(i + 8)));
    }
  }
  QRequantScalar(QRequantArgs{p.x + i, p.n - i, p.ratio, p.zi, p.zo, p.qmin, p.qmax, p.y + i});
}

// vpshufb looks up 16 entries per 128-bit lane and gives 0 where the index byte's top bit is
// set. Block j of the table is looked up by x - 16j: negative (top bit set, 0 from the shuffle)
// below the block, the element's low nibble in and above it. XOR-ing the shuffles of the
// differences D_j = T_j ^ T_(j-1) therefore leaves T_b[x & 15] for x in block b (the terms of
// blocks above b cancel pairwise down to D_0 ... D_b). Indices 0-127 and 128-255 are two such
// chains of up to 8 blocks on x and on x ^ 0x80 (each negative, so silent, in the other half),
// the subtraction saturating so that a negative index stays negative: 3 instructions per
// block, none of them a blend.
//
// An activation's table is flat where it saturates: HardSwish and GELU below their knee,
// Sigmoid and Tanh at both ends. Where T is constant from code -128 up to the first code of a
// block, x is clamped up to that code and the high chain starts at that block; where it is
// constant from the last code of a block up to 127, x is clamped down to it and the low chain
// ends there: fewer blocks (MobileNet's HardSwish tables: 12 of 16) for one max or min.
template <int kLow, int kHigh>
void LutChainsAvx2(const int8_t* x, int64_t n, const __m128i* diff, int8_t lowest, int8_t highest, int8_t* out) {
  __m256i d[kLow + kHigh];  // the low chain's differences from block 0 up, then the high chain's
#pragma GCC unroll 16
  for (int k = 0; k < kLow + kHigh; ++k) d[k] = _mm256_broadcastsi128_si256(diff[k]);
  const __m256i floor = _mm256_set1_epi8(lowest), ceiling = _mm256_set1_epi8(highest);
  const __m256i sixteen = _mm256_set1_epi8(16);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  // the high chain's first block is 16 * (8 - kHigh) above code -128
  const __m256i high_start = _mm256_set1_epi8(static_cast<char>(16 * (8 - kHigh)));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    if constexpr (kHigh < 8) lo = _mm256_max_epi8(lo, floor);
    if constexpr (kLow < 8) lo = _mm256_min_epi8(lo, ceiling);
    // x ^ 0x80 less the blocks skipped, saturating: a positive x stays negative (silent)
    __m256i hi = _mm256_xor_si256(lo, flip);
    if constexpr (kHigh < 8) hi = _mm256_subs_epi8(hi, high_start);
    __m256i r = _mm256_shuffle_epi8(d[0], lo);
    r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[kLow], hi));
#pragma GCC unroll 7
    for (int j = 1; j < 8; ++j) {
      if (j < kLow) {
        lo = _mm256_subs_epi8(lo, sixteen);
        r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[j], lo));
      }
      if (j < kHigh) {
        hi = _mm256_subs_epi8(hi, sixteen);
        r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[kLow + j], hi));
      }
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), r);
  }
}

void LutAvx2(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  if (n < 64) {
    LutScalar(x, n, table, out);
    return;
  }
  const auto at = [&](int code) { return table[static_cast<uint8_t>(code)]; };
  // The blocks a chain may skip at one end (code -128 going up, step 16, or 127 going down,
  // step -16): whole blocks equal to the end's entry, at most 7 (each chain keeps one), and
  // the code the clamp lands on, 16 per block in from the end, flat too (else one fewer).
  const auto skippable = [&](int end, int step) {
    const __m128i flat = _mm_set1_epi8(static_cast<char>(at(end)));
    int blocks = 0;
    for (; blocks < 7; ++blocks) {
      const int first = step > 0 ? end + 16 * blocks : end - 16 * blocks - 15;  // the block's lowest code
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(table + static_cast<uint8_t>(first)));
      if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, flat)) != 0xFFFF) break;
    }
    return at(end + step * blocks) == at(end) ? blocks : std::max(blocks - 1, 0);
  };
  // T[-128 .. lowest] all T[-128], T[highest .. 127] all T[127]
  const int high_blocks = 8 - skippable(-128, 16), low_blocks = 8 - skippable(127, -16);
  const int8_t lowest = static_cast<int8_t>(-128 + 16 * (8 - high_blocks));
  const int8_t highest = static_cast<int8_t>(16 * low_blocks - 1);
  __m128i diff[16];
  for (int k = 0; k < low_blocks + high_blocks; ++k) {
    const bool low = k < low_blocks;
    const int block = low ? k : 8 + (8 - high_blocks) + (k - low_blocks);  // in unsigned code order
    const bool first = low ? k == 0 : k == low_blocks;
    const __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(table + 16 * block));
    diff[k] = first ? here : _mm_xor_si128(here, _mm_loadu_si128(reinterpret_cast<const __m128i*>(table + 16 * (block - 1))));
  }
  WithCount<8>(low_blocks, [&](auto l) {
    WithCount<8>(high_blocks, [&](auto h) {
      LutChainsAvx2<decltype(l)::value, decltype(h)::value>(x, n, diff, lowest, highest, out);
    });
  });
  const int64_t done = n / 32 * 32;
  LutScalar(x + done, n - done, table, out + done);
}

void QAddAvx2(const QAddArgs& p) {
  // a same-shape Add is one run of the broadcasting kernel with both operands contiguous (the
  // same bytes as QAddScalar for every finite ratio, which lowering ensures)
  QBinaryRunAvx2(QBinaryRunArgs{p.a, p.b, 1, 1, p.n, false, p.ra, p.rb, p.za, p.zb, p.zo, p.qmin, p.qmax, p.y});
}

void DequantizeAvx2(const int8_t* x, int64_t n, float scale, int32_t zero_point, float* y) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_sub_epi32(Load8AsInt32(x + i), zp);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_cvtepi32_ps(v)));
  }
  DequantizeScalar(x + i, n - i, scale, zero_point, y + i);
}

void QuantizeAvx2(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y) {
  const float lo_s = static_cast<float>(-128 - zero_point), hi_s = static_cast<float>(127 - zero_point);
  int64_t i = 0;
  if (RoundsExactlyBySimd(lo_s, hi_s)) {
    const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps(lo_s), hi = _mm256_set1_ps(hi_s);
    const __m256i zp = _mm256_set1_epi32(zero_point);
    // x / scale (a true division, as the scalar code), then !(v >= lo) ? lo : min(v, hi):
    // maxps(v, lo) returns lo where v is NaN, so NaN saturates low as in the scalar kernel
    auto lanes = [&](const float* at) {
      __m256 v = _mm256_div_ps(_mm256_loadu_ps(at), s);
      v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
      return _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
    };
    for (; i + 16 <= n; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), LowBytes(lanes(x + i), lanes(x + i + 8)));
    }
  }
  QuantizeScalar(x + i, n - i, scale, zero_point, y + i);
}

namespace {

// 8 elements of a kQFloatOp operand as floats at row r, element i: its int8 codes dequantized
// (one multiply, as DequantizeScalar), its floats, or its one value in every lane.
struct FloatOperand8 {
  QFloatOperand o;
  __m256 scale;
  __m256i zero_point;
  explicit FloatOperand8(const QFloatOperand& operand)
      : o(operand), scale(_mm256_set1_ps(operand.scale)), zero_point(_mm256_set1_epi32(operand.zero_point)) {}
  bool SameEveryRow() const { return o.row == 0; }
  __m256 operator()(int64_t r, int64_t i) const {
    const int64_t at = r * o.row;
    if (o.step == 0) return _mm256_set1_ps(QFloatOperandAt(o, at));
    if (o.q != nullptr) return _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_sub_epi32(Load8AsInt32(o.q + at + i), zero_point)));
    return _mm256_loadu_ps(o.f + at + i);
  }
};

// ElementArith<float>'s operations on lanes: Max/Min pick b where a < b (b < a), else a, and b
// where b is NaN, so NaN comes from either side and the sign of equal zeros is a's.
template <FloatBinaryOp kOp>
inline __m256 FloatOp8(__m256 a, __m256 b) {
  if constexpr (kOp == FloatBinaryOp::kAdd) return _mm256_add_ps(a, b);
  if constexpr (kOp == FloatBinaryOp::kSub) return _mm256_sub_ps(a, b);
  if constexpr (kOp == FloatBinaryOp::kMul) return _mm256_mul_ps(a, b);
  if constexpr (kOp == FloatBinaryOp::kDiv) return _mm256_div_ps(a, b);
  const __m256 pick_b = kOp == FloatBinaryOp::kMax ? _mm256_cmp_ps(a, b, _CMP_LT_OQ) : _mm256_cmp_ps(b, a, _CMP_LT_OQ);
  return _mm256_blendv_ps(_mm256_blendv_ps(a, b, pick_b), b, _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
}

// Whether the call's output bytes overlap an operand's int8 codes.
bool OutputMeetsCodes(const QFloatBinaryRunArgs& p) {
  const auto meets = [&](const QFloatOperand& o) {
    return o.q != nullptr && RangesMeet(p.y, p.rows * p.n, o.q, (p.rows - 1) * o.row + (p.n - 1) * o.step + 1);
  };
  return meets(p.a) || meets(p.b);
}

// Blocks of 16 columns outside, rows inside (as the AVX-512 form); returns the columns done.
template <FloatBinaryOp kOp>
int64_t QFloatBinaryRun8(const QFloatBinaryRunArgs& p) {
  const FloatOperand8 a(p.a), b(p.b);
  const __m256 scale = _mm256_set1_ps(p.scale);
  const OutputRange range(-128, 127, p.zero_point);
  const __m256 lo = _mm256_set1_ps(p.lo), hi = _mm256_set1_ps(p.hi);
  auto lanes = [&](__m256 av, __m256 bv) {
    // std::max(v, lo) = v < lo ? lo : v, then std::min(v, hi) = hi < v ? hi : v: maxps/minps
    // return their second operand on NaN and on equal values, so v goes second in both
    const __m256 v = _mm256_min_ps(hi, _mm256_max_ps(lo, FloatOp8<kOp>(av, bv)));
    return range(_mm256_div_ps(v, scale));
  };
  const auto block = [&](int64_t i) __attribute__((always_inline)) {
    const __m256 a0 = a(0, i), a1 = a(0, i + 8), b0 = b(0, i), b1 = b(0, i + 8);
    for (int64_t r = 0; r < p.rows; ++r) {
      const bool fa = a.SameEveryRow(), fb = b.SameEveryRow();
      const __m128i bytes = LowBytes(lanes(fa ? a0 : a(r, i), fb ? b0 : b(r, i)),
                                     lanes(fa ? a1 : a(r, i + 8), fb ? b1 : b(r, i + 8)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p.y + r * p.n + i), bytes);
    }
  };
  int64_t i = 0;
  for (; i + 16 <= p.n; i += 16) block(i);
  // The rows' last 1-15 columns as one more block ending at the row's end, over columns done
  // (the same bytes again; a Softmax's rows of 50 went 2 per row to the scalar kernel), unless
  // the output shares memory with an int8 operand (in place: it would read its own bytes).
  if (i < p.n && p.n >= 16 && !OutputMeetsCodes(p)) {
    block(p.n - 16);
    i = p.n;
  }
  return i;
}

}  // namespace

// 16 elements per step; the last 0-15 of each row by the scalar kernel.
void QFloatBinaryRunAvx2(const QFloatBinaryRunArgs& p) {
  if (p.n <= 0 || p.rows <= 0) return;
  int64_t done = 0;
  if (RoundsExactlyBySimd(static_cast<float>(-128 - p.zero_point), static_cast<float>(127 - p.zero_point))) {
    VisitFloatBinaryOp(p.op, [&](auto op) { done = QFloatBinaryRun8<decltype(op)::value>(p); });
  }
  for (int64_t r = 0; r < p.rows && done < p.n; ++r) QFloatBinaryRunScalar(QFloatBinaryRow(p, r, done));
}

}  // namespace edge::engine
