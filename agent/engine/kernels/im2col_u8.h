// Builds the unsigned, 4-interleaved activation operand of an int8 Conv: R[kp/4][np][4] with
// R[k][p] = x[c][iy][ix] + 128 for k = (c, ky, kx) and output pixel p; spatial padding reads
// the input zero point (+128). Entries for k >= K and p >= pixels are left unspecified: the
// weights are zero there and those output columns are never stored. Pure data movement, so
// it is shared by every kernel tier (128-bit vectors of kernels/simd128.h: SSE2 on x86-64,
// Advanced SIMD on arm64, each part of its architecture's baseline). Stride-2 vector
// loads may read up to 16 bytes past the last input byte used: x needs that much readable
// slack after it (the arena and the padded copies provide it).
#pragma once

#include <cstdint>

#include "agent/engine/kernels/simd128.h"

namespace edge::engine {

// a / b rounded toward minus infinity (b > 0): a window's first row or column over padding.
inline int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct ConvGeometry {
  int64_t channels = 0;  // input channels of one group
  int64_t in_h = 0, in_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t out_h = 0, out_w = 0;
};

// Copies `planes` planes of ih x iw bytes into zero-point (zp) padded planes of hp x wp, the
// input at (pad_t, pad_l): the copy a padded conv's im2col reads. Each byte is written once or
// twice while it is in L1 (padding rows filled, each row's borders covered by a 16-byte fill at
// either end, then the row copied in): a memset of the whole buffer first (rep stosb past
// 2 KB) made the copy and the im2col after it stall, ~1 us per stride-2 conv of ResNet-8.
void PadPlanesS8(const int8_t* src, int64_t planes, int64_t ih, int64_t iw, int64_t pad_t, int64_t pad_l,
                 int64_t hp, int64_t wp, int8_t zp, int8_t* dst);

// rows rows of width bytes from src (row pitch src_pitch) to dst (row pitch dst_pitch), with
// inlined fixed-size moves: feature-map rows are often a handful of bytes, where a memcpy call
// per row costs more than the convolution.
void CopyRowsS8(const int8_t* src, int64_t src_pitch, int8_t* dst, int64_t dst_pitch, int64_t width, int64_t rows);

using InterleaveStridedFn = void (*)(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst);

// Length of the padding row Im2colU8 needs: pad_row holds that many bytes of (pad_byte ^ 0x80).
int64_t Im2colPadRowLength(const ConvGeometry& g);

// Stride-2 rows of `width` (1 to 16) output pixels, one k-group: for oy < rows, the 4 * width
// bytes at dst + 4 * width * oy are the row's pixels' four taps, tap j's bytes every other
// byte of the 2 * width - 1 at p[j] + oy * row_step[j] (+128). Nothing is written past the
// last row. A tier may supply a faster form (ElementwiseKernels::im2col_rows); it reads no
// byte the 128-bit form does not read.
using Im2colRowsFn = void (*)(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                              uint8_t* dst);

// `strided`: the tier's InterleaveStridedFn, for rows at column strides 3-8 where every window
// lies inside x (else a byte gather per tap); it may read as far past a row as it does in
// InterleavePhasesU8.
void Im2colU8(const int8_t* x, const ConvGeometry& g, uint8_t pad_byte, const int8_t* pad_row,
              int64_t kp, int64_t np, uint8_t* out, Im2colRowsFn rows_fn = nullptr,
              InterleaveStridedFn strided = nullptr);

// rows x width words, dst[(r * width + x) * 4 + j] = src[r * row_step + 2x + j] + 128 (as
// uint8): four adjacent bytes at column stride 2 per word, one input row per output row (the
// operand of a conv's kernel row of 4 taps). Reads up to 16 bytes past a row's last word.
void AdjacentStrideTwoRows(const int8_t* src, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst);
// The rows of tap words at column stride sw (1 or 2): dst[(r * width + x) * 4 + j] =
// src[r * row_step + sw * x + j] + 128 (as uint8); AdjacentStrideTwoRows at 2, a word at a time
// at 1. Reads up to 16 bytes past a row's last word (a tier's form no further).
void TapWordRowsU8(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst);
using TapWordRowsFn = void (*)(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width,
                               uint8_t* dst);

// rows x width words at column stride sw (1 or 2): dst[(r * width + x) * 4 + j] = src[r *
// row_step + 4 * sw * x + j], one k-group of a conv's columns gathered from its view of the
// interleaved operand (the already unsigned words of InterleavePaddedU8). At stride 1 a copy of
// exactly the rows; at 2 the 128-bit form reads up to one word past a row's last word (2 *
// width - 1 of them) and a tier's faster form (ElementwiseKernels::gather_words) no more.
void GatherWordRows(const uint8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst);
using GatherWordsFn = void (*)(const uint8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width,
                               uint8_t* dst);

// The 128-bit form of Im2colRowsFn: a row per 16-pixel (width > 8) or 8-pixel vector, 8-pixel
// rows two per vector. Loads read at most 15 bytes past the last byte a row uses.
void Im2colRowsStride2U8(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                         uint8_t* dst);

// dst[p][j] = src[j][p] + 128 for p < n: a 1x1 conv's k-group of four channel planes (the
// 128-bit form of ElementwiseKernels::interleave4). Reads no byte past src[j][n - 1].
void Interleave4RowsU8(const int8_t* const src[4], int64_t n, uint8_t* dst);

// The implicit-GEMM operand of a stride-1 conv in one pass: the input planes zero-point padded
// to hp x wp (g.pad_top, g.pad_left before; the rest after) and interleaved 4 channels per
// pixel, unsigned: out[cb * block_stride + (y * wp + x) * 4 + j] = padded channel 4cb + j at
// (y, x), + 128. Channels past g.channels read pad_row (pad_byte ^ 0x80, at least g.in_w bytes).
void InterleavePaddedU8(const int8_t* x, const ConvGeometry& g, int64_t hp, int64_t wp, uint8_t pad_byte,
                        const int8_t* pad_row, int64_t block_stride, uint8_t* out);

// The implicit-GEMM operand of a strided conv run as a stride-1 conv over its stride phases:
// the padded input is h * sh rows of w * sw bytes per channel, of which rows [top, top +
// x_rows) are x's planes (x_rows rows of w * sw bytes each) and the others the zero point.
// Phase channel c' = rank * channels + c is the h x w plane padded[c][i * sh + ph][j * sw +
// pw] of phase ph * sw + pw = phase_order[rank], written interleaved 4 per pixel, unsigned: out[cb * block_stride + (i * w +
// j) * 4 + k] = phase channel 4cb + k at (i, j), + 128. Padding rows and phase channels past
// channels * sh * sw read pad_row (pad_byte ^ 0x80, at least h * w * sw + 32 bytes). Reads up
// to 32 bytes past x's planes at column strides 1 and 2.
// Column strides above 2 go through `strided` (InterleaveStridedU8 or a tier's form); stride 2
// stays inline here (measured: a call per row of the VBMI form was slower on 23-pixel rows).
void InterleavePhasesU8(const int8_t* x, int64_t channels, int64_t x_rows, int64_t top, int64_t h, int64_t w,
                        int64_t sh, int64_t sw, const int64_t* phase_order, const int8_t* pad_row,
                        int64_t block_stride, uint8_t* out, InterleaveStridedFn strided);

// dst[4p + k] = src[k][p * sw] + 128 (as uint8) for p < n: four rows' bytes at a column stride,
// interleaved (the strided rows of InterleavePhasesU8). Vector forms at strides 1 and 2
// (reading up to 31 bytes past the last byte used), bytes one at a time otherwise.
void InterleaveStridedU8(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst);

// `pixels` 4-byte pixels of pad_byte (vector stores: a byte loop would become a memset call).
inline void FillPixels(uint8_t* dst, int64_t pixels, uint8_t pad_byte) {
  const simd128::U8x16 v = simd128::Broadcast(pad_byte);
  int64_t i = 0;
  for (; i + 4 <= pixels; i += 4) simd128::Store16(dst + i * 4, v);
  for (; i < pixels; ++i) simd128::Store4(dst + i * 4, v);
}

// One channel block of InterleavePaddedU8's operand (hp x wp pixels from `block`, the input's
// ih x iw at (pad_top, pad_left)) in address order: the top padding and row 0's left padding,
// then per call of rows(y, dst) (input rows y .. y + step - 1 at dst, a row pitch of wp pixels)
// their right padding, which is the next row's left padding (after the last row: the rest of
// the block). Every line is written while it is in L1; all the padding first and the rows
// after took an L1 miss per padded row (~1.5 us of ResNet-8's 77 at avx512vnni).
template <class Rows>
void WritePaddedBlock(uint8_t* block, int64_t ih, int64_t iw, int64_t hp, int64_t wp, int64_t pad_top,
                      int64_t pad_left, int64_t step, uint8_t pad_byte, Rows&& rows) {
  FillPixels(block, pad_top * wp + pad_left, pad_byte);
  uint8_t* const first = block + (pad_top * wp + pad_left) * 4;
  uint8_t* const end = block + hp * wp * 4;
  for (int64_t y = 0; y < ih; y += step) {
    rows(y, first + y * wp * 4);
    for (int64_t r = y; r < y + step && r < ih; ++r) {
      uint8_t* const after = first + (r * wp + iw) * 4;
      FillPixels(after, r + 1 < ih ? wp - iw : (end - after) / 4, pad_byte);
    }
  }
}

}  // namespace edge::engine
