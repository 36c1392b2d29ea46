// AVX-512 tier of the per-element int8 kernels (AVX-512 F/BW/VL; the lookup, which needs VBMI,
// is in elementwise_avx512vbmi.cpp so that nothing here can use VBMI on a CPU without it). Compiled
// with these flags for this file only; reached through ElementwiseForTier after the cpuid checks.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "agent/engine/kernels/avx512_common.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"

namespace edge::engine {

namespace {

// 64 pixels of four channel rows (already +128) interleaved, in pixel order: out[j] holds
// pixels 16j..16j+15, 4 bytes each. Bytes, then 16-bit pairs, unpacked within 128-bit lanes
// (lane L of w0..w3 holds pixels 16L + 0..3, 4..7, 8..11, 12..15), then a 4x4 transpose of
// the lanes.
inline void Interleave64(__m512i a, __m512i b, __m512i c, __m512i d, __m512i out[4]) {
  const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
  const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
  const __m512i w0 = _mm512_unpacklo_epi16(ab_lo, cd_lo), w1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
  const __m512i w2 = _mm512_unpacklo_epi16(ab_hi, cd_hi), w3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
  const __m512i t0 = _mm512_shuffle_i64x2(w0, w1, 0x44), t1 = _mm512_shuffle_i64x2(w2, w3, 0x44);
  const __m512i t2 = _mm512_shuffle_i64x2(w0, w1, 0xEE), t3 = _mm512_shuffle_i64x2(w2, w3, 0xEE);
  out[0] = _mm512_shuffle_i64x2(t0, t1, 0x88);
  out[1] = _mm512_shuffle_i64x2(t0, t1, 0xDD);
  out[2] = _mm512_shuffle_i64x2(t2, t3, 0x88);
  out[3] = _mm512_shuffle_i64x2(t2, t3, 0xDD);
}

}  // namespace

// The AVX2 form's vpsadbw sums on 64 bytes, the plane's last 1-63 bytes by a masked load:
// its dropped lanes read as 0, i.e. as elements equal to 0, and add nothing to the sum.
void PlaneSumAvx512(const int8_t* x, int64_t count, int64_t planes, int32_t* sums) {
  const __m512i flip = _mm512_set1_epi8(-128), zero = _mm512_setzero_si512();
  const int64_t whole = count / 64 * 64, rest = count - whole;
  const __mmask64 tail = (__mmask64{1} << rest) - 1;  // rest < 64
  const int64_t lanes = whole + (rest > 0 ? 64 : 0);  // elements summed, zeros included
  for (int64_t p = 0; p < planes; ++p) {
    const int8_t* src = x + p * count;
    __m512i acc = zero;
    for (int64_t i = 0; i < whole; i += 64) {
      acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(src + i), flip), zero));
    }
    if (rest > 0) {
      const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, src + whole), flip);
      acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, zero));
    }
    sums[p] = static_cast<int32_t>(_mm512_reduce_add_epi64(acc) - 128 * lanes);
  }
}

void Interleave4Avx512(const int8_t* const src[4], int64_t n, uint8_t* dst) {
  const __m512i flip = _mm512_set1_epi8(-128);
  auto load = [&](int j, int64_t i) { return _mm512_xor_si512(_mm512_loadu_si512(src[j] + i), flip); };
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512i out[4];
    Interleave64(load(0, i), load(1, i), load(2, i), load(3, i), out);
    for (int j = 0; j < 4; ++j) _mm512_storeu_si512(dst + i * 4 + 64 * j, out[j]);
  }
  // The last 1-63 pixels: masked loads (no byte past src[j][n - 1] is read) and masked stores.
  if (i < n) {
    const int64_t rest = n - i;
    const __mmask64 in = rest == 64 ? ~__mmask64{0} : (__mmask64{1} << rest) - 1;
    auto tail = [&](int j) { return _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, src[j] + i), flip); };
    __m512i out[4];
    Interleave64(tail(0), tail(1), tail(2), tail(3), out);
    for (int j = 0; j < 4 && 16 * j < rest; ++j) {
      const int64_t pixels = std::min<int64_t>(16, rest - 16 * j);
      const __mmask64 bytes = pixels == 16 ? ~__mmask64{0} : (__mmask64{1} << (4 * pixels)) - 1;
      _mm512_mask_storeu_epi8(dst + i * 4 + 64 * j, bytes, out[j]);
    }
  }
}

// 64 output pixels per step (4 rows of 16 or 8 rows of 8; other widths: the SSE2 form): each tap's source rows gathered
// into two 64-byte vectors, their even bytes packed (per 128-bit lane, so a qword permute
// restores row order), then the 64-pixel interleave: ~64-84 instructions per 256 output bytes
// where the SSE2 rows take ~144. Loads: 32 (16) bytes per row, as the SSE2 form.
void Im2colRowsAvx512(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                      uint8_t* dst) {
  if (width != 16 && width != 8) {
    Im2colRowsStride2U8(p, row_step, rows, width, dst);
    return;
  }
  const __m512i even = _mm512_set1_epi16(0x00FF), flip = _mm512_set1_epi8(-128);
  // After packus, qword 2i holds row i of the first vector's rows and qword 2i + 1 row i of
  // the second's (16 wide: half rows); this order puts them back in sequence.
  const __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
  const int64_t group = 64 / width;  // output rows per step
  int64_t oy = 0;
  for (; oy + group <= rows; oy += group, dst += 256) {
    __m512i taps[4];
    for (int j = 0; j < 4; ++j) {
      const int8_t* r = p[j] + oy * row_step[j];
      const int64_t s = row_step[j];
      __m512i a, b;
      if (width == 16) {  // rows 0-1 and 2-3, 32 bytes each
        a = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r))),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + s)), 1);
        b = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + 2 * s))),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + 3 * s)), 1);
      } else {  // rows 0-3 and 4-7, 16 bytes each
        auto row = [&](int i) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + i * s)); };
        a = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(row(0)), row(1), 1), row(2), 2),
                               row(3), 3);
        b = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(row(4)), row(5), 1), row(6), 2),
                               row(7), 3);
      }
      const __m512i packed = _mm512_packus_epi16(_mm512_and_si512(a, even), _mm512_and_si512(b, even));
      taps[j] = _mm512_xor_si512(_mm512_permutexvar_epi64(order, packed), flip);
    }
    __m512i v[4];
    Interleave64(taps[0], taps[1], taps[2], taps[3], v);
    for (int j = 0; j < 4; ++j) _mm512_storeu_si512(dst + 64 * j, v[j]);
  }
  if (oy < rows) {  // the last rows of a plane, fewer than a vector's
    const int8_t* q[4] = {p[0] + oy * row_step[0], p[1] + oy * row_step[1], p[2] + oy * row_step[2],
                          p[3] + oy * row_step[3]};
    Im2colRowsStride2U8(q, row_step, rows - oy, width, dst);
  }
}

void GatherWordRowsAvx512(const uint8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width,
                          uint8_t* dst) {
  if (sw == 1) {
    GatherWordRows(src, sw, row_step, rows, width, dst);
    return;
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  // the first 2n - 1 words of a vector pair (n <= 16 outputs)
  auto words = [](int64_t n, __mmask16& lo, __mmask16& hi) {
    const int64_t used = 2 * n - 1;
    lo = used >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << used) - 1);
    hi = used > 16 ? __mmask16((1u << (used - 16)) - 1) : __mmask16(0);
  };
  if (width == 8) {  // two rows per vector: 15 words of each
    int64_t r = 0;
    for (; r + 2 <= rows; r += 2, src += 2 * row_step, dst += 64) {
      const __m512i a = _mm512_maskz_loadu_epi32(0x7FFF, src), b = _mm512_maskz_loadu_epi32(0x7FFF, src + row_step);
      _mm512_storeu_si512(dst, _mm512_permutex2var_epi32(a, even, b));
    }
    if (r < rows) {
      const __m512i a = _mm512_maskz_loadu_epi32(0x7FFF, src);
      _mm512_mask_storeu_epi32(dst, 0x00FF, _mm512_permutexvar_epi32(even, a));
    }
    return;
  }
  __mmask16 tail_lo = 0, tail_hi = 0;
  const int64_t whole = width / 16 * 16, rest = width - whole;
  if (rest > 0) words(rest, tail_lo, tail_hi);
  const __mmask16 tail_out = static_cast<__mmask16>((1u << rest) - 1);
  for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) {
    int64_t x = 0;
    for (; x < whole; x += 16) {
      const __m512i a = _mm512_loadu_si512(src + x * 8);
      const __m512i b = _mm512_maskz_loadu_epi32(0x7FFF, src + x * 8 + 64);
      _mm512_storeu_si512(dst + x * 4, _mm512_permutex2var_epi32(a, even, b));
    }
    if (rest > 0) {
      const __m512i a = _mm512_maskz_loadu_epi32(tail_lo, src + x * 8);
      const __m512i b = _mm512_maskz_loadu_epi32(tail_hi, src + x * 8 + 64);
      _mm512_mask_storeu_epi32(dst + x * 4, tail_out, _mm512_permutex2var_epi32(a, even, b));
    }
  }
}

// InterleavePaddedU8 at stride 1: rows of 16, 32 or 64 bytes are contiguous in a plane, so 64
// bytes of each channel are 64 / iw whole rows, interleaved at once and stored as 16-pixel
// pieces at their padded positions; other widths a row at a time, 64 pixels per step (the SSE2
// form does 16). The padding between them in the same pass (WritePaddedBlock).
void InterleavePaddedAvx512(const int8_t* x, const ConvGeometry& g, int64_t hp, int64_t wp, uint8_t pad_byte,
                            const int8_t* pad_row, int64_t block_stride, uint8_t* out) {
  const int64_t iw = g.in_w, ih = g.in_h, plane = ih * iw;
  if (g.stride_h != 1 || g.stride_w != 1 || g.channels < 1 || iw < 1) {
    InterleavePaddedU8(x, g, hp, wp, pad_byte, pad_row, block_stride, out);
    return;
  }
  // input rows per vector, or 0: a row at a time in pieces of up to 64 pixels (masked loads of
  // the row's bytes, masked stores of its pixels)
  const int64_t rows = 64 % iw == 0 && iw >= 16 && ih % (64 / iw) == 0 ? 64 / iw : 0;
  const __m512i flip = _mm512_set1_epi8(-128);
  for (int64_t cb = 0; cb * 4 < g.channels; ++cb) {
    const int8_t* src[4];
    const int channels = static_cast<int>(std::min<int64_t>(4, g.channels - cb * 4));
    for (int j = 0; j < channels; ++j) src[j] = x + (cb * 4 + j) * plane;
    // channels past g.channels (a block's zero-weight tail) are the pad byte, already +128
    const __m512i padding = _mm512_set1_epi8(static_cast<char>(pad_byte));
    if (rows == 0) {
      WritePaddedBlock(out + cb * block_stride, ih, iw, hp, wp, g.pad_top, g.pad_left, 1, pad_byte,
                       [&](int64_t y, uint8_t* dst) {
                         for (int64_t x0 = 0; x0 < iw; x0 += 64) {
                           const int64_t n = std::min<int64_t>(64, iw - x0);
                           const __mmask64 bytes = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
                           __m512i in[4], v[4];
                           for (int j = 0; j < 4; ++j) {
                             in[j] = j < channels ? _mm512_xor_si512(
                                                        _mm512_maskz_loadu_epi8(bytes, src[j] + y * iw + x0), flip)
                                                  : padding;
                           }
                           Interleave64(in[0], in[1], in[2], in[3], v);
                           for (int j = 0; j * 16 < n; ++j) {
                             const int64_t pixels = std::min<int64_t>(16, n - 16 * j);
                             const __mmask16 words = static_cast<__mmask16>((1u << pixels) - 1);
                             _mm512_mask_storeu_epi32(dst + (x0 + 16 * j) * 4, words, v[j]);
                           }
                         }
                       });
      continue;
    }
    WritePaddedBlock(out + cb * block_stride, ih, iw, hp, wp, g.pad_top, g.pad_left, rows, pad_byte,
                     [&](int64_t y, uint8_t* dst) {
                       __m512i in[4], v[4];
                       for (int j = 0; j < 4; ++j) {
                         in[j] = j < channels ? _mm512_xor_si512(_mm512_loadu_si512(src[j] + y * iw), flip) : padding;
                       }
                       Interleave64(in[0], in[1], in[2], in[3], v);
                       for (int j = 0; j < 4; ++j) {
                         const int64_t p = 16 * j, r = p / iw, col = p % iw;  // pixel 16j of the 64: row r, column col
                         _mm512_storeu_si512(dst + (r * wp + col) * 4, v[j]);
                       }
                     });
  }
}

namespace {

// LookupFloatsAvx512 with kSegments 32-entry segments of the table from lo: per 16 codes one
// vpermt2ps per segment, each lane keeping the segment its index falls in (the highest whose
// start it reaches).
template <int kSegments>
void LookupSegments(const int8_t* x, int64_t n, const float* table, int32_t lo, int32_t hi, float* y) {
  __m512 t[2 * kSegments];
  const int32_t entries = hi - lo + 1;
#pragma GCC unroll 16
  for (int v = 0; v < 2 * kSegments; ++v) {  // masked: nothing past table[hi] is read
    const int32_t left = entries - 16 * v;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
    t[v] = _mm512_maskz_loadu_ps(m, table + lo + 16 * v);
  }
  const __m512i base = _mm512_set1_epi32(lo);
  ForVectors16(n, [&](int64_t i, __mmask16 m) {
    const __m512i idx = _mm512_sub_epi32(LoadS8x16(x + i, m), base);
    __m512 r = _mm512_permutex2var_ps(t[0], idx, t[1]);
#pragma GCC unroll 8
    for (int s = 1; s < kSegments; ++s) {
      const __mmask16 in = _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(32 * s));
      r = _mm512_mask_mov_ps(r, in, _mm512_permutex2var_ps(t[2 * s], idx, t[2 * s + 1]));
    }
    if (m == 0xFFFF) {
      _mm512_storeu_ps(y + i, r);
    } else {
      _mm512_mask_storeu_ps(y + i, m, r);
    }
  });
}

}  // namespace

void LookupFloatsAvx512(const int8_t* x, int64_t n, const float* table, int32_t lo, int32_t hi, float* y) {
  switch ((hi - lo) / 32) {
    case 0: return LookupSegments<1>(x, n, table, lo, hi, y);
    case 1: return LookupSegments<2>(x, n, table, lo, hi, y);
    case 2: return LookupSegments<3>(x, n, table, lo, hi, y);
    case 3: return LookupSegments<4>(x, n, table, lo, hi, y);
    case 4: return LookupSegments<5>(x, n, table, lo, hi, y);
    case 5: return LookupSegments<6>(x, n, table, lo, hi, y);
    case 6: return LookupSegments<7>(x, n, table, lo, hi, y);
    default: return LookupSegments<8>(x, n, table, lo, hi, y);
  }
}

void QAddAvx512(const QAddArgs& p) {
  // a same-shape Add is one run of the broadcasting kernel with both operands contiguous (the
  // same bytes as QAddScalar for every finite ratio, which lowering ensures)
  QBinaryRunAvx512(QBinaryRunArgs{p.a, p.b, 1, 1, p.n, false, p.ra, p.rb, p.za, p.zb, p.zo, p.qmin, p.qmax, p.y});
}

void DequantizeAvx512(const int8_t* x, int64_t n, float scale, int32_t zero_point, float* y) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512i zp = _mm512_set1_epi32(zero_point);
  ForVectors16(n, [&](int64_t i, __mmask16 m) {
    const __m512 v = _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(LoadS8x16(x + i, m), zp)));
    if (m == 0xFFFF) {
      _mm512_storeu_ps(y + i, v);
    } else {
      _mm512_mask_storeu_ps(y + i, m, v);
    }
  });
}

void QuantizeAvx512(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(-128 - zero_point));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(127 - zero_point));
  const __m512i zp = _mm512_set1_epi32(zero_point);
  ForVectors16(n, [&](int64_t i, __mmask16 m) {
    __m512 v = _mm512_div_ps(m == 0xFFFF ? _mm512_loadu_ps(x + i) : _mm512_maskz_loadu_ps(m, x + i), s);
    v = _mm512_max_ps(v, lo);  // max(NaN, lo) = lo: NaN saturates low like the scalar kernel
    v = _mm512_min_ps(v, hi);
    StoreBytes16(y + i, m, _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), zp)));
  });
}

namespace {

// 16 elements of a run operand as int32 (masked lanes 0): contiguous, or the run's one value.
template <bool kContiguous>
inline __m512i RunOperand16(const int8_t* p, int64_t i, __mmask16 m) {
  if constexpr (kContiguous) return LoadS8x16(p + i, m);
  return _mm512_set1_epi32(p[0]);
}

// Bytes of lanes(i, mask) (16 floats on the output's scale from element i) stored to y: 64 per
// step (Narrow64) where the call fits it, then 16 per step (the last 1-15 by masked loads and
// stores) with OutputRange16. Built once per call, used for each of its rows.
class ByteStream {
 public:
  ByteStream(int32_t qmin, int32_t qmax, int32_t zo, double reach)
      : wide_(Narrow64::Fits(qmin, qmax, zo)), narrow_(qmin, qmax, zo, reach), range_(qmin, qmax, zo) {}
  template <class Lanes>
  void operator()(int64_t n, Lanes&& lanes, int8_t* y) const {
    int64_t i = 0;
    constexpr __mmask16 kAll = 0xFFFF;
    for (; wide_ && i + 64 <= n; i += 64) {
      _mm512_storeu_si512(y + i, narrow_(lanes(i, kAll), lanes(i + 16, kAll), lanes(i + 32, kAll), lanes(i + 48, kAll)));
    }
    ForVectors16(n - i, [&](int64_t j, __mmask16 m) { StoreBytes16(y + i + j, m, range_(lanes(i + j, m))); });
  }

 private:
  bool wide_;
  Narrow64 narrow_;
  OutputRange16 range_;
};

template <bool kMul, bool kAContiguous, bool kBContiguous>
void BinaryRun16(const QBinaryRunArgs& p) {
  const __m512 ra = _mm512_set1_ps(p.ra), rb = _mm512_set1_ps(p.rb);
  const __m512i za = _mm512_set1_epi32(p.za), zb = _mm512_set1_epi32(p.zb);
  const double ra_abs = std::fabs(static_cast<double>(p.ra)), rb_abs = std::fabs(static_cast<double>(p.rb));
  const double reach = kMul ? ra_abs * Int8Reach(p.za) * Int8Reach(p.zb)
                            : ra_abs * Int8Reach(p.za) + rb_abs * Int8Reach(p.zb);
  const ByteStream stream(p.qmin, p.qmax, p.zo, reach);
  // locals: the stores through y could alias the arguments' fields
  const int8_t* a = p.a;
  const int8_t* b = p.b;
  int8_t* y = p.y;
  const int64_t n = p.n, rows = p.rows, a_row = p.a_row, b_row = p.b_row;
  for (int64_t r = 0; r < rows; ++r, a += a_row, b += b_row, y += n) {
    const auto lanes = [&](int64_t i, __mmask16 m) {
      const __m512 fa = _mm512_cvtepi32_ps(_mm512_sub_epi32(RunOperand16<kAContiguous>(a, i, m), za));
      const __m512 fb = _mm512_cvtepi32_ps(_mm512_sub_epi32(RunOperand16<kBContiguous>(b, i, m), zb));
      // Mul: |a * b| <= 255^2 < 2^24, so the float product is the exact integer product
      return kMul ? _mm512_mul_ps(ra, _mm512_mul_ps(fa, fb)) : _mm512_add_ps(_mm512_mul_ps(ra, fa), _mm512_mul_ps(rb, fb));
    };
    stream(n, lanes, y);
  }
}

template <bool kMul>
void BinaryRunOfSteps16(const QBinaryRunArgs& p) {
  if (p.a_step != 0 && p.b_step != 0) return BinaryRun16<kMul, true, true>(p);
  if (p.a_step != 0) return BinaryRun16<kMul, true, false>(p);
  if (p.b_step != 0) return BinaryRun16<kMul, false, true>(p);
  return BinaryRun16<kMul, false, false>(p);
}

}  // namespace

void QBinaryRunAvx512(const QBinaryRunArgs& p) {
  if (!RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    QBinaryRunScalar(p);
    return;
  }
  p.mul ? BinaryRunOfSteps16<true>(p) : BinaryRunOfSteps16<false>(p);
}

namespace {

// 16 elements of a kQFloatOp operand as floats (masked lanes 0) at row r, element i: its int8
// codes dequantized (one multiply, as DequantizeScalar), its floats, or its one value in every
// lane.
struct FloatOperand16 {
  QFloatOperand o;
  __m512 scale;
  __m512i zero_point;
  explicit FloatOperand16(const QFloatOperand& operand)
      : o(operand), scale(_mm512_set1_ps(operand.scale)), zero_point(_mm512_set1_epi32(operand.zero_point)) {}
  bool SameEveryRow() const { return o.row == 0; }
  __m512 operator()(int64_t r, int64_t i, __mmask16 m) const {
    const int64_t at = r * o.row;
    if (o.step == 0) return _mm512_set1_ps(QFloatOperandAt(o, at));
    if (o.q != nullptr) {
      const __m512i codes = LoadS8x16(o.q + at + i, m);
      return _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_sub_epi32(codes, zero_point)));
    }
    return m == 0xFFFF ? _mm512_loadu_ps(o.f + at + i) : _mm512_maskz_loadu_ps(m, o.f + at + i);
  }
};

// ElementArith<float>'s operations on lanes (as FloatOp8 in elementwise_avx2.cpp).
template <FloatBinaryOp kOp>
inline __m512 FloatOp16(__m512 a, __m512 b) {
  if constexpr (kOp == FloatBinaryOp::kAdd) return _mm512_add_ps(a, b);
  if constexpr (kOp == FloatBinaryOp::kSub) return _mm512_sub_ps(a, b);
  if constexpr (kOp == FloatBinaryOp::kMul) return _mm512_mul_ps(a, b);
  if constexpr (kOp == FloatBinaryOp::kDiv) return _mm512_div_ps(a, b);
  const __mmask16 pick_b = kOp == FloatBinaryOp::kMax ? _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ) : _mm512_cmp_ps_mask(b, a, _CMP_LT_OQ);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q), _mm512_mask_blend_ps(pick_b, a, b), b);
}

// Column blocks outside, rows inside: an operand that is the same in every row (a bias over
// the rows) is loaded and dequantized once per block, and a short row costs no setup.
template <FloatBinaryOp kOp>
void QFloatBinaryRun16(const QFloatBinaryRunArgs& p) {
  const __m512 scale = _mm512_set1_ps(p.scale);
  const OutputRange16 range(-128, 127, p.zero_point);
  const __m512 lo = _mm512_set1_ps(p.lo), hi = _mm512_set1_ps(p.hi);
  const FloatOperand16 a(p.a), b(p.b);
  ForVectors16(p.n, [&](int64_t i, __mmask16 m) {
    const __m512 a_fixed = a(0, i, m), b_fixed = b(0, i, m);
    for (int64_t r = 0; r < p.rows; ++r) {
      const __m512 av = a.SameEveryRow() ? a_fixed : a(r, i, m);
      const __m512 bv = b.SameEveryRow() ? b_fixed : b(r, i, m);
      // the clamp as in elementwise_avx2.cpp: v second in maxps and minps
      const __m512 v = _mm512_min_ps(hi, _mm512_max_ps(lo, FloatOp16<kOp>(av, bv)));
      StoreBytes16(p.y + r * p.n + i, m, range(_mm512_div_ps(v, scale)));
    }
  });
}

}  // namespace

// 16 elements per step, the last 1-15 by masked loads and stores.
void QFloatBinaryRunAvx512(const QFloatBinaryRunArgs& p) {
  if (p.n <= 0 || p.rows <= 0) return;
  if (!RoundsExactlyBySimd(static_cast<float>(-128 - p.zero_point), static_cast<float>(127 - p.zero_point))) {
    QFloatBinaryRunScalar(p);
    return;
  }
  VisitFloatBinaryOp(p.op, [&](auto op) { QFloatBinaryRun16<decltype(op)::value>(p); });
}

void QMeanAvx512(const QMeanArgs& p) {
  if (!RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    QMeanScalar(p);
    return;
  }
  const __m512 ratio = _mm512_set1_ps(p.ratio);
  const OutputRange16 range(p.qmin, p.qmax, p.zo);
  for (int64_t i = 0; i < p.n; i += 16) {
    const __mmask16 m = FirstLanes(p.n - i);
    const __m512 sums = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, p.sums + i));
    // dropped lanes divide 0 by 1 (never stored)
    const __m512 divs = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), m, p.divs + i);
    _mm_mask_storeu_epi8(p.y + i, m, range(_mm512_mul_ps(_mm512_div_ps(sums, divs), ratio)));
  }
}

namespace {

// The row pitch of A's floats in a block: K up to QMatMulExactArgs' 258, rounded to vectors.
constexpr int64_t kExactMaxK = 272;

// kRows rows of A as floats (a - za), k apart in `af`, times kVecs vectors of 16 output
// columns (from j0), the sums in registers across the whole k loop: each B vector loaded once
// for all the rows, each A value one broadcast load, kRows x kVecs independent chains. `last`
// selects the columns of the last vector. Every product and partial sum is an integer below
// 2^24 (QMatMulExactArgs), so the fused multiply-add is exact: the same sums as a multiply and
// an add, in any order.
template <int kRows, int kVecs>
inline void MatMulExactBlock(const float* af, const float* bf, int64_t k, int64_t n, int64_t j0, __m512 scale,
                             __mmask16 last, const OutputRange16& range, int8_t* y) {
  __m512 acc[kRows][kVecs];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t t = 0; t < k; ++t) {
    const float* br = bf + t * n + j0;
    __m512 b[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) b[v] = _mm512_maskz_loadu_ps(v == kVecs - 1 ? last : __mmask16(0xFFFF), br + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 av = _mm512_set1_ps(af[r * kExactMaxK + t]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_fmadd_ps(av, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      _mm_mask_storeu_epi8(y + r * n + j0 + 16 * v, v == kVecs - 1 ? last : __mmask16(0xFFFF),
                           range(_mm512_mul_ps(acc[r][v], scale)));
    }
  }
}

// kRows rows x the panel's vectors of output columns (1-4, `vecs`).
template <int kRows>
inline void MatMulExactPanel(int vecs, const float* af, const float* bf, int64_t k, int64_t n, int64_t j0,
                             __m512 scale, __mmask16 last, const OutputRange16& range, int8_t* y) {
  switch (vecs) {
    case 1: MatMulExactBlock<kRows, 1>(af, bf, k, n, j0, scale, last, range, y); break;
    case 2: MatMulExactBlock<kRows, 2>(af, bf, k, n, j0, scale, last, range, y); break;
    case 3: MatMulExactBlock<kRows, 3>(af, bf, k, n, j0, scale, last, range, y); break;
    default: MatMulExactBlock<kRows, 4>(af, bf, k, n, j0, scale, last, range, y); break;
  }
}

// kRows (8, 4 or 1) rows of the output: their rows of A (from `ar`) converted to floats once,
// then 64 columns at a time; with eight rows, a panel of one vector of columns takes all eight
// (eight chains: with four, a K-long chain of fused multiply-adds per accumulator waits on the
// latency), wider panels four at a time (8-16 chains).
template <int kRows>
inline void MatMulExactRows(const int8_t* ar, const float* bf, int64_t k, int64_t n, int32_t za, __m512 scale,
                            const OutputRange16& range, int8_t* y) {
  alignas(64) float af[kRows * kExactMaxK];
  const __m512i zav = _mm512_set1_epi32(za);
  for (int r = 0; r < kRows; ++r) {
    for (int64_t t = 0; t < k; t += 16) {
      const __mmask16 lanes = FirstLanes(k - t);
      const __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, ar + r * k + t));
      _mm512_store_ps(af + r * kExactMaxK + t, _mm512_cvtepi32_ps(_mm512_sub_epi32(v, zav)));
    }
  }
  for (int64_t j0 = 0; j0 < n; j0 += 64) {
    const int64_t width = std::min<int64_t>(64, n - j0);
    const __mmask16 last = FirstLanes(width - (width - 1) / 16 * 16);
    const int vecs = static_cast<int>((width + 15) / 16);
    if constexpr (kRows == 8) {
      if (vecs == 1) {
        MatMulExactBlock<8, 1>(af, bf, k, n, j0, scale, last, range, y);
      } else {
        MatMulExactPanel<4>(vecs, af, bf, k, n, j0, scale, last, range, y);
        MatMulExactPanel<4>(vecs, af + 4 * kExactMaxK, bf, k, n, j0, scale, last, range, y + 4 * n);
      }
    } else {
      MatMulExactPanel<kRows>(vecs, af, bf, k, n, j0, scale, last, range, y);
    }
  }
}

}  // namespace

// Blocks of eight rows (four, then one, for the rest) x up to four vectors of 16 output columns
// in registers, the sums in float (exact, see QMatMulExactArgs), rounding by cvtps2dq (=
// RoundHalfEvenSmall within 2^22).
void QMatMulExactAvx512(const QMatMulExactArgs& p) {
  if (!RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    QMatMulExactScalar(p);
    return;
  }
  if (p.k > kExactMaxK) {  // not a call QMatMulExactArgs allows (K <= 258): A's float rows would not fit
    QMatMulExactScalar(p);
    return;
  }
  // locals: the stores below could alias the arguments' fields
  const int8_t* a = p.a;
  const int8_t* b = p.b;
  float* bf = p.bf;
  int8_t* y = p.y;
  const int64_t m = p.m, k = p.k, n = p.n;
  const int32_t za = p.za;
  const __m512i zb = _mm512_set1_epi32(p.zb);
  for (int64_t e = 0; e < k * n; e += 16) {
    const __mmask16 lanes = FirstLanes(k * n - e);
    const __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, b + e));
    _mm512_mask_storeu_ps(bf + e, lanes, _mm512_cvtepi32_ps(_mm512_sub_epi32(v, zb)));
  }
  const __m512 scale = _mm512_set1_ps(p.scale);
  const OutputRange16 range(p.qmin, p.qmax, p.zo);
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) MatMulExactRows<8>(a + i * k, bf, k, n, za, scale, range, y + i * n);
  for (; i + 4 <= m; i += 4) MatMulExactRows<4>(a + i * k, bf, k, n, za, scale, range, y + i * n);
  for (; i < m; ++i) MatMulExactRows<1>(a + i * k, bf, k, n, za, scale, range, y + i * n);
}

void QRequantAvx512(const QRequantArgs& p) {
  if (!RoundsExactlyBySimd(static_cast<float>(p.qmin - p.zo), static_cast<float>(p.qmax - p.zo))) {
    QRequantScalar(p);
    return;
  }
  const __m512 ratio = _mm512_set1_ps(p.ratio);
  const __m512i zi = _mm512_set1_epi32(p.zi);
  const auto lanes = [&](int64_t i, __mmask16 m) {
    return _mm512_mul_ps(ratio, _mm512_cvtepi32_ps(_mm512_sub_epi32(LoadS8x16(p.x + i, m), zi)));
  };
  const ByteStream stream(p.qmin, p.qmax, p.zo, std::fabs(static_cast<double>(p.ratio)) * Int8Reach(p.zi));
  stream(p.n, lanes, p.y);
}

namespace {

// r[i] holds row i's 16 floats; after, r[c] holds column c's 16 (lane i: row i).
inline void Transpose16x16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4q + j] now holds, in its 128-bit lane L, column 4L + j of rows 4q..4q+3; two rounds of
  // 128-bit shuffles gather each column's four row quads
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], _MM_SHUFFLE(2, 0, 2, 0));
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], _MM_SHUFFLE(3, 1, 3, 1));
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], _MM_SHUFFLE(2, 0, 2, 0));
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], _MM_SHUFFLE(3, 1, 3, 1));
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// The 16 rows' in-order sums over their n columns of f(column vector) (lane i: row i).
template <typename F>
inline __m512 RowSums16(const float* x, int64_t n, F f) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t a0 = 0; a0 < n; a0 += 16) {
    const int64_t cols = std::min<int64_t>(16, n - a0);
    const __mmask16 m = FirstLanes(cols);
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_loadu_ps(m, x + i * n + a0);
    Transpose16x16(r);
    for (int c = 0; c < cols; ++c) acc = _mm512_add_ps(acc, f(r[c]));
  }
  return acc;
}

}  // namespace

int64_t RowSumsAvx512(const float* y, int64_t rows, int64_t n, float* sums) {
  int64_t r = 0;
  for (; r + 16 <= rows; r += 16) _mm512_storeu_ps(sums + r, RowSums16(y + r * n, n, [](__m512 v) { return v; }));
  return r;
}

int64_t LayerNormRowsAvx512(const float* x, const float* g, int64_t rows, int64_t n, float epsilon, float* y) {
  const __m512 count = _mm512_set1_ps(static_cast<float>(n)), eps = _mm512_set1_ps(epsilon);
  int64_t r = 0;
  for (; r + 16 <= rows; r += 16) {
    const float* xr = x + r * n;
    const __m512 mean = _mm512_div_ps(RowSums16(xr, n, [](__m512 v) { return v; }), count);
    const __m512 var = _mm512_div_ps(RowSums16(xr, n, [&](__m512 v) {
                                       const __m512 c = _mm512_sub_ps(v, mean);
                                       return _mm512_mul_ps(c, c);
                                     }),
                                     count);
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_sqrt_ps(_mm512_add_ps(var, eps)));
    alignas(64) float means[16], invs[16];
    _mm512_store_ps(means, mean);
    _mm512_store_ps(invs, inv);
    for (int i = 0; i < 16; ++i) {
      const __m512 mi = _mm512_set1_ps(means[i]), ii = _mm512_set1_ps(invs[i]);
      const float* xi = xr + i * n;
      float* yi = y + (r + i) * n;
      for (int64_t a = 0; a < n; a += 16) {
        const __mmask16 m = FirstLanes(n - a);
        const __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xi + a), mi), ii);
        _mm512_mask_storeu_ps(yi + a, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, g + a)));
      }
    }
  }
  return r;
}

}  // namespace edge::engine
