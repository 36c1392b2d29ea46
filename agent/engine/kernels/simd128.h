// 128-bit byte vectors for the layout code every architecture compiles (kernels/im2col_u8.cpp,
// depthwise_plan.cpp): the handful of data-movement operations it needs, named by what they do.
// SSE2 on x86-64 and Advanced SIMD on arm64 are part of each architecture's baseline, so these
// files need no run-time dispatch; elsewhere a plain-C form gives the same bytes. Each x86 form
// is the one SSE2 instruction (or pair) the code used before this header existed, so GCC emits
// the same sequences there.
#pragma once

#include <cstdint>
#include <cstring>

// EDGE_SIMD128_PLAIN forces the plain-C form (to test it on a machine with SIMD).
#if defined(__SSE2__) && !defined(EDGE_SIMD128_PLAIN)
#include <emmintrin.h>
#define EDGE_SIMD128_SSE2 1
#elif defined(__aarch64__) && defined(__ARM_NEON) && !defined(EDGE_SIMD128_PLAIN)
#include <arm_neon.h>
#define EDGE_SIMD128_NEON 1
#endif

namespace edge::engine::simd128 {

#if defined(EDGE_SIMD128_SSE2)

using U8x16 = __m128i;

inline U8x16 Load16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
// 8 bytes into the low half; the high half is zero.
inline U8x16 Load8(const void* p) { return _mm_loadl_epi64(static_cast<const __m128i*>(p)); }
inline void Store16(void* p, U8x16 v) { _mm_storeu_si128(static_cast<__m128i*>(p), v); }
inline void Store8(void* p, U8x16 v) { _mm_storel_epi64(static_cast<__m128i*>(p), v); }  // the low 8 bytes
inline void Store4(void* p, U8x16 v) { _mm_storeu_si32(p, v); }                          // the low 4 bytes
inline U8x16 Broadcast(uint8_t b) { return _mm_set1_epi8(static_cast<char>(b)); }
inline uint8_t FirstByte(U8x16 v) { return static_cast<uint8_t>(_mm_cvtsi128_si32(v)); }
inline U8x16 Xor(U8x16 a, U8x16 b) { return _mm_xor_si128(a, b); }
// The larger of each pair of bytes read as int8 (SSE2 compares unsigned bytes: flip the signs).
inline U8x16 MaxS8(U8x16 a, U8x16 b) {
  const __m128i sign = _mm_set1_epi8(static_cast<char>(0x80));
  return _mm_xor_si128(_mm_max_epu8(_mm_xor_si128(a, sign), _mm_xor_si128(b, sign)), sign);
}
// Bytes of the low (high) halves alternately: a0 b0 a1 b1 ... a7 b7 (a8 b8 ... a15 b15).
inline U8x16 InterleaveLo8(U8x16 a, U8x16 b) { return _mm_unpacklo_epi8(a, b); }
inline U8x16 InterleaveHi8(U8x16 a, U8x16 b) { return _mm_unpackhi_epi8(a, b); }
// The same with 16-bit pairs of bytes.
inline U8x16 InterleaveLo16(U8x16 a, U8x16 b) { return _mm_unpacklo_epi16(a, b); }
inline U8x16 InterleaveHi16(U8x16 a, U8x16 b) { return _mm_unpackhi_epi16(a, b); }
// a0 a2 ... a14 b0 b2 ... b14 (odd: a1 a3 ... b15): the even (odd) bytes of a then of b.
inline U8x16 EvenBytes(U8x16 a, U8x16 b) {
  const __m128i low = _mm_set1_epi16(0x00FF);
  return _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low));
}
inline U8x16 OddBytes(U8x16 a, U8x16 b) { return _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)); }
// The even 4-byte words of a then of b: a[0..4) a[8..12) b[0..4) b[8..12).
inline U8x16 EvenWords(U8x16 a, U8x16 b) {
  return _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), 0x88));
}
// Byte i + n into byte i, zeros shifted in at the top.
template <int n>
inline U8x16 ShiftDownBytes(U8x16 v) {
  return _mm_srli_si128(v, n);
}

#elif defined(EDGE_SIMD128_NEON)

using U8x16 = uint8x16_t;

inline U8x16 Load16(const void* p) { return vld1q_u8(static_cast<const uint8_t*>(p)); }
inline U8x16 Load8(const void* p) { return vcombine_u8(vld1_u8(static_cast<const uint8_t*>(p)), vdup_n_u8(0)); }
inline void Store16(void* p, U8x16 v) { vst1q_u8(static_cast<uint8_t*>(p), v); }
inline void Store8(void* p, U8x16 v) { vst1_u8(static_cast<uint8_t*>(p), vget_low_u8(v)); }
inline void Store4(void* p, U8x16 v) {
  const uint32_t word = vgetq_lane_u32(vreinterpretq_u32_u8(v), 0);
  std::memcpy(p, &word, 4);  // any alignment
}
inline U8x16 Broadcast(uint8_t b) { return vdupq_n_u8(b); }
inline uint8_t FirstByte(U8x16 v) { return vgetq_lane_u8(v, 0); }
inline U8x16 Xor(U8x16 a, U8x16 b) { return veorq_u8(a, b); }
inline U8x16 MaxS8(U8x16 a, U8x16 b) {
  return vreinterpretq_u8_s8(vmaxq_s8(vreinterpretq_s8_u8(a), vreinterpretq_s8_u8(b)));
}
inline U8x16 InterleaveLo8(U8x16 a, U8x16 b) { return vzip1q_u8(a, b); }
inline U8x16 InterleaveHi8(U8x16 a, U8x16 b) { return vzip2q_u8(a, b); }
inline U8x16 InterleaveLo16(U8x16 a, U8x16 b) {
  return vreinterpretq_u8_u16(vzip1q_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b)));
}
inline U8x16 InterleaveHi16(U8x16 a, U8x16 b) {
  return vreinterpretq_u8_u16(vzip2q_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b)));
}
inline U8x16 EvenBytes(U8x16 a, U8x16 b) { return vuzp1q_u8(a, b); }
inline U8x16 OddBytes(U8x16 a, U8x16 b) { return vuzp2q_u8(a, b); }
inline U8x16 EvenWords(U8x16 a, U8x16 b) {
  return vreinterpretq_u8_u32(vuzp1q_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b)));
}
template <int n>
inline U8x16 ShiftDownBytes(U8x16 v) {
  return vextq_u8(v, vdupq_n_u8(0), n);
}

#else  // plain C: the definitions above, a byte at a time

struct U8x16 {
  uint8_t b[16];
};

inline U8x16 Load16(const void* p) {
  U8x16 v;
  std::memcpy(v.b, p, 16);
  return v;
}
inline U8x16 Load8(const void* p) {
  U8x16 v{};
  std::memcpy(v.b, p, 8);
  return v;
}
inline void Store16(void* p, U8x16 v) { std::memcpy(p, v.b, 16); }
inline void Store8(void* p, U8x16 v) { std::memcpy(p, v.b, 8); }
inline void Store4(void* p, U8x16 v) { std::memcpy(p, v.b, 4); }
inline U8x16 Broadcast(uint8_t b) {
  U8x16 v;
  std::memset(v.b, b, 16);
  return v;
}
inline uint8_t FirstByte(U8x16 v) { return v.b[0]; }
inline U8x16 Xor(U8x16 a, U8x16 b) {
  for (int i = 0; i < 16; ++i) a.b[i] = static_cast<uint8_t>(a.b[i] ^ b.b[i]);
  return a;
}
inline U8x16 MaxS8(U8x16 a, U8x16 b) {
  for (int i = 0; i < 16; ++i) {
    a.b[i] = static_cast<int8_t>(a.b[i]) < static_cast<int8_t>(b.b[i]) ? b.b[i] : a.b[i];
  }
  return a;
}
// Elements of `size` bytes from half `half` (0 low, 1 high) of a and b, alternately.
inline U8x16 InterleaveElements(U8x16 a, U8x16 b, int size, int half) {
  U8x16 r;
  for (int e = 0; e < 8 / size; ++e) {
    std::memcpy(r.b + 2 * e * size, a.b + 8 * half + e * size, static_cast<size_t>(size));
    std::memcpy(r.b + (2 * e + 1) * size, b.b + 8 * half + e * size, static_cast<size_t>(size));
  }
  return r;
}
inline U8x16 InterleaveLo8(U8x16 a, U8x16 b) { return InterleaveElements(a, b, 1, 0); }
inline U8x16 InterleaveHi8(U8x16 a, U8x16 b) { return InterleaveElements(a, b, 1, 1); }
inline U8x16 InterleaveLo16(U8x16 a, U8x16 b) { return InterleaveElements(a, b, 2, 0); }
inline U8x16 InterleaveHi16(U8x16 a, U8x16 b) { return InterleaveElements(a, b, 2, 1); }
inline U8x16 EvenBytes(U8x16 a, U8x16 b) {
  U8x16 r;
  for (int i = 0; i < 8; ++i) {
    r.b[i] = a.b[2 * i];
    r.b[8 + i] = b.b[2 * i];
  }
  return r;
}
inline U8x16 OddBytes(U8x16 a, U8x16 b) {
  U8x16 r;
  for (int i = 0; i < 8; ++i) {
    r.b[i] = a.b[2 * i + 1];
    r.b[8 + i] = b.b[2 * i + 1];
  }
  return r;
}
inline U8x16 EvenWords(U8x16 a, U8x16 b) {
  U8x16 r;
  std::memcpy(r.b, a.b, 4);
  std::memcpy(r.b + 4, a.b + 8, 4);
  std::memcpy(r.b + 8, b.b, 4);
  std::memcpy(r.b + 12, b.b + 8, 4);
  return r;
}
template <int n>
inline U8x16 ShiftDownBytes(U8x16 v) {
  U8x16 r{};
  for (int i = 0; i + n < 16; ++i) r.b[i] = v.b[i + n];
  return r;
}

#endif

}  // namespace edge::engine::simd128
