#include "agent/engine/kernels/im2col_u8.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "agent/engine/kernels/copy_bytes.h"
#include "agent/engine/kernels/simd128.h"

namespace edge::engine {
namespace {

using simd128::U8x16;

inline uint32_t Pack4(const int8_t* const src[4], int64_t i) {
  return uint32_t(uint8_t(src[0][i] ^ 0x80)) | (uint32_t(uint8_t(src[1][i] ^ 0x80)) << 8) |
         (uint32_t(uint8_t(src[2][i] ^ 0x80)) << 16) | (uint32_t(uint8_t(src[3][i] ^ 0x80)) << 24);
}

// The int8 -> uint8 shift (x + 128) of every byte.
inline U8x16 Flip(U8x16 v) { return simd128::Xor(v, simd128::Broadcast(0x80)); }

// 16 output pixels: interleave one byte from each of 4 source rows (already +128).
inline void Interleave16(U8x16 a, U8x16 b, U8x16 c, U8x16 d, uint8_t* dst) {
  using namespace simd128;
  const U8x16 ab_lo = InterleaveLo8(a, b), ab_hi = InterleaveHi8(a, b);
  const U8x16 cd_lo = InterleaveLo8(c, d), cd_hi = InterleaveHi8(c, d);
  Store16(dst, InterleaveLo16(ab_lo, cd_lo));
  Store16(dst + 16, InterleaveHi16(ab_lo, cd_lo));
  Store16(dst + 32, InterleaveLo16(ab_hi, cd_hi));
  Store16(dst + 48, InterleaveHi16(ab_hi, cd_hi));
}

inline U8x16 Load16Stride1(const int8_t* p) { return Flip(simd128::Load16(p)); }

// Every other byte of 32: the stride-2 taps.
inline U8x16 Load16Stride2(const int8_t* p) {
  return Flip(simd128::EvenBytes(simd128::Load16(p), simd128::Load16(p + 16)));
}

// Every other byte of 16 at p, then of 16 at q: two rows' 8 stride-2 taps in one vector.
inline U8x16 Load16Stride2Rows(const int8_t* p, const int8_t* q) {
  return Flip(simd128::EvenBytes(simd128::Load16(p), simd128::Load16(q)));
}

// 8 output pixels: the low halves of the four rows, interleaved into 32 bytes.
inline void Interleave8(U8x16 a, U8x16 b, U8x16 c, U8x16 d, uint8_t* dst) {
  using namespace simd128;
  const U8x16 ab = InterleaveLo8(a, b), cd = InterleaveLo8(c, d);
  Store16(dst, InterleaveLo16(ab, cd));
  Store16(dst + 16, InterleaveHi16(ab, cd));
}

inline U8x16 Load8Stride1(const int8_t* p) { return Flip(simd128::Load8(p)); }

// Every other byte of 16: 8 stride-2 taps in the low half.
inline U8x16 Load8Stride2(const int8_t* p) {
  const U8x16 v = simd128::Load16(p);
  return Flip(simd128::EvenBytes(v, v));
}

// n (0 to 3) 4-byte pixels from the low lanes of w.
inline void StoreWords(uint8_t* dst, U8x16 w, int64_t n) {
  if (n >= 2) {
    simd128::Store8(dst, w);
    if (n == 3) simd128::Store4(dst + 8, simd128::ShiftDownBytes<8>(w));
  } else if (n == 1) {
    simd128::Store4(dst, w);
  }
}

// The first n (1 to 7) of Interleave8's 8 pixels, nothing stored past them: the tail of a
// row too short for another 8-pixel step, one vector pass instead of n byte gathers.
inline void Interleave8Partial(U8x16 a, U8x16 b, U8x16 c, U8x16 d, uint8_t* dst, int64_t n) {
  using namespace simd128;
  const U8x16 ab = InterleaveLo8(a, b), cd = InterleaveLo8(c, d);
  if (n >= 4) {
    Store16(dst, InterleaveLo16(ab, cd));
    StoreWords(dst + 16, InterleaveHi16(ab, cd), n - 4);
  } else {
    StoreWords(dst, InterleaveLo16(ab, cd), n);
  }
}

// Four horizontally adjacent taps at stride 2 (a single-channel stem like DS-CNN's 10x4):
// pixel ox's word is bytes 2ox..2ox+3, i.e. the 16-bit pairs (ox, ox + 1), so one 16-byte
// load interleaved with itself shifted by one pair gives 7 pixels: 4 in the low half and 3
// in the high one. Narrow rows (5 pixels) become one load and two stores instead of five
// word moves. A load starts at a byte the row uses, so it reads at most 15 bytes past the
// row's last used byte: within the slack the contract asks of x.
inline void AdjacentStrideTwoRow(const int8_t* src, int64_t ox, int64_t hi, uint8_t* dst) {
  using namespace simd128;
  while (hi - ox >= 4) {
    const U8x16 v = Flip(Load16(src + ox * 2));
    const U8x16 pairs = ShiftDownBytes<2>(v);
    Store16(dst + ox * 4, InterleaveLo16(v, pairs));
    const int64_t rest = hi - ox - 4;
    if (rest >= 1 && rest <= 3) {
      StoreWords(dst + (ox + 4) * 4, InterleaveHi16(v, pairs), rest);
      return;
    }
    ox += 4;
  }
  if (ox < hi) {
    const U8x16 v = Flip(Load16(src + ox * 2));
    StoreWords(dst + ox * 4, InterleaveLo16(v, ShiftDownBytes<2>(v)), hi - ox);
  }
}

int64_t FloorHalf(int64_t v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

// Stride 2: the last row pixel where a 16- (8-) pixel vector load may start. The load reads
// one byte past the last tap it uses, so for each tap j that reads the row (use[j]) at
// element 2*ox + off[j], it must stay within the row plus the byte of slack callers keep.
void StrideTwoLimits(const int64_t off[4], const bool use[4], int64_t iw, int64_t& last16, int64_t& last8) {
  last16 = last8 = INT64_MAX;
  for (int j = 0; j < 4; ++j) {
    if (!use[j]) continue;
    last16 = std::min(last16, FloorHalf(iw - off[j] - 31));
    last8 = std::min(last8, FloorHalf(iw - off[j] - 15));
  }
}

// Output pixels [ox, hi) of one row from the four taps' source rows, each pre-offset so that
// its element ox*sw is the tap's byte: one 32-bit load per pixel for four adjacent taps,
// 16/8-pixel vectors for strides 1 and 2, then a byte at a time.
// Inlined: called once per output row, where a call costs more than a narrow row's work.
// `tails`: the rows have im2col's readable slack after them, so a row's last 1-7 pixels may
// take one short vector step (loads past the row's end) instead of a byte gather each.
__attribute__((always_inline)) inline void InterleaveRow(const int8_t* const src[4], int64_t sw, bool adjacent,
                                                         int64_t ox, int64_t hi, int64_t last16, int64_t last8,
                                                         uint8_t* dst, bool tails) {
  if (adjacent && sw == 2) {
    AdjacentStrideTwoRow(src[0], ox, hi, dst);
    return;
  }
  if (adjacent) {
    for (; ox < hi; ++ox) {
      uint32_t word;
      std::memcpy(&word, src[0] + ox * sw, 4);
      word ^= 0x80808080u;
      std::memcpy(dst + ox * 4, &word, 4);
    }
    return;
  }
  if (sw == 1) {
    for (; ox + 16 <= hi; ox += 16) {
      Interleave16(Load16Stride1(src[0] + ox), Load16Stride1(src[1] + ox), Load16Stride1(src[2] + ox),
                   Load16Stride1(src[3] + ox), dst + ox * 4);
    }
    if (ox + 8 <= hi) {
      Interleave8(Load8Stride1(src[0] + ox), Load8Stride1(src[1] + ox), Load8Stride1(src[2] + ox),
                  Load8Stride1(src[3] + ox), dst + ox * 4);
      ox += 8;
    }
    // 1-7 left: 8-byte loads read at most 7 bytes past the last one used (within x's slack)
    if (ox < hi && tails) {
      Interleave8Partial(Load8Stride1(src[0] + ox), Load8Stride1(src[1] + ox), Load8Stride1(src[2] + ox),
                         Load8Stride1(src[3] + ox), dst + ox * 4, hi - ox);
      return;
    }
  } else if (sw == 2) {
    for (; ox + 16 <= hi && ox <= last16; ox += 16) {
      Interleave16(Load16Stride2(src[0] + ox * 2), Load16Stride2(src[1] + ox * 2), Load16Stride2(src[2] + ox * 2),
                   Load16Stride2(src[3] + ox * 2), dst + ox * 4);
    }
    if (ox + 8 <= hi && ox <= last8) {
      Interleave8(Load8Stride2(src[0] + ox * 2), Load8Stride2(src[1] + ox * 2), Load8Stride2(src[2] + ox * 2),
                  Load8Stride2(src[3] + ox * 2), dst + ox * 4);
      ox += 8;
    }
    // 1-7 left: a 16-byte load from the first byte used reads at most 15 past the last one
    if (ox < hi && tails) {
      Interleave8Partial(Load8Stride2(src[0] + ox * 2), Load8Stride2(src[1] + ox * 2),
                         Load8Stride2(src[2] + ox * 2), Load8Stride2(src[3] + ox * 2), dst + ox * 4, hi - ox);
      return;
    }
  }
  for (; ox < hi; ++ox) {
    const uint32_t word = Pack4(src, ox * sw);
    std::memcpy(dst + ox * 4, &word, 4);
  }
}

}  // namespace

void AdjacentStrideTwoRows(const int8_t* src, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst) {
  for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) AdjacentStrideTwoRow(src, 0, width, dst);
}

void TapWordRowsU8(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst) {
  if (sw == 2) {
    AdjacentStrideTwoRows(src, row_step, rows, width, dst);
    return;
  }
  for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) {
    for (int64_t x = 0; x < width; ++x) {
      uint32_t word;
      std::memcpy(&word, src + x, 4);
      word ^= 0x80808080u;
      std::memcpy(dst + x * 4, &word, 4);
    }
  }
}

void GatherWordRows(const uint8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst) {
  if (sw == 1) {
    for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) CopyBytes(dst, src, width * 4);
    return;
  }
  for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) {
    int64_t x = 0;
    for (; x + 4 <= width; x += 4) {
      simd128::Store16(dst + x * 4, simd128::EvenWords(simd128::Load16(src + x * 8), simd128::Load16(src + x * 8 + 16)));
    }
    for (; x < width; ++x) std::memcpy(dst + x * 4, src + x * 8, 4);
  }
}

void Im2colRowsStride2U8(const int8_t* const base[4], const int64_t row_step[4], int64_t rows, int64_t width,
                         uint8_t* dst) {
  const int8_t* p[4] = {base[0], base[1], base[2], base[3]};
  auto step = [&](int64_t n) {
    for (int j = 0; j < 4; ++j) p[j] += n * row_step[j];
  };
  int64_t oy = 0;
  if (width == 8) {  // two rows per vector
    for (; oy + 2 <= rows; oy += 2, dst += 64, step(2)) {
      Interleave16(Load16Stride2Rows(p[0], p[0] + row_step[0]), Load16Stride2Rows(p[1], p[1] + row_step[1]),
                   Load16Stride2Rows(p[2], p[2] + row_step[2]), Load16Stride2Rows(p[3], p[3] + row_step[3]), dst);
    }
    if (oy < rows) Interleave8(Load8Stride2(p[0]), Load8Stride2(p[1]), Load8Stride2(p[2]), Load8Stride2(p[3]), dst);
    return;
  }
  // One row per step as a 16- (width > 8) or 8-pixel vector: rows are contiguous in dst, so a
  // row's stores past its width are overwritten by the next row's. A store that would reach
  // past the last row goes through a buffer instead.
  const int64_t vector_bytes = width > 8 ? 64 : 32, row_bytes = 4 * width;
  alignas(16) uint8_t buffer[64];
  for (; oy < rows; ++oy, dst += row_bytes, step(1)) {
    const bool direct = oy * row_bytes + vector_bytes <= rows * row_bytes;  // the store ends within the rows
    uint8_t* to = direct ? dst : buffer;
    if (width > 8) {
      Interleave16(Load16Stride2(p[0]), Load16Stride2(p[1]), Load16Stride2(p[2]), Load16Stride2(p[3]), to);
    } else {
      Interleave8(Load8Stride2(p[0]), Load8Stride2(p[1]), Load8Stride2(p[2]), Load8Stride2(p[3]), to);
    }
    if (!direct) CopyBytes(dst, buffer, row_bytes);
  }
}

namespace {

// Every window inside the input (callers pad a copy to get here): a k-group's four taps
// read from fixed pointers that advance by sh rows per output row, so a narrow row costs a
// few instructions instead of the general path's per-row bounds bookkeeping.
void Im2colInside(const int8_t* x, const ConvGeometry& g, const int8_t* pad_row, int64_t kp, int64_t np,
                  uint8_t* out, Im2colRowsFn rows_fn, InterleaveStridedFn strided) {
  const int64_t k_total = g.channels * g.kernel_h * g.kernel_w;
  const int64_t iw = g.in_w, oh = g.out_h, ow = g.out_w, sw = g.stride_w;
  // tap (c, y, x) of k, advanced by counting: a 64-bit division per tap costs more than a
  // narrow row's gather
  int64_t c = 0, y = 0, xx = 0;
  for (int64_t kg = 0; kg < kp / 4; ++kg) {
    const int8_t* base[4];
    int64_t row_step[4], chan[4] = {}, ky[4] = {}, kx[4] = {};
    for (int j = 0; j < 4; ++j) {
      const int64_t k = kg * 4 + j;
      if (k >= k_total) {  // past K: weights are zero there, read the padding row
        base[j] = pad_row;
        row_step[j] = 0;
        chan[j] = -1;
        continue;
      }
      chan[j] = c;
      ky[j] = y;
      kx[j] = xx;
      if (++xx == g.kernel_w) {
        xx = 0;
        if (++y == g.kernel_h) {
          y = 0;
          ++c;
        }
      }
      base[j] = x + (chan[j] * g.in_h + ky[j] * g.dilation_h) * iw + kx[j] * g.dilation_w;
      row_step[j] = g.stride_h * iw;
    }
    bool adjacent = g.dilation_w == 1 && chan[0] >= 0;
    for (int j = 1; j < 4; ++j) {
      adjacent = adjacent && chan[j] == chan[0] && ky[j] == ky[0] && kx[j] == kx[0] + j;
    }
    uint8_t* dst = out + kg * np * 4;
    if (adjacent && sw == 2) {  // one pointer per row
      AdjacentStrideTwoRows(base[0], row_step[0], oh, ow, dst);
      continue;
    }
    // Stride-2 rows of up to 16 pixels (downsampling convs): one vector per row, or two
    // 8-pixel rows per vector, the tap pointers stepped, not recomputed (consecutive output
    // rows are contiguous in dst). Its loads read at most 15 bytes past the last byte used.
    if (!adjacent && sw == 2 && ow <= 16) {
      (rows_fn != nullptr ? rows_fn : &Im2colRowsStride2U8)(base, row_step, oh, ow, dst);
      continue;
    }
    int64_t off[4], last16 = 0, last8 = 0;
    bool use[4];
    for (int j = 0; j < 4; ++j) {
      use[j] = chan[j] >= 0;
      off[j] = use[j] ? kx[j] * g.dilation_w : 0;
    }
    StrideTwoLimits(off, use, iw, last16, last8);
    // Strides 3-8: the tier's strided interleave per row (InterleaveRow gathers bytes there).
    const bool by_strided = !adjacent && sw > 2 && sw <= 8 && strided != nullptr;
    for (int64_t oy = 0; oy < oh; ++oy, dst += ow * 4) {
      const int8_t* src[4];
      for (int j = 0; j < 4; ++j) src[j] = base[j] + oy * row_step[j];
      if (by_strided) {
        strided(src, sw, ow, dst);
      } else {
        InterleaveRow(src, sw, adjacent, 0, ow, last16, last8, dst, true);
      }
    }
  }
}

// n bytes of `fill`'s value: 16-byte stores, the last one overlapping, never past n.
inline void FillRow(int8_t* dst, int64_t n, U8x16 fill) {
  if (n >= 16) {
    for (int64_t i = 0; i + 16 <= n; i += 16) simd128::Store16(dst + i, fill);
    simd128::Store16(dst + n - 16, fill);
    return;
  }
  const int8_t v = static_cast<int8_t>(simd128::FirstByte(fill));
  for (int64_t i = 0; i < n; ++i) dst[i] = v;
}

}  // namespace

void PadPlanesS8(const int8_t* src, int64_t planes, int64_t ih, int64_t iw, int64_t pad_t, int64_t pad_l,
                 int64_t hp, int64_t wp, int8_t zp, int8_t* dst) {
  const int64_t pad_b = hp - pad_t - ih, pad_r = wp - pad_l - iw;
  const bool edge_stores = wp >= 16 && pad_l <= 16 && pad_r <= 16;
  const U8x16 fill = simd128::Broadcast(static_cast<uint8_t>(zp));
  for (int64_t c = 0; c < planes; ++c) {
    int8_t* plane = dst + c * hp * wp;
    FillRow(plane, pad_t * wp, fill);
    FillRow(plane + (pad_t + ih) * wp, pad_b * wp, fill);
    for (int64_t y = 0; y < ih; ++y) {
      int8_t* row = plane + (y + pad_t) * wp;
      if (edge_stores) {
        simd128::Store16(row, fill);
        simd128::Store16(row + wp - 16, fill);
      } else {
        FillRow(row, wp, fill);
      }
      CopyBytes(row + pad_l, src + (c * ih + y) * iw, iw);
    }
  }
}

void CopyRowsS8(const int8_t* src, int64_t src_pitch, int8_t* dst, int64_t dst_pitch, int64_t width, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) CopyBytes(dst + r * dst_pitch, src + r * src_pitch, width);
}

void Interleave4RowsU8(const int8_t* const src[4], int64_t n, uint8_t* dst) {
  InterleaveRow(src, 1, false, 0, n, 0, 0, dst, false);
}

void InterleavePaddedU8(const int8_t* x, const ConvGeometry& g, int64_t hp, int64_t wp, uint8_t pad_byte,
                        const int8_t* pad_row, int64_t block_stride, uint8_t* out) {
  const int64_t ih = g.in_h, iw = g.in_w, plane = ih * iw;
  for (int64_t cb = 0; cb * 4 < g.channels; ++cb) {
    WritePaddedBlock(out + cb * block_stride, ih, iw, hp, wp, g.pad_top, g.pad_left, 1, pad_byte,
                     [&](int64_t y, uint8_t* dst) {
                       const int8_t* src[4];
                       for (int j = 0; j < 4; ++j) {
                         const int64_t c = cb * 4 + j;
                         src[j] = c < g.channels ? x + c * plane + y * iw : pad_row;
                       }
                       InterleaveRow(src, 1, false, 0, iw, 0, 0, dst, false);
                     });
  }
}

void InterleaveStridedU8(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst) {
  InterleaveRow(src, sw, false, 0, n, INT64_MAX, INT64_MAX, dst, true);
}

void InterleavePhasesU8(const int8_t* x, int64_t channels, int64_t x_rows, int64_t top, int64_t h, int64_t w,
                        int64_t sh, int64_t sw, const int64_t* phase_order, const int8_t* pad_row,
                        int64_t block_stride, uint8_t* out, InterleaveStridedFn strided) {
  const int64_t pitch = w * sw, plane = x_rows * pitch, phase_channels = channels * sh * sw;
  // phase channel cp = rank * channels + channel, counted rather than divided (a division per
  // phase channel costs as much as a narrow phase row's interleave)
  int64_t rank = 0, channel = 0, rank_row = phase_order[0] / sw, rank_col = phase_order[0] % sw;
  for (int64_t cb = 0; cb * 4 < phase_channels; ++cb) {
    int64_t c[4], ph[4], pw[4];
    for (int k = 0; k < 4; ++k) {
      const bool real = cb * 4 + k < phase_channels;
      c[k] = real ? channel : -1;
      ph[k] = real ? rank_row : 0;
      pw[k] = real ? rank_col : 0;
      if (real && ++channel == channels) {
        channel = 0;
        if (++rank < sh * sw) {
          rank_row = phase_order[rank] / sw;
          rank_col = phase_order[rank] % sw;
        }
      }
    }
    uint8_t* dst = out + cb * block_stride;
    for (int64_t i = 0; i < h;) {
      // One row stride: the rows inside x are one run through its planes.
      const int64_t n = sh == 1 && i >= top && i < top + x_rows ? std::min(h, top + x_rows) - i : 1;
      const int8_t* src[4];
      for (int k = 0; k < 4; ++k) {
        const int64_t r = i * sh + ph[k] - top;
        src[k] = c[k] >= 0 && r >= 0 && r < x_rows ? x + c[k] * plane + r * pitch + pw[k] : pad_row;
      }
      if (sw > 2) {
        strided(src, sw, n * w, dst + i * w * 4);
      } else {
        InterleaveRow(src, sw, false, 0, n * w, INT64_MAX, INT64_MAX, dst + i * w * 4, true);
      }
      i += n;
    }
  }
}

int64_t Im2colPadRowLength(const ConvGeometry& g) {
  return g.out_w * g.stride_w + g.kernel_w * g.dilation_w + 64;
}

void Im2colU8(const int8_t* x, const ConvGeometry& g, uint8_t pad_byte, const int8_t* pad_row,
              int64_t kp, int64_t np, uint8_t* out, Im2colRowsFn rows_fn, InterleaveStridedFn strided) {
  const int64_t k_total = g.channels * g.kernel_h * g.kernel_w;
  const int64_t ih = g.in_h, iw = g.in_w, oh = g.out_h, ow = g.out_w;
  const int64_t sh = g.stride_h, sw = g.stride_w;
  // True when every window lies inside the input (callers pad a copy to get here): rows then
  // need no per-tap bounds arithmetic.
  const bool inside = g.pad_top == 0 && g.pad_left == 0 &&
                      (oh - 1) * sh + (g.kernel_h - 1) * g.dilation_h < ih &&
                      (ow - 1) * sw + (g.kernel_w - 1) * g.dilation_w < iw;
  if (inside) {
    Im2colInside(x, g, pad_row, kp, np, out, rows_fn, strided);
    return;
  }
  for (int64_t kg = 0; kg < kp / 4; ++kg) {
    uint8_t* dst_group = out + kg * np * 4;
    const int8_t* plane[4];
    int64_t ky[4], kx[4];
    bool valid[4];
    int64_t chan[4];
    for (int j = 0; j < 4; ++j) {
      const int64_t k = kg * 4 + j;
      valid[j] = k < k_total;
      const int64_t kk = valid[j] ? k : 0;
      chan[j] = kk / (g.kernel_h * g.kernel_w);
      ky[j] = (kk / g.kernel_w) % g.kernel_h;
      kx[j] = kk % g.kernel_w;
      plane[j] = x + chan[j] * ih * iw;
    }
    // Four horizontally adjacent taps of one input row (kernel width a multiple of 4, no
    // dilation): each pixel's 4 bytes are one 32-bit load.
    bool adjacent = g.dilation_w == 1 && valid[0];
    for (int j = 1; j < 4; ++j) {
      adjacent = adjacent && valid[j] && chan[j] == chan[0] && ky[j] == ky[0] && kx[j] == kx[0] + j;
    }
    for (int64_t oy = 0; oy < oh; ++oy) {
      uint8_t* dst = dst_group + oy * ow * 4;
      // Source row of each tap, pre-offset so that element ox*sw is the tap's input; a tap
      // whose row is padding (or beyond K) reads the padding row over the whole width.
      const int8_t* src[4];
      bool row_ok[4];
      int64_t lo = 0, hi = ow;
      for (int j = 0; j < 4; ++j) {
        const int64_t iy = oy * sh - g.pad_top + ky[j] * g.dilation_h;
        const int64_t off = kx[j] * g.dilation_w - g.pad_left;
        row_ok[j] = valid[j] && iy >= 0 && iy < ih;
        if (!row_ok[j]) {
          src[j] = pad_row;
          continue;
        }
        src[j] = plane[j] + iy * iw + off;
        if (inside) continue;  // no window leaves the image: the whole row is interior
        // ox*sw + off must lie in [0, iw)
        const int64_t first = off >= 0 ? 0 : (-off + sw - 1) / sw;
        const int64_t last = iw - 1 - off < 0 ? -1 : (iw - 1 - off) / sw;
        lo = std::max(lo, first);
        hi = std::min(hi, last + 1);
      }
      lo = std::min(lo, ow);
      hi = std::max(std::min(hi, ow), lo);
      // Borders: per element, with bounds checks.
      auto border = [&](int64_t ox) {
        uint32_t word = 0;
        for (int j = 0; j < 4; ++j) {
          uint32_t b = pad_byte;
          if (row_ok[j]) {
            const int64_t ix = ox * sw + kx[j] * g.dilation_w - g.pad_left;
            if (ix >= 0 && ix < iw) b = uint8_t(src[j][ox * sw] ^ 0x80);
          }
          word |= b << (8 * j);
        }
        std::memcpy(dst + ox * 4, &word, 4);
      };
      for (int64_t ox = 0; ox < std::min(lo, ow); ++ox) border(ox);
      int64_t off[4], last16 = 0, last8 = 0;
      for (int j = 0; j < 4; ++j) off[j] = kx[j] * g.dilation_w - g.pad_left;
      StrideTwoLimits(off, row_ok, iw, last16, last8);
      InterleaveRow(src, sw, adjacent && row_ok[0], lo, hi, last16, last8, dst, true);
      for (int64_t ox = hi; ox < ow; ++ox) border(ox);
    }
  }
}

}  // namespace edge::engine
