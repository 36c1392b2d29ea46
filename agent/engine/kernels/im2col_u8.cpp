#include "agent/engine/kernels/im2col_u8.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstring>

namespace edge::engine {
namespace {

inline uint32_t Pack4(const int8_t* const src[4], int64_t i) {
  return uint32_t(uint8_t(src[0][i] ^ 0x80)) | (uint32_t(uint8_t(src[1][i] ^ 0x80)) << 8) |
         (uint32_t(uint8_t(src[2][i] ^ 0x80)) << 16) | (uint32_t(uint8_t(src[3][i] ^ 0x80)) << 24);
}

// 16 output pixels: interleave one byte from each of 4 source rows (already +128).
inline void Interleave16(__m128i a, __m128i b, __m128i c, __m128i d, uint8_t* dst) {
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi16(ab_lo, cd_lo));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
}

inline __m128i Load16Stride1(const int8_t* p) {
  return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), _mm_set1_epi8(-128));
}

// Every other byte of 32: the stride-2 taps.
inline __m128i Load16Stride2(const int8_t* p) {
  const __m128i mask = _mm_set1_epi16(0x00FF);
  const __m128i lo = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), mask);
  const __m128i hi = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), mask);
  return _mm_xor_si128(_mm_packus_epi16(lo, hi), _mm_set1_epi8(-128));
}

// 8 output pixels: the low halves of the four rows, interleaved into 32 bytes.
inline void Interleave8(__m128i a, __m128i b, __m128i c, __m128i d, uint8_t* dst) {
  const __m128i ab = _mm_unpacklo_epi8(a, b), cd = _mm_unpacklo_epi8(c, d);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi16(ab, cd));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_unpackhi_epi16(ab, cd));
}

inline __m128i Load8Stride1(const int8_t* p) {
  return _mm_xor_si128(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), _mm_set1_epi8(-128));
}

// Every other byte of 16: 8 stride-2 taps in the low half.
inline __m128i Load8Stride2(const int8_t* p) {
  const __m128i v = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), _mm_set1_epi16(0x00FF));
  return _mm_xor_si128(_mm_packus_epi16(v, v), _mm_set1_epi8(-128));
}

// Every window inside the input (callers pad a copy to get here): a k-group's four taps
// read from fixed pointers that advance by sh rows per output row, so a narrow row costs a
// few instructions instead of the general path's per-row bounds bookkeeping.
void Im2colInside(const int8_t* x, const ConvGeometry& g, const int8_t* pad_row, int64_t kp, int64_t np,
                  uint8_t* out) {
  const int64_t k_total = g.channels * g.kernel_h * g.kernel_w;
  const int64_t iw = g.in_w, oh = g.out_h, ow = g.out_w, sw = g.stride_w;
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
      chan[j] = k / (g.kernel_h * g.kernel_w);
      ky[j] = (k / g.kernel_w) % g.kernel_h;
      kx[j] = k % g.kernel_w;
      base[j] = x + (chan[j] * g.in_h + ky[j] * g.dilation_h) * iw + kx[j] * g.dilation_w;
      row_step[j] = g.stride_h * iw;
    }
    bool adjacent = g.dilation_w == 1 && chan[0] >= 0;
    for (int j = 1; j < 4; ++j) {
      adjacent = adjacent && chan[j] == chan[0] && ky[j] == ky[0] && kx[j] == kx[0] + j;
    }
    // Stride-2 vector loads read one byte past their last tap (callers keep that byte of
    // slack): only starts ox whose load stays within the row plus that byte.
    int64_t last16 = -1, last8 = -1;
    if (sw == 2) {
      int64_t reach = 0;
      for (int j = 0; j < 4; ++j) reach = std::max(reach, chan[j] >= 0 ? kx[j] * g.dilation_w : 0);
      if (iw - reach - 31 >= 0) last16 = (iw - reach - 31) / 2;
      if (iw - reach - 15 >= 0) last8 = (iw - reach - 15) / 2;
    }
    uint8_t* dst = out + kg * np * 4;
    for (int64_t oy = 0; oy < oh; ++oy, dst += ow * 4) {
      const int8_t* src[4];
      for (int j = 0; j < 4; ++j) src[j] = base[j] + oy * row_step[j];
      int64_t ox = 0;
      if (adjacent) {
        for (; ox < ow; ++ox) {
          uint32_t word;
          std::memcpy(&word, src[0] + ox * sw, 4);
          word ^= 0x80808080u;
          std::memcpy(dst + ox * 4, &word, 4);
        }
        continue;
      }
      if (sw == 1) {
        for (; ox + 16 <= ow; ox += 16) {
          Interleave16(Load16Stride1(src[0] + ox), Load16Stride1(src[1] + ox), Load16Stride1(src[2] + ox),
                       Load16Stride1(src[3] + ox), dst + ox * 4);
        }
        if (ox + 8 <= ow) {
          Interleave8(Load8Stride1(src[0] + ox), Load8Stride1(src[1] + ox), Load8Stride1(src[2] + ox),
                      Load8Stride1(src[3] + ox), dst + ox * 4);
          ox += 8;
        }
      } else if (sw == 2) {
        for (; ox + 16 <= ow && ox <= last16; ox += 16) {
          Interleave16(Load16Stride2(src[0] + ox * 2), Load16Stride2(src[1] + ox * 2),
                       Load16Stride2(src[2] + ox * 2), Load16Stride2(src[3] + ox * 2), dst + ox * 4);
        }
        if (ox + 8 <= ow && ox <= last8) {
          Interleave8(Load8Stride2(src[0] + ox * 2), Load8Stride2(src[1] + ox * 2), Load8Stride2(src[2] + ox * 2),
                      Load8Stride2(src[3] + ox * 2), dst + ox * 4);
          ox += 8;
        }
      }
      for (; ox < ow; ++ox) {
        const uint32_t word = Pack4(src, ox * sw);
        std::memcpy(dst + ox * 4, &word, 4);
      }
    }
  }
}

}  // namespace

int64_t Im2colPadRowLength(const ConvGeometry& g) {
  return g.out_w * g.stride_w + g.kernel_w * g.dilation_w + 64;
}

void Im2colU8(const int8_t* x, const ConvGeometry& g, uint8_t pad_byte, const int8_t* pad_row,
              int64_t kp, int64_t np, uint8_t* out) {
  const int64_t k_total = g.channels * g.kernel_h * g.kernel_w;
  const int64_t ih = g.in_h, iw = g.in_w, oh = g.out_h, ow = g.out_w;
  const int64_t sh = g.stride_h, sw = g.stride_w;
  // True when every window lies inside the input (callers pad a copy to get here): rows then
  // need no per-tap bounds arithmetic.
  const bool inside = g.pad_top == 0 && g.pad_left == 0 &&
                      (oh - 1) * sh + (g.kernel_h - 1) * g.dilation_h < ih &&
                      (ow - 1) * sw + (g.kernel_w - 1) * g.dilation_w < iw;
  if (inside) {
    Im2colInside(x, g, pad_row, kp, np, out);
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
      int64_t ox = lo;
      if (adjacent && row_ok[0]) {
        for (; ox < hi; ++ox) {
          uint32_t word;
          std::memcpy(&word, src[0] + ox * sw, 4);
          word ^= 0x80808080u;
          std::memcpy(dst + ox * 4, &word, 4);
        }
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
      } else if (sw == 2) {
        // 32 source bytes per 16 pixels: stay inside the row (or the padding row)
        for (; ox + 16 <= hi; ox += 16) {
          bool fits = true;
          for (int j = 0; j < 4; ++j) {
            // the load reads one byte past the last tap used: callers keep a byte of slack
            if (row_ok[j] && ox * 2 + kx[j] * g.dilation_w - g.pad_left + 31 > iw) fits = false;
          }
          if (!fits) break;
          Interleave16(Load16Stride2(src[0] + ox * 2), Load16Stride2(src[1] + ox * 2),
                       Load16Stride2(src[2] + ox * 2), Load16Stride2(src[3] + ox * 2), dst + ox * 4);
        }
        if (ox + 8 <= hi) {
          bool fits = true;
          for (int j = 0; j < 4; ++j) {
            // 16 bytes read, the last one past the last tap used (callers keep that slack)
            if (row_ok[j] && ox * 2 + kx[j] * g.dilation_w - g.pad_left + 15 > iw) fits = false;
          }
          if (fits) {
            Interleave8(Load8Stride2(src[0] + ox * 2), Load8Stride2(src[1] + ox * 2), Load8Stride2(src[2] + ox * 2),
                        Load8Stride2(src[3] + ox * 2), dst + ox * 4);
            ox += 8;
          }
        }
      }
      for (; ox < hi; ++ox) {
        const uint32_t word = Pack4(src, ox * sw);
        std::memcpy(dst + ox * 4, &word, 4);
      }
      for (ox = hi; ox < ow; ++ox) border(ox);
    }
  }
}

}  // namespace edge::engine
