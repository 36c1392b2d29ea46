// AVX2 tier of the depthwise kernel: 32 outputs per step. AVX2 has no byte-masked load, so
// each tap loads its 32 source bytes unmasked and blends zx into the lanes the plan drops
// (DepthwisePlan::lane_masks: the masks as bytes, one load per tap instead of an expansion of
// the bits). A step whose every tap window lies inside the source buffer does that with no
// check per tap; the rare window that crosses the buffer's ends copies its inside part first.
// Two taps are interleaved per output and summed by one vpmaddwd of int16 values (signed
// bytes: the +128 shift is added to the bias instead, 128 * sum_t w, which is the same
// integer); each byte is widened by interleaving it with its sign, within 128-bit lanes, so
// the widening costs no lane-crossing shuffle. Compiled with -mavx2 for this file only;
// reached through ElementwiseForTier.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/copy_bytes.h"
#include "agent/engine/kernels/depthwise.h"

namespace edge::engine {
namespace {

constexpr int64_t kStep = 32;  // outputs per step, half a mask word

struct Source {
  uintptr_t begin, end;  // the whole source buffer
  __m256i fill;          // zx in every byte
};

// The 32 bytes of a tap window at `at` that crosses the buffer's ends: its bytes inside the
// buffer, zx in the rest, then zx blended into the lanes the plan drops (a lane outside the
// buffer is always one of them: only padding is read there).
inline __m256i LoadEdgeTap(const Source& s, uintptr_t at, const uint8_t* lanes) {
  alignas(32) int8_t bytes[kStep];
  _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), s.fill);
  const uintptr_t first = std::max(at, s.begin), last = std::min(at + kStep, s.end);
  if (first < last) {
    CopyBytes(bytes + (first - at), reinterpret_cast<const int8_t*>(first), static_cast<int64_t>(last - first));
  }
  return _mm256_blendv_epi8(s.fill, _mm256_load_si256(reinterpret_cast<const __m256i*>(bytes)),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes)));
}

// The step's 32 output bytes at out + q, only those below grid.
inline void StoreStep(int8_t* out, int64_t q, int64_t grid, __m256i bytes) {
  if (q + kStep <= grid) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + q), bytes);
    return;
  }
  alignas(32) int8_t tail[kStep];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tail), bytes);
  CopyBytes(out + q, tail, grid - q);
}

// The AVX2 form (kVnni false): two taps per vpmaddwd of int16 values as described at the top.
// The AVX-VNNI form: four taps interleaved per output and summed by one vpdpbusd of the
// unsigned bytes (x ^ 0x80 = x + 128, the shift the bias already accounts for) against the
// four weights, as the AVX-512 tier does at 64 outputs. Either way acc[j] holds, per 128-bit
// lane (outputs 0-15 | 16-31), the lane's outputs 4j..4j+3, so the packs put them in order.
template <bool kVnni, bool kClamp>
__attribute__((noinline)) void Depthwise(const DepthwiseArgs& a, const QuantRange& range_arg) {
  const QuantRange range = range_arg;  // a local copy: the stores below cannot alias it
  const DepthwisePlan& p = *a.plan;
  const int64_t* offsets = p.offsets.data();
  const uintptr_t src0 = reinterpret_cast<uintptr_t>(a.src);
  const int64_t source_bytes = a.channels * a.src_stride;
  const Source source{src0, src0 + static_cast<uintptr_t>(source_bytes), _mm256_set1_epi8(a.zx)};
  const __m256i sign = _mm256_set1_epi8(-128), zero = _mm256_setzero_si256();
  // Taps per multiply: 4 (VNNI) or 2; a padding tap (mask 0, weight 0, offset 0) fills a group.
  constexpr int kGroup = kVnni ? 4 : 2;
  const int taps = (p.real_taps + kGroup - 1) / kGroup * kGroup;  // <= p.taps
  int64_t off_lo = 0, off_hi = 0;
  for (int t = 0; t < taps; ++t) {
    off_lo = std::min(off_lo, offsets[t]);
    off_hi = std::max(off_hi, offsets[t]);
  }
  for (int64_t c = 0; c < a.channels; ++c) {
    const int8_t* w = a.weights + c * p.taps;  // padding taps' weights are 0
    int8_t* out = a.out + c * a.out_stride;
    int32_t weight_sum = 0;
    for (int t = 0; t < p.real_taps; ++t) weight_sum += w[t];
    // wrapping as the scalar kernel's WrapAdd: a fuzzed model's bias may sit next to INT32_MAX
    const uint32_t shifted = static_cast<uint32_t>(a.bias[c]) + 128u * static_cast<uint32_t>(weight_sum);
    const __m256i bias = _mm256_set1_epi32(kVnni ? a.bias[c] : static_cast<int32_t>(shifted));
    const __m256 mult = _mm256_set1_ps(a.mult[c]);
    const uintptr_t channel = src0 + static_cast<uintptr_t>(c * a.src_stride);
    for (int64_t q = 0; q < p.grid; q += kStep) {
      const uint8_t* lanes = p.lane_masks.data() + (q / kStep) * p.taps * kStep;
      const uintptr_t at = channel + static_cast<uintptr_t>(q);
      const int64_t pos = c * a.src_stride + q;  // at, from the buffer's start
      const bool inside = pos + off_lo >= 0 && pos + off_hi + kStep <= source_bytes;
      const uint64_t* masks = p.masks.data() + (q / kDepthwiseBlock) * p.taps;
      const int shift = static_cast<int>(q % kDepthwiseBlock);
      const auto tap = [&](int t) {
        // a tap wholly in the padding for these outputs (most taps of planes smaller than the
        // kernel): the fill, nothing loaded
        if (static_cast<uint32_t>(masks[t] >> shift) == 0) return source.fill;
        const uintptr_t from = at + static_cast<uintptr_t>(offsets[t]);
        if (!inside) return LoadEdgeTap(source, from, lanes + t * kStep);
        return _mm256_blendv_epi8(source.fill, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(from)),
                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes + t * kStep)));
      };
      __m256i acc[4] = {bias, bias, bias, bias};
      for (int t = 0; t < taps; t += kGroup) {
        // the group's weights as one word: 4 bytes (VNNI) or 2 int16
        int32_t word;
        if constexpr (kVnni) {
          std::memcpy(&word, w + t, 4);
        } else {
          word = static_cast<int32_t>(static_cast<uint16_t>(w[t])) | static_cast<int32_t>(static_cast<uint32_t>(w[t + 1]) << 16);
        }
        const __m256i wv = _mm256_set1_epi32(word);
        if constexpr (kVnni) {
          const __m256i v0 = _mm256_xor_si256(tap(t), sign), v1 = _mm256_xor_si256(tap(t + 1), sign);
          const __m256i v2 = _mm256_xor_si256(tap(t + 2), sign), v3 = _mm256_xor_si256(tap(t + 3), sign);
          const __m256i ab_lo = _mm256_unpacklo_epi8(v0, v1), ab_hi = _mm256_unpackhi_epi8(v0, v1);
          const __m256i cd_lo = _mm256_unpacklo_epi8(v2, v3), cd_hi = _mm256_unpackhi_epi8(v2, v3);
          acc[0] = DpbusdVex(acc[0], _mm256_unpacklo_epi16(ab_lo, cd_lo), wv);
          acc[1] = DpbusdVex(acc[1], _mm256_unpackhi_epi16(ab_lo, cd_lo), wv);
          acc[2] = DpbusdVex(acc[2], _mm256_unpacklo_epi16(ab_hi, cd_hi), wv);
          acc[3] = DpbusdVex(acc[3], _mm256_unpackhi_epi16(ab_hi, cd_hi), wv);
        } else {
          // (tap t, tap t + 1) byte pairs of outputs 0-7 | 16-23 and 8-15 | 24-31, each byte
          // then interleaved with its sign byte: int16 pairs of 4 outputs per lane
          const __m256i v0 = tap(t), v1 = tap(t + 1);
          const __m256i pairs_lo = _mm256_unpacklo_epi8(v0, v1), pairs_hi = _mm256_unpackhi_epi8(v0, v1);
          const __m256i sign_lo = _mm256_cmpgt_epi8(zero, pairs_lo), sign_hi = _mm256_cmpgt_epi8(zero, pairs_hi);
          acc[0] = MaddAdd(acc[0], _mm256_unpacklo_epi8(pairs_lo, sign_lo), wv);
          acc[1] = MaddAdd(acc[1], _mm256_unpackhi_epi8(pairs_lo, sign_lo), wv);
          acc[2] = MaddAdd(acc[2], _mm256_unpacklo_epi8(pairs_hi, sign_hi), wv);
          acc[3] = MaddAdd(acc[3], _mm256_unpackhi_epi8(pairs_hi, sign_hi), wv);
        }
      }
      // requantized as QGemm does (the bias is in acc); the packs work per 128-bit lane, so
      // bytes 0-15 of each lane come out in order
      __m256i r[4];
      for (int j = 0; j < 4; ++j) r[j] = ScaleSums<kClamp>(range, acc[j], mult);
      StoreStep(out, q, p.grid, PackQuads(range, r[0], r[1], r[2], r[3]));
    }
  }
}

// The AVX-VNNI word-group form (DepthwisePlan::words, as the AVX-512 tier's at 64 outputs):
// per step, each group is four loads (lane phase s = 0..3) and four vpdpbusd into acc[s],
// whose 32-bit lane i is output 4i + s: a group's 4 bytes for an output are consecutive in
// the source, so they need no interleaving. The dropped bytes are blended to zx from the
// plan's word_lane_masks. The packs leave each 128-bit lane as [acc0's 4 outputs, acc1's,
// acc2's, acc3's], a 4 x 4 transpose of output order that one byte shuffle undoes.
// kWords > 0: that many groups, unrolled (3 for a 3x3 kernel); 0: the plan's count.
template <int kWords, bool kClamp>
__attribute__((noinline)) void DepthwiseWordsVnni(const DepthwiseArgs& a, const QuantRange& range) {
  const DepthwisePlan& p = *a.plan;
  const int words = kWords > 0 ? kWords : p.words;
  const int64_t* offsets = p.word_offsets.data();
  const uintptr_t src0 = reinterpret_cast<uintptr_t>(a.src);
  const int64_t source_bytes = a.channels * a.src_stride;
  const Source source{src0, src0 + static_cast<uintptr_t>(source_bytes), _mm256_set1_epi8(a.zx)};
  const __m256i sign = _mm256_set1_epi8(-128);
  const __m256i order =
      _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  // a load reads [q + offset + s, +32), s <= 3
  int64_t off_lo = offsets[0], off_hi = offsets[0];
  for (int g = 0; g < words; ++g) {
    off_lo = std::min(off_lo, offsets[g]);
    off_hi = std::max(off_hi, offsets[g]);
  }
  for (int64_t c = 0; c < a.channels; ++c) {
    const int32_t* wwords = a.word_weights + c * p.words;
    int8_t* out = a.out + c * a.out_stride;
    const __m256i bias = _mm256_set1_epi32(a.bias[c]);
    const __m256 mult = _mm256_set1_ps(a.mult[c]);
    const uintptr_t channel = src0 + static_cast<uintptr_t>(c * a.src_stride);
    for (int64_t q = 0; q < p.grid; q += kStep) {
      const uint8_t* lanes = p.word_lane_masks.data() + (q / kStep) * words * 4 * kStep;
      const uintptr_t at = channel + static_cast<uintptr_t>(q);
      const int64_t pos = c * a.src_stride + q;
      const bool inside = pos + off_lo >= 0 && pos + off_hi + 3 + kStep <= source_bytes;
      const auto load = [&](int64_t offset, const uint8_t* mask) {
        const uintptr_t from = at + static_cast<uintptr_t>(offset);
        const __m256i v = inside ? _mm256_blendv_epi8(source.fill,
                                                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(from)),
                                                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask)))
                                 : LoadEdgeTap(source, from, mask);
        return _mm256_xor_si256(v, sign);  // x + 128, the shift the bias accounts for
      };
      __m256i acc[4] = {bias, bias, bias, bias};
#pragma GCC unroll 4
      for (int g = 0; g < words; ++g) {
        const __m256i wv = _mm256_set1_epi32(wwords[g]);
        const int64_t o = offsets[g];
        const uint8_t* m = lanes + g * 4 * kStep;
        acc[0] = DpbusdVex(acc[0], load(o, m), wv);
        acc[1] = DpbusdVex(acc[1], load(o + 1, m + kStep), wv);
        acc[2] = DpbusdVex(acc[2], load(o + 2, m + 2 * kStep), wv);
        acc[3] = DpbusdVex(acc[3], load(o + 3, m + 3 * kStep), wv);
      }
      __m256i r[4];
      for (int s = 0; s < 4; ++s) r[s] = ScaleSums<kClamp>(range, acc[s], mult);
      const __m256i bytes = _mm256_shuffle_epi8(PackQuads(range, r[0], r[1], r[2], r[3]), order);
      StoreStep(out, q, p.grid, bytes);
    }
  }
}

// One input row of iw bytes as int16 values x - zx into its sw column phases (column phase cp
// at dst + cp * phase_stride).
inline void RowToPhases(const int8_t* row, int64_t iw, int64_t sw, int64_t phase_stride, int8_t zx, int16_t* dst) {
  const __m128i zx16 = _mm_set1_epi16(zx);
  const __m256i zx256 = _mm256_set1_epi16(zx);
  const int64_t even = (iw + 1) / 2;  // stride 2: the columns of phase 0
  if (sw == 2 && even >= 16) {
    for (int64_t col = 0;; col += 16) {
      const int64_t at = std::min(col, even - 16);
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * at));
      const __m256i lo = _mm256_sub_epi16(_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), zx256);
      const __m256i hi = _mm256_sub_epi16(_mm256_srai_epi16(v, 8), zx256);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + at), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + phase_stride + at), hi);
      if (at == even - 16) break;
    }
  } else if (sw == 2 && even >= 8) {
    for (int64_t col = 0;; col += 8) {
      const int64_t at = std::min(col, even - 8);
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * at));
      const __m128i lo = _mm_sub_epi16(_mm_srai_epi16(_mm_slli_epi16(v, 8), 8), zx16);
      const __m128i hi = _mm_sub_epi16(_mm_srai_epi16(v, 8), zx16);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + at), lo);
      // the odd columns: up to one past the last (an odd width), still inside the pitch
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + phase_stride + at), hi);
      if (at == even - 8) break;
    }
  } else if (sw == 1 && iw >= 16) {
    for (int64_t col = 0;; col += 16) {
      const int64_t at = std::min(col, iw - 16);
      const __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + at)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + at), _mm256_sub_epi16(v, zx256));
      if (at == iw - 16) break;
    }
  } else if (sw == 1 && iw >= 8) {
    // two 8-value halves, the second overlapping the first
    const __m128i head = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row)));
    const __m128i tail = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + iw - 8)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_sub_epi16(head, zx16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + iw - 8), _mm_sub_epi16(tail, zx16));
  } else {
    for (int64_t cp = 0; cp < sw; ++cp) {  // (no division per value: sw is not a constant)
      int16_t* phase = dst + cp * phase_stride;
      for (int64_t ix = cp, col = 0; ix < iw; ix += sw, ++col) phase[col] = static_cast<int16_t>(row[ix] - zx);
    }
  }
}

// A channel's stride phases as int16 values x - zx, straight from its unsplit input plane x:
// phase (rp, cp) row r column j holds input (r * sh + rp, j * sw + cp), where
// SplitDepthwisePhases puts it, for the row phases a kernel row reads. At column stride 2 a
// step takes 32 input bytes (16 values of each column phase) or, in rows of 15-31, 16; a row's
// last step overlaps the one before it and reads up to one byte past the row (the odd phase's
// extra value lands inside its pitch). Stride 1 takes 16 values a step (8 in rows of 8-15),
// other strides one. Positions that hold no input are left as they were: the slots' masks drop
// every read of them.
void PhasesFromUnsplit(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& p, int8_t zx, int16_t* base) {
  const int64_t sh = g.stride_h, sw = g.stride_w, iw = g.in_w, pitch = p.pitch;
  const int64_t phase_stride = p.phase_rows * pitch;
  for (int64_t rp = 0; rp < sh; ++rp) {
    if (p.row_phase_read[static_cast<size_t>(rp)] == 0) continue;
    const int64_t rows = (g.in_h - rp + sh - 1) / sh;
    for (int64_t r = 0; r < rows; ++r) {
      RowToPhases(x + (r * sh + rp) * iw, iw, sw, phase_stride, zx, base + rp * sw * phase_stride + r * pitch);
    }
  }
}

// Channel c's pair-slot weights, words[s] = the int16 pair of slot s's taps (0 for a slot's
// missing second tap), and its bias with the copy's shift folded in: acc = bias + sum w * (x +
// 128) with x = zx where a tap is dropped is the bias and (zx + 128) * sum w here plus sum w *
// (x - zx) from the slots (wrapping as the scalar kernel's WrapAdd).
// `slot_taps`: the plan's slot_taps or gap.taps.
inline __m256i SlotWeights(const DepthwiseArgs& a, int64_t c, const std::vector<int8_t>& slot_taps, int32_t* words) {
  const DepthwisePlan& p = *a.plan;
  const int8_t* w = a.weights + c * p.taps;
  int32_t weight_sum = 0;
  for (int t = 0; t < p.real_taps; ++t) weight_sum += w[t];
  for (size_t s = 0; s < slot_taps.size() / 2; ++s) {
    const int ta = slot_taps[2 * s], tb = slot_taps[2 * s + 1];
    words[s] = static_cast<int32_t>(static_cast<uint16_t>(w[ta]) |
                                    (static_cast<uint32_t>(static_cast<uint16_t>(tb >= 0 ? w[tb] : 0)) << 16));
  }
  const uint32_t shifted = static_cast<uint32_t>(a.bias[c]) +
                           static_cast<uint32_t>(int32_t{a.zx} + 128) * static_cast<uint32_t>(weight_sum);
  return _mm256_set1_epi32(static_cast<int32_t>(shifted));
}

// The AVX2 pair-slot form (DepthwisePlan::slots): each channel's source is first copied into
// a stack buffer as int16 values x - zx, with zeros before and after it, so that every slot
// load is in bounds; a dropped tap's value is ANDed to zero, which is what zx contributes,
// and the bias takes the (zx + 128) * sum w the shifted bytes would have added. Per 32
// outputs and slot: four loads (parities 0 and 1 of two 16-output halves), four ANDs with the
// plan's masks and four vpmaddwd + vpaddd into accumulators whose lane i holds output 2i +
// parity of its half; the packs and one byte shuffle and qword permute restore output order.
template <bool kClamp>
__attribute__((noinline)) void DepthwiseSlots(const DepthwiseArgs& a, const QuantRange& range_arg) {
  const QuantRange range = range_arg;  // a local copy: the stores below cannot alias it
  const DepthwisePlan& p = *a.plan;
  const int slots = p.slots;
  const int64_t* offsets = p.slot_offsets.data();
  alignas(32) int16_t canvas[kMaxSlotCanvas];
  int16_t* base = canvas + p.slot_front;  // source value i at base[i]
  // the values read: [begin, end) of the source, zeros around them (reads past the source
  // and the margins), nothing written where the slots do not read
  const int64_t begin = p.slot_read_begin, len = p.slot_read_end - begin;
  std::memset(canvas, 0, static_cast<size_t>(p.slot_front + begin) * sizeof(int16_t));
  std::memset(base + begin + len, 0, static_cast<size_t>(p.slot_canvas - p.slot_front - begin - len) * sizeof(int16_t));
  const __m256i zx16 = _mm256_set1_epi16(a.zx);
  const auto centered = [&](const int8_t* from, int16_t* to) {
    const __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(from)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(to), _mm256_sub_epi16(v, zx16));
  };
  // the packs leave each 128-bit lane as [even 0-6, odd 1-7 | even 16-22, odd 17-23] (lane 1:
  // outputs 8-15 and 24-31 alike); the shuffle interleaves them, the permute joins the lanes
  const __m256i order =
      _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15));
  int32_t words[kMaxDepthwiseSlots];
  for (int64_t c = 0; c < a.channels; ++c) {
    // the channel's values read as x - zx, 16 at a time (the last 16 overlapping), never
    // reading past them
    const int8_t* src = a.src + c * a.src_stride + begin;
    int16_t* dst = base + begin;
    if (a.unsplit != nullptr) {
      PhasesFromUnsplit(a.unsplit + c * a.unsplit_stride, *a.geom, p, a.zx, base);
    } else if (len >= 16) {
      for (int64_t i = 0; i + 16 <= len; i += 16) centered(src + i, dst + i);
      if (len % 16 != 0) centered(src + len - 16, dst + len - 16);
    } else {
      for (int64_t i = 0; i < len; ++i) dst[i] = static_cast<int16_t>(src[i] - a.zx);
    }
    const __m256i bias = SlotWeights(a, c, p.slot_taps, words);
    const __m256 mult = _mm256_set1_ps(a.mult[c]);
    int8_t* out = a.out + c * a.out_stride;
    for (int64_t q0 = 0; q0 < p.grid; q0 += kStep) {
      const int16_t* masks = p.slot_masks.data() + (q0 / 16) * slots * 32;  // [step][slot][parity][16]
      __m256i acc[4] = {bias, bias, bias, bias};
      for (int s = 0; s < slots; ++s) {
        const __m256i wv = _mm256_set1_epi32(words[s]);
        const int16_t* d = base + q0 + offsets[s];
        const int16_t* m0 = masks + s * 32;            // outputs q0..q0+15
        const int16_t* m1 = masks + (slots + s) * 32;  // outputs q0+16..q0+31
        const auto lanes = [](const int16_t* at, const int16_t* mask) {
          return _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at)),
                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask)));
        };
        acc[0] = MaddAdd(acc[0], lanes(d, m0), wv);
        acc[1] = MaddAdd(acc[1], lanes(d + 1, m0 + 16), wv);
        acc[2] = MaddAdd(acc[2], lanes(d + 16, m1), wv);
        acc[3] = MaddAdd(acc[3], lanes(d + 17, m1 + 16), wv);
      }
      __m256i r[4];
      for (int j = 0; j < 4; ++j) r[j] = ScaleSums<kClamp>(range, acc[j], mult);
      const __m256i bytes = _mm256_shuffle_epi8(PackQuads(range, r[0], r[1], r[2], r[3]), order);
      StoreStep(out, q0, p.grid, _mm256_permute4x64_epi64(bytes, 0xD8));
    }
  }
}

// acc += vpmaddwd(w, 16 int16 values at `at`), the values read by the multiply itself.
inline __m256i MaddAddFrom(__m256i acc, __m256i w, const int16_t* at) {
  __m256i product;
  __asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0"
          : "+x"(acc), "=&x"(product)
          : "x"(w), "m"(*reinterpret_cast<const __m256i_u*>(at)));
  return acc;
}

// The AVX2 gapped-row form (DepthwisePlan::gap): the pair slots over a copy of each
// channel's source whose rows have zeros around them, so no read needs a mask. The copy holds
// the input rows of gap.band output rows at a time (a band); its margins are zeroed once per
// call, and per band each of its rows gets either its input row's values or, where that row is
// outside the input (above it, below it, or past a phase's last row), zeros. Output rows go in
// units of 16 outputs (the last unit of a row overlapping the one before it), two units per
// step: per slot four vpmaddwd that read their values themselves and four vpaddd into
// accumulators whose lane i holds output 2i + parity of its unit, requantized and ordered as
// in DepthwiseSlots, each unit's 16 bytes stored at its row. A row narrower than 16 stores
// its unit's extra bytes over the start of the next row, whose unit is stored after it; only
// a channel's last row stores exactly its bytes (the next channel's grid, or the end of the
// output, follows).
// kSlots > 0: that many slots, unrolled (6 for a 3x3 kernel); 0: the plan's count.
template <int kSlots, bool kClamp>
__attribute__((noinline)) void DepthwiseGapped(const DepthwiseArgs& a, const QuantRange& range_arg) {
  const QuantRange range = range_arg;  // a local copy: the stores below cannot alias it
  const DepthwisePlan& p = *a.plan;
  const ConvGeometry& g = p.geom;
  const int slots = kSlots > 0 ? kSlots : p.gap.slots();
  const int64_t* offsets = p.gap.offsets.data();
  const int64_t sh = g.stride_h, sw = g.stride_w, iw = g.in_w;
  const int64_t pitch = p.gap.pitch, phase_stride = p.gap.phase_rows * pitch;
  alignas(32) int16_t canvas[kMaxSlotCanvas];
  std::memset(canvas, 0, static_cast<size_t>(p.gap.canvas) * sizeof(int16_t));
  // an odd width at column stride 2: a row's copy writes one value past its odd phase's columns
  // (the first of the row's zeros), put back after it
  const bool overrun = sw == 2 && iw % 2 == 1 && (iw + 1) / 2 >= 8;
  const __m256i order =
      _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15));
  // the units of a whole band (where each reads in the copy and writes in the grid, from the
  // band's first row), the same for every band and channel
  const int64_t band = p.gap.band, per_row = (g.out_w + 15) / 16;
  int32_t unit_in[kMaxGapUnits], unit_out[kMaxGapUnits];
  for (int64_t oy = 0, u = 0; oy < band; ++oy) {
    for (int64_t ox = 0; ox < g.out_w; ox += 16, ++u) {
      const int64_t at = std::max<int64_t>(0, std::min(ox, g.out_w - 16));
      unit_in[u] = static_cast<int32_t>(oy * pitch + at);
      unit_out[u] = static_cast<int32_t>(oy * p.pitch + at);
    }
  }
  const bool narrow = g.out_w < 16, banded = band < g.out_h;
  int32_t words[kMaxDepthwiseSlots];
  for (int64_t c = 0; c < a.channels; ++c) {
    const int8_t* source = a.unsplit != nullptr ? a.unsplit + c * a.unsplit_stride : a.src + c * a.src_stride;
    const __m256i bias = SlotWeights(a, c, p.gap.taps, words);
    const __m256 mult = _mm256_set1_ps(a.mult[c]);
    for (int64_t oy0 = 0; oy0 < g.out_h; oy0 += band) {
      // the band's copy: canvas row k of row phase rp holds the phase's row oy0 - gap.top + k,
      // its values where that row is in the input, else zeros (a single band's never change)
      for (int64_t rp = 0; rp < sh; ++rp) {
        if (p.split && p.row_phase_read[static_cast<size_t>(rp)] == 0) continue;
        const int64_t rows = (g.in_h - rp + sh - 1) / sh, first = oy0 - p.gap.top;
        const int64_t r0 = std::max<int64_t>(0, first), r1 = std::max(r0, std::min(rows, first + p.gap.phase_rows));
        int16_t* const phase = canvas + rp * sw * phase_stride + p.gap.left;  // canvas row 0, column phase 0
        for (int64_t r = r0; r < r1; ++r) {
          int16_t* dst = phase + (r - first) * pitch;
          RowToPhases(source + (r * sh + rp) * iw, iw, sw, phase_stride, a.zx, dst);
          if (overrun) dst[phase_stride + iw / 2] = 0;
        }
        const auto zero_rows = [&](int64_t k0, int64_t k1) {  // canvas rows [k0, k1)
          for (int64_t k = k0; k < k1; ++k) {
            for (int64_t cp = 0; cp < sw; ++cp) {
              const int64_t values = (iw - cp + sw - 1) / sw;  // column phase cp's
              std::memset(phase + k * pitch + cp * phase_stride, 0, static_cast<size_t>(values) * sizeof(int16_t));
            }
          }
        };
        if (banded) {
          zero_rows(0, r0 - first);
          zero_rows(r1 - first, p.gap.phase_rows);
        }
      }
      const int64_t units = std::min(band, g.out_h - oy0) * per_row;
      const bool last_band = oy0 + band >= g.out_h;
      int8_t* out = a.out + c * a.out_stride + oy0 * p.pitch;
      for (int64_t u = 0; u < units; u += 2) {
        const int64_t u1 = std::min(u + 1, units - 1);  // an odd count: the last unit twice
        const int16_t* d0 = canvas + unit_in[u];
        const int16_t* d1 = canvas + unit_in[u1];
        __m256i acc[4] = {bias, bias, bias, bias};
#pragma GCC unroll 8
        for (int s = 0; s < slots; ++s) {
          const __m256i wv = _mm256_set1_epi32(words[s]);
          const int64_t o = offsets[s];
          acc[0] = MaddAddFrom(acc[0], wv, d0 + o);
          acc[1] = MaddAddFrom(acc[1], wv, d0 + o + 1);
          acc[2] = MaddAddFrom(acc[2], wv, d1 + o);
          acc[3] = MaddAddFrom(acc[3], wv, d1 + o + 1);
        }
        __m256i r[4];
        for (int j = 0; j < 4; ++j) r[j] = ScaleSums<kClamp>(range, acc[j], mult);
        const __m256i bytes =
            _mm256_permute4x64_epi64(_mm256_shuffle_epi8(PackQuads(range, r[0], r[1], r[2], r[3]), order), 0xD8);
        if (!narrow || !last_band || u + 2 < units) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + unit_out[u]), _mm256_castsi256_si128(bytes));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + unit_out[u1]), _mm256_extracti128_si256(bytes, 1));
          continue;
        }
        // the channel's last units, rows of 8-15: unit u (if it is not the last) whole, the
        // last one's out_w bytes
        alignas(32) int8_t last[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(last), bytes);
        if (u + 1 < units) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + unit_out[u]), _mm256_castsi256_si128(bytes));
        }
        CopyBytes(out + unit_out[units - 1], last + (u + 1 < units ? 16 : 0), g.out_w);
      }
    }
  }
}

// The call's requantization form (WithQuantRange). Every form ends at the reference's sum,
// the bias plus at most taps * 255 * 128 (modulo 2^32; the byte form only moves 128 * sum w,
// the slot form (zx + 128) * sum w, between its bias and its products).
template <typename F>
void WithClamp(const DepthwiseArgs& a, F&& kernel) {
  const int64_t reach = int64_t{a.plan->taps} * 255 * 128;
  WithQuantRange(a.bias, a.mult, a.channels, reach, a.qmin, a.qmax, a.zero_point, kernel);
}

}  // namespace

bool DepthwiseUnsplitAvx2(const DepthwisePlan& plan) { return plan.split && (plan.slots > 0 || plan.gap.avx2); }

void DepthwiseAvx2(const DepthwiseArgs& a) {
  const DepthwisePlan& p = *a.plan;
  // (an unsplit input comes only with masked slots or gapped rows: DepthwiseUnsplitAvx2)
  const bool slots = p.slots > 0 && (a.unsplit != nullptr || p.slot_read_end <= a.src_stride);
  // (a split plan's gapped rows read the input unsplit)
  const bool gapped = p.gap.avx2 && (!p.split || a.unsplit != nullptr);
  WithClamp(a, [&](const QuantRange& range, auto clamp) {
    if (gapped) {
      if (p.gap.slots() == 6) {
        DepthwiseGapped<6, decltype(clamp)::value>(a, range);
      } else {
        DepthwiseGapped<0, decltype(clamp)::value>(a, range);
      }
    } else if (slots) {
      DepthwiseSlots<decltype(clamp)::value>(a, range);
    } else {
      Depthwise<false, decltype(clamp)::value>(a, range);
    }
  });
}

void DepthwiseAvxVnni(const DepthwiseArgs& a) {
  WithClamp(a, [&](const QuantRange& range, auto clamp) {
    constexpr bool kClamp = decltype(clamp)::value;
    if (a.plan->words == 3) {
      DepthwiseWordsVnni<3, kClamp>(a, range);
    } else if (a.plan->words > 0) {
      DepthwiseWordsVnni<0, kClamp>(a, range);
    } else {
      Depthwise<true, kClamp>(a, range);
    }
  });
}

}  // namespace edge::engine
