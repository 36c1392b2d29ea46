// AVX-512 VNNI tier of the depthwise kernel: 64 outputs per step, each tap one masked byte load
// (a dropped lane reads zx), four taps interleaved per output and summed by one vpdpbusd.
// Compiled with -mavx512f/bw/vl/vnni for this file only; reached through ElementwiseForTier.
#include <immintrin.h>

#include <cstring>

#include "agent/engine/kernels/depthwise.h"

namespace edge::engine {
namespace {

// As in qgemm_avx512vnni.cpp: GCC 12 spills accumulators around the vpdpbusd intrinsic.
inline __m512i Dpbusd(__m512i acc, __m512i unsigned_bytes, __m512i signed_bytes) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(unsigned_bytes), "v"(signed_bytes));
  return acc;
}

// The tap's 64 source bytes as unsigned (x + 128); masked-off lanes never touch memory, so
// the address may lie outside the plane (integer arithmetic: no out-of-bounds pointer).
inline __m512i LoadTap(uintptr_t src, int64_t offset, uint64_t mask, __m512i fill) {
  const void* p = reinterpret_cast<const void*>(src + static_cast<uintptr_t>(offset));
  return _mm512_xor_si512(_mm512_mask_loadu_epi8(fill, mask, p), _mm512_set1_epi8(-128));
}

// The word-group form (DepthwisePlan::words): per block of 64 outputs, each group is four
// loads (one per lane phase s) and four dot products into acc[s], whose lane i is output
// 4i + s. Requantization: only the upper float clamp (to qmax - zp; it also keeps the int32
// conversion in range, while below the range it saturates to INT32_MIN), then saturating
// packs to int16, the zero point added at 16 bits, packs to bytes and the lower clamp on the
// bytes; clamping after rounding equals clamping before it, the bounds being integers. The
// packs leave each 128-bit lane as [acc0's 4 outputs, acc1's, acc2's, acc3's], a 4 x 4
// transpose of output order that one byte shuffle undoes. kWords > 0: that many groups,
// unrolled (3 for a 3x3 kernel); 0: the plan's count.
template <int kWords>
void DepthwiseWords(const DepthwiseArgs& a) {
  const DepthwisePlan& p = *a.plan;
  const int words = kWords > 0 ? kWords : p.words;
  const __m512i fill = _mm512_set1_epi8(a.zx);
  const __m512 hi = _mm512_set1_ps(static_cast<float>(a.qmax - a.zero_point));
  const __m512i zp = _mm512_set1_epi16(static_cast<int16_t>(a.zero_point));
  const __m512i qmin = _mm512_set1_epi8(static_cast<char>(a.qmin));
  const __m512i order = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const int64_t* offsets = p.word_offsets.data();
  for (int64_t c = 0; c < a.channels; ++c) {
    const int32_t* wwords = a.word_weights + c * p.words;
    int8_t* out = a.out + c * a.out_stride;
    const __m512i bias = _mm512_set1_epi32(a.bias[c]);
    const __m512 mult = _mm512_set1_ps(a.mult[c]);
    const uintptr_t plane = reinterpret_cast<uintptr_t>(a.src + c * a.src_stride);
    for (int64_t b = 0; b < p.blocks; ++b) {
      const uintptr_t src = plane + static_cast<uintptr_t>(b * kDepthwiseBlock);
      const uint64_t* masks = p.word_masks.data() + b * words * 4;
      __m512i acc[4] = {bias, bias, bias, bias};
#pragma GCC unroll 4
      for (int g = 0; g < words; ++g) {
        const __m512i wv = _mm512_set1_epi32(wwords[g]);
        const int64_t o = offsets[g];
        const uint64_t* m = masks + 4 * g;
        acc[0] = Dpbusd(acc[0], LoadTap(src, o, m[0], fill), wv);
        acc[1] = Dpbusd(acc[1], LoadTap(src, o + 1, m[1], fill), wv);
        acc[2] = Dpbusd(acc[2], LoadTap(src, o + 2, m[2], fill), wv);
        acc[3] = Dpbusd(acc[3], LoadTap(src, o + 3, m[3], fill), wv);
      }
      __m512i q[4];
      for (int s = 0; s < 4; ++s) {
        q[s] = _mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_mul_ps(_mm512_cvtepi32_ps(acc[s]), mult)));
      }
      const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp);
      const __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), zp);
      const __m512i bytes = _mm512_max_epi8(_mm512_shuffle_epi8(_mm512_packs_epi16(w01, w23), order), qmin);
      const int64_t left = p.grid - b * kDepthwiseBlock;
      const __mmask64 store = left >= kDepthwiseBlock ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
      _mm512_mask_storeu_epi8(out + b * kDepthwiseBlock, store, bytes);
    }
  }
}

// Stride-2 columns of rows of any width, any row stride (odd_strides' 23-byte rows, raw_audio_ds's
// 2000-byte ones): 64 bytes per load (the last load masked to the row), their even and odd bytes
// narrowed from 16-bit lanes, and two stores of 32 bytes (the last two masked to exactly the
// phase rows' lengths: the bytes after them may be another phase's).
void SplitStrideTwoRows(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& plan, int64_t channels,
                        int8_t* phases) {
  const int64_t sh = g.stride_h, iw = g.in_w, pitch = plan.pitch, phase_stride = plan.phase_rows * pitch;
  const auto first = [](int64_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; };
  const int64_t whole = iw / 64 * 64, tail = iw - whole;  // bytes in whole 64-byte loads, then the rest
  const __mmask64 tail_bytes = first(tail);
  const __mmask32 even_bytes = static_cast<__mmask32>(first((tail + 1) / 2)), odd_bytes = static_cast<__mmask32>(first(tail / 2));
  for (int64_t c = 0; c < channels; ++c) {
    const int8_t* plane = x + c * g.in_h * iw;
    int8_t* dst = phases + c * plan.phase_bytes;
    for (int64_t rp = 0; rp < sh; ++rp) {
      if (plan.row_phase_read[static_cast<size_t>(rp)] == 0) continue;  // no kernel row reads it
      const int64_t rows = (g.in_h - rp + sh - 1) / sh;
      const int8_t* row = plane + rp * iw;
      int8_t* phase_row = dst + rp * 2 * phase_stride;  // row phase rp, column phase 0, row 0
      for (int64_t r = 0; r < rows; ++r, row += sh * iw, phase_row += pitch) {
        for (int64_t ix = 0; ix < whole; ix += 64) {
          const __m512i v = _mm512_loadu_si512(row + ix);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(phase_row + ix / 2), _mm512_cvtepi16_epi8(v));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(phase_row + phase_stride + ix / 2),
                              _mm512_cvtepi16_epi8(_mm512_srli_epi16(v, 8)));
        }
        if (tail > 0) {
          const __m512i v = _mm512_maskz_loadu_epi8(tail_bytes, row + whole);
          _mm256_mask_storeu_epi8(phase_row + whole / 2, even_bytes, _mm512_cvtepi16_epi8(v));
          _mm256_mask_storeu_epi8(phase_row + phase_stride + whole / 2, odd_bytes,
                                  _mm512_cvtepi16_epi8(_mm512_srli_epi16(v, 8)));
        }
      }
    }
  }
}

}  // namespace

// Stride 2 both ways, 16-byte input rows, 8-byte phase rows (pitch 8), rows a multiple of 4:
// a vector is four input rows, r..r+3 with r a multiple of 4. One in-lane byte shuffle puts
// each row's even columns in its low 8 bytes and odd ones in the high 8, one qword permute
// pairs the same-phase rows (r with r + 2, r + 1 with r + 3), and each 16 bytes are rows
// r/2 and r/2 + 1 of one phase: 1 load, 2 shuffles and 4 stores where the SSE2 split takes
// 4 loads, 4 ands or shifts, 4 packs and 4 stores.
void SplitDepthwisePhasesAvx512(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& plan, int64_t channels,
                                int8_t* phases) {
  // (the four-row vector writes both row phases: only where both are read)
  const bool four_rows = g.stride_h == 2 && g.stride_w == 2 && g.in_w == 16 && plan.pitch == 8 && g.in_h % 4 == 0 &&
                         plan.row_phase_read[0] != 0 && plan.row_phase_read[1] != 0;
  if (!four_rows) {
    g.stride_w == 2 ? SplitStrideTwoRows(x, g, plan, channels, phases) : SplitDepthwisePhases(x, g, plan, channels, phases);
    return;
  }
  const __m512i columns =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
  // qwords (row, column phase): 0 = (r, even), 1 = (r, odd), 2 = (r+1, even) ... 7 = (r+3, odd)
  const __m512i pairs = _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7);
  const int64_t phase_plane = plan.phase_rows * 8;  // one phase: phase_rows rows of 8 bytes
  for (int64_t c = 0; c < channels; ++c) {
    const int8_t* src = x + c * g.in_h * 16;
    int8_t* dst = phases + c * plan.phase_bytes;
    for (int64_t r = 0; r < g.in_h; r += 4) {
      const __m512i v = _mm512_permutexvar_epi64(pairs, _mm512_shuffle_epi8(_mm512_loadu_si512(src + r * 16), columns));
      // 16-byte lanes: phase (0, 0), (0, 1), (1, 0), (1, 1); phase rows r/2 and r/2 + 1
      int8_t* at = dst + r / 2 * 8;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(at), _mm512_castsi512_si128(v));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(at + phase_plane), _mm512_extracti32x4_epi32(v, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(at + 2 * phase_plane), _mm512_extracti32x4_epi32(v, 2));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(at + 3 * phase_plane), _mm512_extracti32x4_epi32(v, 3));
    }
  }
}

void DepthwiseAvx512Vnni(const DepthwiseArgs& a) {
  // Both forms below add the zero point to int16s; a zero point past 2^14 (no int8 model
  // has one) takes the AVX2 kernel, which adds it in int32 there.
  if (a.zero_point < -(1 << 14) || a.zero_point > (1 << 14)) {
    DepthwiseAvx2(a);
    return;
  }
  const DepthwisePlan& p = *a.plan;
  if (p.words == 3) {
    DepthwiseWords<3>(a);
    return;
  }
  if (p.words > 0) {
    DepthwiseWords<0>(a);
    return;
  }
  const int groups = p.taps / 4;
  const __m512i fill = _mm512_set1_epi8(a.zx);
  const __m512 hi = _mm512_set1_ps(static_cast<float>(a.qmax - a.zero_point));
  const __m512i zp = _mm512_set1_epi16(static_cast<int16_t>(a.zero_point));
  const __m512i qmin = _mm512_set1_epi8(static_cast<char>(a.qmin));
  const int64_t* offsets = p.offsets.data();
  for (int64_t c = 0; c < a.channels; ++c) {
    const int8_t* w = a.weights + c * p.taps;
    int8_t* out = a.out + c * a.out_stride;
    const __m512i bias = _mm512_set1_epi32(a.bias[c]);
    const __m512 mult = _mm512_set1_ps(a.mult[c]);
    for (int64_t b = 0; b < p.blocks; ++b) {
      const uintptr_t src = reinterpret_cast<uintptr_t>(a.src + c * a.src_stride) +
                            static_cast<uintptr_t>(b * kDepthwiseBlock);
      const uint64_t* masks = p.masks.data() + b * p.taps;
      // acc[j] holds outputs 4j..4j+3 of each 16-output lane (the unpack order), j = 0..3
      __m512i acc[4] = {bias, bias, bias, bias};
      for (int g = 0; g < groups; ++g) {
        const int t = 4 * g;
        const __m512i v0 = LoadTap(src, offsets[t], masks[t], fill);
        const __m512i v1 = LoadTap(src, offsets[t + 1], masks[t + 1], fill);
        const __m512i v2 = LoadTap(src, offsets[t + 2], masks[t + 2], fill);
        const __m512i v3 = LoadTap(src, offsets[t + 3], masks[t + 3], fill);
        int32_t word;
        std::memcpy(&word, w + t, 4);
        const __m512i wv = _mm512_set1_epi32(word);
        const __m512i ab_lo = _mm512_unpacklo_epi8(v0, v1), ab_hi = _mm512_unpackhi_epi8(v0, v1);
        const __m512i cd_lo = _mm512_unpacklo_epi8(v2, v3), cd_hi = _mm512_unpackhi_epi8(v2, v3);
        acc[0] = Dpbusd(acc[0], _mm512_unpacklo_epi16(ab_lo, cd_lo), wv);
        acc[1] = Dpbusd(acc[1], _mm512_unpackhi_epi16(ab_lo, cd_lo), wv);
        acc[2] = Dpbusd(acc[2], _mm512_unpacklo_epi16(ab_hi, cd_hi), wv);
        acc[3] = Dpbusd(acc[3], _mm512_unpackhi_epi16(ab_hi, cd_hi), wv);
      }
      // the word form's requantization (the upper clamp in float, the lower on the bytes)
      __m512i q[4];
      for (int j = 0; j < 4; ++j) q[j] = _mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_mul_ps(_mm512_cvtepi32_ps(acc[j]), mult)));
      // packs per 128-bit lane: (0-3, 4-7) and (8-11, 12-15), then bytes 0-15: in order again
      const __m512i q01 = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp);
      const __m512i q23 = _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), zp);
      const __m512i bytes = _mm512_max_epi8(_mm512_packs_epi16(q01, q23), qmin);
      const int64_t left = p.grid - b * kDepthwiseBlock;
      const __mmask64 store = left >= kDepthwiseBlock ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
      _mm512_mask_storeu_epi8(out + b * kDepthwiseBlock, store, bytes);
    }
  }
}

}  // namespace edge::engine
