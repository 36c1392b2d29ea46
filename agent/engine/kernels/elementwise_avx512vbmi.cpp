// The AVX-512 kernels that need VBMI's byte permutes (the 256-entry int8 lookup, stride-2
// im2col rows of any width, the strided four-row interleave of phased convs, tap-word rows,
// MaxPool rows at column stride 2). Their own file, compiled with -mavx512vbmi: the other
// AVX-512 kernels also serve CPUs without VBMI (Cascade Lake), where an instruction the
// compiler chose from these flags would fault. Reached through ElementwiseForTier only where
// cpuid reports VBMI, in the AVX-512 VNNI table (so VNNI may be used here too).
#include <immintrin.h>

#include <algorithm>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"

namespace edge::engine {

void LutAvx512Vbmi(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  // Two 128-entry vpermi2b lookups, selected by the index's top bit.
  const __m512i t0 = _mm512_loadu_si512(table);
  const __m512i t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128);
  const __m512i t3 = _mm512_loadu_si512(table + 192);
  const auto lookup = [&](__m512i idx) {  // idx as unsigned: 0..127 low half, 128..255 high
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, idx, t3);
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
  };
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(out + i, lookup(_mm512_loadu_si512(x + i)));
  if (i < n) {  // the last 1-63 codes masked, not a scalar loop (a channel's table per short plane)
    const __mmask64 m = (__mmask64{1} << (n - i)) - 1;
    _mm512_mask_storeu_epi8(out + i, m, lookup(_mm512_maskz_loadu_epi8(m, x + i)));
  }
}

// Stride-2 rows of any width up to 16 (16 and 8: Im2colRowsAvx512's four-row steps). The
// four taps' source bytes of one row (widths 9-15) or two rows (widths 1-7) sit in a
// 128-byte table of two vectors, tap j in its own 32-byte quarter (of 16-byte halves for two
// rows); one vpermt2b takes every pixel's four even bytes into place: out byte 4 * px + j of
// row r = table byte 32 * j + 16 * r + 2 * px. Loads and stores are masked to the bytes used
// and produced: no slack is read, nothing past the last row written.
void Im2colRowsAvx512Vbmi(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                          uint8_t* dst) {
  if (width == 16 || width == 8) {
    Im2colRowsAvx512(p, row_step, rows, width, dst);
    return;
  }
  const int64_t per_step = width > 8 ? 1 : 2;  // output rows per permute
  // the permute's index for each width, built once (a call is one k-group: a few rows)
  struct alignas(64) Index {
    uint8_t bytes[17][64];
  };
  static const Index table = [] {
    Index t{};
    for (int w = 1; w <= 16; ++w) {
      for (int o = 0; o < 64; ++o) {
        const int r = o / (4 * w), px = o % (4 * w) / 4, j = o % 4;
        t.bytes[w][o] = static_cast<uint8_t>(r < (w > 8 ? 1 : 2) ? 32 * j + 16 * r + 2 * px : 0);
      }
    }
    return t;
  }();
  const __m512i index = _mm512_load_si512(table.bytes[width]), flip = _mm512_set1_epi8(-128);
  const int64_t row_bytes = 4 * width;
  const uint32_t used = (uint32_t{1} << (2 * width - 1)) - 1;  // a row's bytes: 2 * width - 1
  auto store = [&](int64_t n_rows, __m512i a, __m512i b, uint8_t* to) {
    const __mmask64 out = (__mmask64{1} << (row_bytes * n_rows)) - 1;  // < 64 bytes
    _mm512_mask_storeu_epi8(to, out, _mm512_xor_si512(_mm512_permutex2var_epi8(a, index, b), flip));
  };
  // local copies: the stores through dst could alias p's and row_step's arrays
  const int8_t* q[4] = {p[0], p[1], p[2], p[3]};
  const int64_t s[4] = {row_step[0], row_step[1], row_step[2], row_step[3]};
  if (per_step == 1) {
    for (int64_t oy = 0; oy < rows; ++oy, dst += row_bytes) {
      __m256i t[4];
      for (int j = 0; j < 4; ++j) {
        t[j] = _mm256_maskz_loadu_epi8(used, q[j]);
        q[j] += s[j];
      }
      store(1, _mm512_inserti64x4(_mm512_castsi256_si512(t[0]), t[1], 1),
            _mm512_inserti64x4(_mm512_castsi256_si512(t[2]), t[3], 1), dst);
    }
    return;
  }
  const __mmask16 half = static_cast<__mmask16>(used);
  for (int64_t oy = 0; oy < rows; oy += 2, dst += 2 * row_bytes) {
    const bool second = oy + 1 < rows;
    __m256i t[4];  // tap j's rows oy and oy + 1 (or zero)
    for (int j = 0; j < 4; ++j) {
      const __m128i r0 = _mm_maskz_loadu_epi8(half, q[j]);
      const __m128i r1 = second ? _mm_maskz_loadu_epi8(half, q[j] + s[j]) : _mm_setzero_si128();
      t[j] = _mm256_inserti128_si256(_mm256_castsi128_si256(r0), r1, 1);
      q[j] += 2 * s[j];
    }
    store(second ? 2 : 1, _mm512_inserti64x4(_mm512_castsi256_si512(t[0]), t[1], 1),
          _mm512_inserti64x4(_mm512_castsi256_si512(t[2]), t[3], 1), dst);
  }
}

namespace {

// kPixels per step (32 at stride 2, 16 at 3-4, 8 at 5-8): each source's bytes for a step,
// stride * (kPixels - 1) + 1 <= 63, are one masked load.
template <int kStride>
struct StridedIndexes {
  // 32 pixels at stride 2, 16 at 3-4, 8 at 5-8 (a 64-byte load holds their bytes)
  static constexpr int kPixels = kStride <= 4 ? 64 / kStride / 16 * 16 : 8;
  // vpermt2b: byte 2x + s (x < kPixels) = byte stride * x of operand s, the pairs of two sources
  alignas(64) uint8_t pairs[64];
  // vpermt2w, per 16 pixels h: element 2x + s = pair 16h + x of operand s, pixel 16h + x's word
  alignas(64) uint16_t words[2][32];
  constexpr StridedIndexes() : pairs{}, words{} {
    for (int i = 0; i < 2 * kPixels; ++i) pairs[i] = static_cast<uint8_t>((i % 2 == 1 ? 64 : 0) + kStride * (i / 2));
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 32; ++i) words[h][i] = static_cast<uint16_t>((i % 2 == 1 ? 32 : 0) + 16 * h + i / 2);
    }
  }
};

template <int kStride>
void InterleaveStrided(const int8_t* const src[4], int64_t n, uint8_t* dst) {
  using Indexes = StridedIndexes<kStride>;
  constexpr int kPixels = Indexes::kPixels;
  static constexpr Indexes kIndexes{};
  const __m512i pairs = _mm512_load_si512(kIndexes.pairs), flip = _mm512_set1_epi8(-128);
  const __m512i words0 = _mm512_load_si512(kIndexes.words[0]), words1 = _mm512_load_si512(kIndexes.words[1]);
  const int8_t* s[4] = {src[0], src[1], src[2], src[3]};  // dst may alias the caller's array
  for (int64_t p = 0; p < n; p += kPixels) {
    const int64_t count = std::min<int64_t>(kPixels, n - p);
    // exactly the bytes used
    const __mmask64 used = (__mmask64{1} << (kStride * (count - 1) + 1)) - 1;
    __m512i v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm512_maskz_loadu_epi8(used, s[k] + p * kStride);
    const __m512i ab = _mm512_permutex2var_epi8(v[0], pairs, v[1]);
    const __m512i cd = _mm512_permutex2var_epi8(v[2], pairs, v[3]);
    uint8_t* out = dst + p * 4;
    const __m512i lo = _mm512_xor_si512(_mm512_permutex2var_epi16(ab, words0, cd), flip);
    if (count == kPixels && kPixels == 32) {
      _mm512_storeu_si512(out, lo);
      _mm512_storeu_si512(out + 64, _mm512_xor_si512(_mm512_permutex2var_epi16(ab, words1, cd), flip));
    } else if (count == 16) {
      _mm512_storeu_si512(out, lo);
    } else if (count < 16) {
      _mm512_mask_storeu_epi8(out, (__mmask64{1} << (4 * count)) - 1, lo);
    } else {  // 17-31 at stride 2
      _mm512_storeu_si512(out, lo);
      _mm512_mask_storeu_epi8(out + 64, (__mmask64{1} << (4 * (count - 16))) - 1,
                              _mm512_xor_si512(_mm512_permutex2var_epi16(ab, words1, cd), flip));
    }
  }
}

}  // namespace

void InterleaveStridedAvx512Vbmi(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst) {
  switch (sw) {
    case 2: InterleaveStrided<2>(src, n, dst); return;
    case 3: InterleaveStrided<3>(src, n, dst); return;
    case 4: InterleaveStrided<4>(src, n, dst); return;
    case 5: InterleaveStrided<5>(src, n, dst); return;
    case 6: InterleaveStrided<6>(src, n, dst); return;
    case 7: InterleaveStrided<7>(src, n, dst); return;
    case 8: InterleaveStrided<8>(src, n, dst); return;
    default: InterleaveStridedU8(src, sw, n, dst);
  }
}

void TapWordRowsAvx512Vbmi(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width,
                           uint8_t* dst) {
  // byte 4x + j of 16 words = byte sw * x + j of their source bytes (sw 1 or 2)
  alignas(64) static constexpr struct Index {
    uint8_t b[2][64];
    constexpr Index() : b{} {
      for (int i = 0; i < 64; ++i) {
        b[0][i] = static_cast<uint8_t>(i / 4 + i % 4);
        b[1][i] = static_cast<uint8_t>(2 * (i / 4) + i % 4);
      }
    }
  } kIndex{};
  const __m512i index = _mm512_load_si512(kIndex.b[sw == 2 ? 1 : 0]), flip = _mm512_set1_epi8(-128);
  for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) {
    for (int64_t x = 0; x < width; x += 16) {
      const int64_t count = std::min<int64_t>(16, width - x);
      // exactly the sw * (count - 1) + 4 bytes the words use
      const __m512i v = _mm512_maskz_loadu_epi8((__mmask64{1} << (sw * (count - 1) + 4)) - 1, src + sw * x);
      const __m512i w = _mm512_xor_si512(_mm512_permutexvar_epi8(index, v), flip);
      if (count == 16) {
        _mm512_storeu_si512(dst + 4 * x, w);
      } else {
        _mm512_mask_storeu_epi8(dst + 4 * x, (__mmask64{1} << (4 * count)) - 1, w);
      }
    }
  }
}

bool MaxPoolPlanesAvx512Vbmi(const MaxPoolPlanesArgs& a) {
  if (a.pl + a.iw > 64 || a.ow > 31 || a.kw < 2 || a.kw > 3) return false;
  // lane i of pick k: byte 2i + k of a row whose lane L holds input column L - pl
  alignas(64) static constexpr struct Picks {
    uint8_t b[3][64];
    constexpr Picks() : b{} {
      for (int k = 0; k < 3; ++k) {
        for (int i = 0; i < 32; ++i) b[k][i] = static_cast<uint8_t>(2 * i + k);
      }
    }
  } kPicks{};
  const __m512i p0 = _mm512_load_si512(kPicks.b[0]), p1 = _mm512_load_si512(kPicks.b[1]);
  const __m512i p2 = _mm512_load_si512(kPicks.b[2]), low = _mm512_set1_epi8(-128);
  const __mmask64 columns = (a.iw >= 64 ? ~__mmask64{0} : (__mmask64{1} << a.iw) - 1) << a.pl;
  const __mmask64 outputs = (__mmask64{1} << a.ow) - 1;
  const bool three = a.kw == 3;
  for (int64_t p = 0; p < a.planes; ++p) {
    // integer addresses: a row's load starts pl bytes before it (masked-off lanes never touch
    // memory), which may lie before the plane
    const uintptr_t plane = reinterpret_cast<uintptr_t>(a.x + p * a.ih * a.iw) - static_cast<uintptr_t>(a.pl);
    int8_t* out = a.y + p * a.oh * a.ow;
    for (int64_t oy = 0; oy < a.oh; ++oy) {
      __m512i v = low;
      const int64_t top = oy * a.sh - a.pt;
      for (int64_t iy = std::max<int64_t>(top, 0); iy < std::min(top + a.kh, a.ih); ++iy) {
        const void* row = reinterpret_cast<const void*>(plane + static_cast<uintptr_t>(iy * a.iw));
        v = _mm512_max_epi8(v, _mm512_mask_loadu_epi8(low, columns, row));
      }
      __m512i m = _mm512_max_epi8(_mm512_permutexvar_epi8(p0, v), _mm512_permutexvar_epi8(p1, v));
      if (three) m = _mm512_max_epi8(m, _mm512_permutexvar_epi8(p2, v));
      _mm512_mask_storeu_epi8(out + oy * a.ow, outputs, m);
    }
  }
  return true;
}

namespace {

// Window sums with each window's taps in a slot of kSlot bytes (4 or 8) of a vector: 64 /
// kSlot windows per step, one masked load of a row's bytes for them, one vpermb putting
// window w's taps in bytes kSlot * w .. kSlot * w + taps - 1 and zeros after, one vpdpbusd of
// those signed bytes against ones adding them into the slot's dwords; after the rows, an
// 8-byte slot's two dwords added. Two steps at a time (two independent vpdpbusd chains).
// (vpsadbw in place of vpdpbusd needs the bytes flipped to unsigned first, one more op per
// row: measured slower.) Needs taps <= kSlot and (64 / kSlot - 1) x stride + taps <= 64.
template <int kSlot>
void WindowSumSlots(const WindowSumRowArgs& a) {
  constexpr int kWindows = 64 / kSlot;
  // byte kSlot * w + t of pick s - 1: w * s + t (the taps past a.taps are zeroed by the mask)
  alignas(64) static constexpr struct Picks {
    uint8_t b[8][64];
    constexpr Picks() : b{} {
      for (int s = 1; s <= 8; ++s) {
        for (int i = 0; i < 64; ++i) b[s - 1][i] = static_cast<uint8_t>((i / kSlot * s + i % kSlot) % 64);
      }
    }
  } kPicks{};
  const __m512i index = _mm512_load_si512(kPicks.b[a.stride - 1]);
  const __mmask64 taps = ((uint64_t{1} << a.taps) - 1) * (kSlot == 8 ? 0x0101010101010101u : 0x1111111111111111u);
  const __m512i ones = _mm512_set1_epi8(1);
  // locals: the stores below could alias the arguments' fields
  const int8_t* const base = a.first;
  int32_t* const out = a.out;
  const int64_t n = a.n, stride = a.stride, pitch = a.row_pitch, rows = a.row_count, span = a.taps;
  const auto load_mask = [&](int64_t o) {  // the bytes of the windows from o
    const int64_t bytes = (std::min<int64_t>(kWindows, n - o) - 1) * stride + span;
    return bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  };
  const auto sums = [&](const int8_t* p, __mmask64 load) {
    return _mm512_maskz_permutexvar_epi8(taps, index, _mm512_maskz_loadu_epi8(load, p));
  };
  const auto store = [&](int64_t o, __m512i acc) {
    const int64_t count = std::min<int64_t>(kWindows, n - o);
    if constexpr (kSlot == 4) {
      _mm512_mask_storeu_epi32(out + o, static_cast<__mmask16>((1u << count) - 1), acc);
    } else {
      // |sums| <= 128 x 8 x rows: the pairs' int32 adds and the qwords' low halves are exact
      const __m512i pairs = _mm512_add_epi32(acc, _mm512_srli_epi64(acc, 32));
      _mm256_mask_storeu_epi32(out + o, static_cast<__mmask8>((1u << count) - 1), _mm512_cvtepi64_epi32(pairs));
    }
  };
  int64_t o = 0;
  for (; o + kWindows < n; o += 2 * kWindows) {
    const __mmask64 l0 = load_mask(o), l1 = load_mask(o + kWindows);
    const int8_t* p = base + o * stride;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    for (int64_t r = 0; r < rows; ++r, p += pitch) {
      acc0 = _mm512_dpbusd_epi32(acc0, ones, sums(p, l0));
      acc1 = _mm512_dpbusd_epi32(acc1, ones, sums(p + kWindows * stride, l1));
    }
    store(o, acc0);
    store(o + kWindows, acc1);
  }
  if (o < n) {
    const __mmask64 l0 = load_mask(o);
    const int8_t* p = base + o * stride;
    __m512i acc = _mm512_setzero_si512();
    for (int64_t r = 0; r < rows; ++r, p += pitch) acc = _mm512_dpbusd_epi32(acc, ones, sums(p, l0));
    store(o, acc);
  }
}

}  // namespace

namespace {

// MaxPool rows that the AVX2 kernel takes rows first (strides above 8, or 5 to 8 with windows
// of several rows: held-out odd_pools' 15 x 10 at strides 15 x 10), in registers: per chunk of
// outputs whose positions fit kBlocks vectors, each 64 positions' maxima over the window rows
// (masked loads of exactly the chunk's bytes), then per block the maxima over the taps at every
// start (vpermt2b of the block and the next by the tap's offset, so the reach stays below 64),
// and the outputs' starts picked into one vector by vpermb under the mask of the outputs whose
// start lies in the block. The AVX2 kernel stores both passes and picks byte by byte. Every
// window takes the maximum of the same bytes: equal to the scalar kernel. False where the reach
// is 64 or more or the stride above 511 (the AVX2 kernel's then).
bool MaxPoolColumnsFirstVbmi(const MaxPoolRowArgs& a) {
  constexpr int kBlocks = 8;
  const int64_t reach = (a.taps - 1) * a.dilation, stride = a.stride;
  if (reach >= 64 || stride > 511 || a.taps < 1) return false;
  const int64_t per_chunk = std::min<int64_t>(64, (kBlocks * 64 - reach - 1) / stride + 1);
  // output j of a chunk starts at j * stride: in block (j * stride) >> 6, at byte (j * stride) & 63
  alignas(64) static constexpr int16_t kFirst32[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                       11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                                       22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
  const __m512i j_lo = _mm512_load_si512(kFirst32);
  const __m512i s16 = _mm512_set1_epi16(static_cast<int16_t>(stride));
  const __m512i at_lo = _mm512_mullo_epi16(j_lo, s16);
  const __m512i at_hi = _mm512_mullo_epi16(_mm512_add_epi16(j_lo, _mm512_set1_epi16(32)), s16);
  const auto bytes = [](__m512i lo, __m512i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(lo)), _mm512_cvtepi16_epi8(hi), 1);
  };
  const __m512i pick = bytes(_mm512_and_si512(at_lo, _mm512_set1_epi16(63)), _mm512_and_si512(at_hi, _mm512_set1_epi16(63)));
  const __m512i block_of = bytes(_mm512_srli_epi16(at_lo, 6), _mm512_srli_epi16(at_hi, 6));
  const __m512i iota = bytes(j_lo, _mm512_add_epi16(j_lo, _mm512_set1_epi16(32)));
  const __m512i step = _mm512_set1_epi8(static_cast<char>(a.dilation));
  for (int64_t o0 = 0; o0 < a.n; o0 += per_chunk) {
    const int64_t m = std::min(per_chunk, a.n - o0);
    const int64_t span = (m - 1) * stride + reach + 1;
    const int blocks = static_cast<int>((span + 63) / 64);
    const int64_t base = o0 * stride;
    alignas(64) __m512i col[kBlocks + 1];
    for (int b = 0; b < blocks; ++b) {
      const int64_t left = span - 64 * b;
      const __mmask64 in = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
      __m512i v = _mm512_maskz_loadu_epi8(in, a.rows[0] + base + 64 * b);
      for (int r = 1; r < a.row_count; ++r) v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(in, a.rows[r] + base + 64 * b));
      col[b] = v;
    }
    // zeros past the span reach only starts that are not picked
    col[blocks] = _mm512_setzero_si512();
    const __mmask64 outputs = m >= 64 ? ~__mmask64{0} : (__mmask64{1} << m) - 1;
    __m512i y = _mm512_setzero_si512();
    const int64_t starts = (m - 1) * stride + 1;
    for (int b = 0; 64 * b < starts; ++b) {
      __m512i w = col[b], index = iota;
      for (int64_t t = 1; t < a.taps; ++t) {
        index = _mm512_add_epi8(index, step);
        w = _mm512_max_epi8(w, _mm512_permutex2var_epi8(col[b], index, col[b + 1]));
      }
      const __mmask64 here = _mm512_cmpeq_epi8_mask(block_of, _mm512_set1_epi8(static_cast<char>(b))) & outputs;
      y = _mm512_mask_permutexvar_epi8(y, here, pick, w);
    }
    _mm512_mask_storeu_epi8(a.out + o0, outputs, y);
  }
  return true;
}

}  // namespace

void MaxPoolRowAvx512Vbmi(const MaxPoolRowArgs& a) {
  if (ColumnsFirstPays(a.stride, a.row_count) && MaxPoolColumnsFirstVbmi(a)) return;
  MaxPoolRowAvx2(a);
}

// Windows of up to 8 taps at column strides 5-8 (AveragePool 5x5/5, 8x8/8) in 8-byte slots,
// of up to 4 at strides 2-4 (3x3/3, 4x4/4) in 4-byte slots, unless the window is tall (rows
// >= 3 x stride), where the AVX2 kernel sums rows first; the rest through that kernel too.
namespace {

// Column sums (taps 1, stride 1: an int8 ReduceMean over a block of middle axes, BC-ResNet's mean
// over frequency): 64 columns per step, each row's even and odd bytes sign-extended in place to
// int16 by shifts (no byte widening on the shuffle port per row) and added, up to 255 rows at a
// time (255 x 128 fits int16); then the even and odd sums interleaved back into column order,
// widened and added into the int32 sums; the last 1-63 columns masked.
void ColumnSums(const WindowSumRowArgs& a) {
  constexpr int64_t kRowsInt16 = 255;
  const int8_t* first = a.first;
  const int64_t n = a.n, rows = a.row_count, pitch = a.row_pitch;
  // [lo, hi] 128-bit lanes after the unpacks: lane L of lo holds columns 16L..16L+7, of hi
  // 16L+8..16L+15; these pick columns 0-31 (lanes 0, 1) and 32-63 (lanes 2, 3) in order
  const __m512i first_half = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i second_half = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  for (int64_t o = 0; o < n; o += 64) {
    const int64_t left = n - o;
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
    __m512i sums[4] = {};
    for (int64_t r0 = 0; r0 < rows; r0 += kRowsInt16) {
      __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
      const int64_t r_end = std::min(rows, r0 + kRowsInt16);
      const int8_t* row = first + r0 * pitch + o;
      for (int64_t r = r0; r < r_end; ++r, row += pitch) {
        const __m512i v = _mm512_maskz_loadu_epi8(m, row);
        even = _mm512_add_epi16(even, _mm512_srai_epi16(_mm512_slli_epi16(v, 8), 8));
        odd = _mm512_add_epi16(odd, _mm512_srai_epi16(v, 8));
      }
      const __m512i lo = _mm512_unpacklo_epi16(even, odd), hi = _mm512_unpackhi_epi16(even, odd);
      const __m512i c0 = _mm512_permutex2var_epi64(lo, first_half, hi);
      const __m512i c1 = _mm512_permutex2var_epi64(lo, second_half, hi);
      sums[0] = _mm512_add_epi32(sums[0], _mm512_cvtepi16_epi32(_mm512_castsi512_si256(c0)));
      sums[1] = _mm512_add_epi32(sums[1], _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(c0, 1)));
      sums[2] = _mm512_add_epi32(sums[2], _mm512_cvtepi16_epi32(_mm512_castsi512_si256(c1)));
      sums[3] = _mm512_add_epi32(sums[3], _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(c1, 1)));
    }
    for (int j = 0; j < 4; ++j) {
      const int64_t in_part = std::clamp<int64_t>(left - 16 * j, 0, 16);
      _mm512_mask_storeu_epi32(a.out + o + 16 * j, static_cast<__mmask16>((1u << in_part) - 1), sums[j]);
    }
  }
}

}  // namespace

void WindowSumRowAvx512Vbmi(const WindowSumRowArgs& a) {
  if (a.taps == 1 && a.stride == 1) return ColumnSums(a);
  if (a.taps >= 1 && a.row_count < 3 * a.stride) {
    if (a.taps <= 8 && a.stride >= 5 && a.stride <= 8) return WindowSumSlots<8>(a);
    if (a.taps <= 4 && a.stride >= 2 && a.stride <= 4) return WindowSumSlots<4>(a);
  }
  WindowSumRowAvx2(a);
}

}  // namespace edge::engine
