// AVX2 tier of the depthwise kernel: 32 outputs per step. AVX2 has no byte-masked load, so
// each tap loads its 32 source bytes unmasked (they lie inside the source buffer; the rare
// window that crosses its ends is gathered byte by byte) and blends zx into the lanes the
// plan drops (DepthwisePlan::lane_masks: the masks as bytes, one load per tap instead of an
// expansion of the bits). Two taps are interleaved per output, widened to int16 and summed by one
// vpmaddwd (signed bytes: the +128 shift is added to the bias instead, 128 * sum_t w, which is
// the same integer). Compiled with -mavx2 for this file only; reached through ElementwiseForTier.
#include <immintrin.h>

#include <cstring>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/depthwise.h"

namespace edge::engine {
namespace {

constexpr int64_t kStep = 32;  // outputs per step, half a mask word

struct Source {
  uintptr_t begin, end;  // the whole source buffer
  __m256i fill;          // zx in every byte
  int8_t zx;
};

// The 32 bytes at `at` for one tap (source bytes where `bits` has a 1, zx elsewhere; `lanes` is
// the same selection as 32 bytes, DepthwisePlan::lane_masks). Integer addresses: the window may
// start outside the buffer, and then is never dereferenced there.
inline __m256i LoadTap(const Source& s, uintptr_t at, uint32_t bits, const uint8_t* lanes) {
  if (bits == 0) return s.fill;
  if (at < s.begin || at + kStep > s.end) {
    alignas(32) int8_t bytes[kStep];
    for (int i = 0; i < kStep; ++i) {
      bytes[i] = ((bits >> i) & 1) != 0 ? *reinterpret_cast<const int8_t*>(at + static_cast<uintptr_t>(i)) : s.zx;
    }
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(bytes));
  }
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  if (bits == ~uint32_t{0}) return v;
  return _mm256_blendv_epi8(s.fill, v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes)));
}

// The AVX2 form (kVnni false): two taps per vpmaddwd of int16 values as described at the top.
// The AVX-VNNI form: four taps interleaved per output and summed by one vpdpbusd of the
// unsigned bytes (x ^ 0x80 = x + 128, the shift the bias already accounts for) against the
// four weights, as the AVX-512 tier does at 64 outputs.
template <bool kVnni>
void Depthwise(const DepthwiseArgs& a) {
  const DepthwisePlan& p = *a.plan;
  const int64_t* offsets = p.offsets.data();
  const uintptr_t src0 = reinterpret_cast<uintptr_t>(a.src);
  const Source source{src0, src0 + static_cast<uintptr_t>(a.channels * a.src_stride), _mm256_set1_epi8(a.zx), a.zx};
  const __m256 lo = _mm256_set1_ps(static_cast<float>(a.qmin - a.zero_point));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(a.qmax - a.zero_point));
  const __m256i zp = _mm256_set1_epi16(static_cast<int16_t>(a.zero_point));
  const __m256i dword_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i sign = _mm256_set1_epi8(-128);
  for (int64_t c = 0; c < a.channels; ++c) {
    const int8_t* w = a.weights + c * p.taps;
    int8_t* out = a.out + c * a.out_stride;
    int32_t weight_sum = 0;
    for (int t = 0; t < p.real_taps; ++t) weight_sum += w[t];
    const __m256i bias = _mm256_set1_epi32(kVnni ? a.bias[c] : a.bias[c] + 128 * weight_sum);
    const __m256 mult = _mm256_set1_ps(a.mult[c]);
    const uintptr_t channel = src0 + static_cast<uintptr_t>(c * a.src_stride);
    for (int64_t q = 0; q < p.grid; q += kStep) {
      const uint64_t* masks = p.masks.data() + (q / kDepthwiseBlock) * p.taps;
      const uint8_t* lanes = p.lane_masks.data() + (q / kStep) * p.taps * kStep;
      const int shift = static_cast<int>(q % kDepthwiseBlock);
      const uintptr_t at = channel + static_cast<uintptr_t>(q);
      const auto tap = [&](int t) {
        return LoadTap(source, at + static_cast<uintptr_t>(offsets[t]), static_cast<uint32_t>(masks[t] >> shift),
                       lanes + t * kStep);
      };
      // AVX2: acc[j] holds outputs 8j..8j+7 in order. AVX-VNNI: per 128-bit lane (outputs 0-15
      // | 16-31) acc[j] holds the lane's outputs 4j..4j+3 (the unpack order).
      __m256i acc[4] = {bias, bias, bias, bias};
      if constexpr (kVnni) {
        for (int t = 0; t < p.taps; t += 4) {  // padding taps: mask 0 and weight 0
          const __m256i v0 = _mm256_xor_si256(tap(t), sign), v1 = _mm256_xor_si256(tap(t + 1), sign);
          const __m256i v2 = _mm256_xor_si256(tap(t + 2), sign), v3 = _mm256_xor_si256(tap(t + 3), sign);
          int32_t word;
          std::memcpy(&word, w + t, 4);
          const __m256i wv = _mm256_set1_epi32(word);
          const __m256i ab_lo = _mm256_unpacklo_epi8(v0, v1), ab_hi = _mm256_unpackhi_epi8(v0, v1);
          const __m256i cd_lo = _mm256_unpacklo_epi8(v2, v3), cd_hi = _mm256_unpackhi_epi8(v2, v3);
          acc[0] = DpbusdVex(acc[0], _mm256_unpacklo_epi16(ab_lo, cd_lo), wv);
          acc[1] = DpbusdVex(acc[1], _mm256_unpackhi_epi16(ab_lo, cd_lo), wv);
          acc[2] = DpbusdVex(acc[2], _mm256_unpacklo_epi16(ab_hi, cd_hi), wv);
          acc[3] = DpbusdVex(acc[3], _mm256_unpackhi_epi16(ab_hi, cd_hi), wv);
        }
      } else {
        for (int t = 0; t < p.real_taps; t += 2) {  // t + 1 < taps: a padding tap has mask 0
          const __m256i v0 = tap(t), v1 = tap(t + 1);
          const __m256i wv = _mm256_set1_epi32(static_cast<int32_t>(static_cast<uint16_t>(w[t])) |
                                               static_cast<int32_t>(static_cast<uint32_t>(w[t + 1]) << 16));
          // per 128-bit lane: (v0, v1) pairs of outputs 0-7 | 16-23 (lo) and 8-15 | 24-31 (hi)
          const __m256i pairs_lo = _mm256_unpacklo_epi8(v0, v1), pairs_hi = _mm256_unpackhi_epi8(v0, v1);
          const __m256i x0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(pairs_lo));
          const __m256i x1 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(pairs_hi));
          const __m256i x2 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(pairs_lo, 1));
          const __m256i x3 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(pairs_hi, 1));
          acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x0, wv));
          acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x1, wv));
          acc[2] = _mm256_add_epi32(acc[2], _mm256_madd_epi16(x2, wv));
          acc[3] = _mm256_add_epi32(acc[3], _mm256_madd_epi16(x3, wv));
        }
      }
      __m256i r[4];
      for (int j = 0; j < 4; ++j) {
        __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[j]), mult);
        x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        r[j] = _mm256_cvtps_epi32(x);  // within [qmin - zp, qmax - zp]: no saturation below
      }
      // packs work per 128-bit lane. AVX2: dwords come out as outputs 0-3 8-11 16-19 24-27 |
      // 4-7 ..., which the permute puts in order; AVX-VNNI: bytes 0-15 of each lane in order.
      const __m256i r01 = _mm256_add_epi16(_mm256_packs_epi32(r[0], r[1]), zp);
      const __m256i r23 = _mm256_add_epi16(_mm256_packs_epi32(r[2], r[3]), zp);
      const __m256i packed = _mm256_packs_epi16(r01, r23);
      const __m256i bytes = kVnni ? packed : _mm256_permutevar8x32_epi32(packed, dword_order);
      if (q + kStep <= p.grid) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + q), bytes);
      } else {
        alignas(32) int8_t tail[kStep];
        _mm256_store_si256(reinterpret_cast<__m256i*>(tail), bytes);
        std::memcpy(out + q, tail, static_cast<size_t>(p.grid - q));
      }
    }
  }
}

}  // namespace

void DepthwiseAvx2(const DepthwiseArgs& a) { Depthwise<false>(a); }
void DepthwiseAvxVnni(const DepthwiseArgs& a) { Depthwise<true>(a); }

}  // namespace edge::engine
