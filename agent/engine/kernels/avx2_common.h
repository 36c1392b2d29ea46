// Helpers shared by the AVX2-class kernel files (qgemm_avx2.cpp, depthwise_avx2.cpp,
// winograd_avx2.cpp, elementwise_avx2.cpp, pool_avx2.cpp, transpose_avx2.cpp), each compiled
// with -mavx2. In an anonymous namespace: every file gets its own internal copy, so none can
// become a weak symbol another translation unit picks (docs/engine.md, "How to add a kernel
// tier").
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace edge::engine {
namespace {

// acc += vpmaddwd(a, b) as one asm block: with the intrinsics, GCC 12 keeps a shadow copy of
// each of the 12 accumulators on the stack and reloads it every k-group (~2x slower).
inline __m256i MaddAdd(__m256i acc, __m256i a, __m256i b) {
  __m256i product;
  __asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(product) : "x"(a), "x"(b));
  return acc;
}

// AVX-VNNI's vpdpbusd in its VEX encoding (CPUID.(7,1):EAX[4]) as inline assembly: the files
// are compiled without -mavxvnni, and as with vpmaddwd GCC would shadow the accumulators.
inline __m256i DpbusdVex(__m256i acc, __m256i unsigned_bytes, __m256i signed_bytes) {
  __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(unsigned_bytes), "x"(signed_bytes));
  return acc;
}

// SaturateToInt8 on 8 lanes: maxps(v, lo) returns lo where v is NaN (its second operand), so
// NaN saturates low as in the scalar SaturateToInt8 (QuantizeLinear; the GEMM's Requantize
// never sees a NaN: a model whose multipliers overflow is refused at load); then the rounding
// of cvtps2dq and the zero point.
inline __m256i SaturateLanes(__m256 v, __m256 lo, __m256 hi, __m256i zo) {
  return _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi)), zo);
}

// The low bytes of 16 int32 lanes (q0: elements 0-7, q1: 8-15), in order.
inline __m128i LowBytes(__m256i q0, __m256i q1) {
  const __m256i byte = _mm256_set1_epi32(0xFF);
  // packus of values in 0..255 is exact; it interleaves 128-bit lanes, the permute undoes it
  const __m256i words = _mm256_permute4x64_epi64(
      _mm256_packus_epi32(_mm256_and_si256(q0, byte), _mm256_and_si256(q1, byte)), 0xD8);
  return _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
}

// Whether the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a byte: a kernel that
// recomputes its last elements as an overlapping step must not read outputs it wrote.
inline bool RangesMeet(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  const auto a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + static_cast<uintptr_t>(b_bytes) && b0 < a0 + static_cast<uintptr_t>(a_bytes);
}

// The output's clamp bounds and zero point, for SaturateLanes.
struct OutputRange {
  __m256 lo, hi;
  __m256i zo;
  OutputRange(int32_t qmin, int32_t qmax, int32_t zero_point)
      : lo(_mm256_set1_ps(static_cast<float>(qmin - zero_point))),
        hi(_mm256_set1_ps(static_cast<float>(qmax - zero_point))),
        zo(_mm256_set1_epi32(zero_point)) {}
  __m256i operator()(__m256 v) const { return SaturateLanes(v, lo, hi, zo); }
};

// The requantization of a whole kernel call in two halves, for kernels that narrow 32 outputs
// at a time: ScaleSums turns 8 int32 sums (bias included) into round(sum * mult), PackQuads
// narrows four such vectors to bytes. Two forms, fixed per call (Unclamped):
// * kClamp: as SaturateLanes, the float clamped to [qmin - zp, qmax - zp] before rounding and
//   the zero point added in int32, so the packs only narrow (the values are in range);
// * unclamped, where every |sum * mult| is provably below 2^29 and |zp| <= 2^14: cvtps2dq
//   converts the product exactly (rounding half to even, as the reference) and, the bounds
//   being integers, clamping the rounded integer gives the same byte as clamping the float:
//   the packs saturate to int16 (still past int8 on the same side), the zero point is added
//   to the int16s with saturation, packsswb saturates, and the bytes are clamped to
//   [qmin, qmax]. Two float operations fewer per 8 outputs and one integer add per 16.
struct QuantRange {
  OutputRange clamped;  // the float clamp and int32 zero point (kClamp)
  __m256i zp16;         // the zero point in int16 lanes (unclamped; 0 with kClamp)
  __m256i min8, max8;   // qmin, qmax in every byte
  QuantRange(int32_t qmin, int32_t qmax, int32_t zero_point, bool clamp)
      : clamped(qmin, qmax, zero_point),
        zp16(_mm256_set1_epi16(clamp ? 0 : static_cast<int16_t>(zero_point))),
        min8(_mm256_set1_epi8(static_cast<int8_t>(qmin))),
        max8(_mm256_set1_epi8(static_cast<int8_t>(qmax))) {}
};

template <bool kClamp>
inline __m256i ScaleSums(const QuantRange& range, __m256i sums, __m256 mult) {
  const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(sums), mult);
  if constexpr (kClamp) return range.clamped(v);
  return _mm256_cvtps_epi32(v);
}

// Four vectors of ScaleSums to 32 bytes in the packs' order: per 128-bit lane q0's first
// (second) four lanes, then q1's, q2's, q3's.
inline __m256i PackQuads(const QuantRange& range, __m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i w01 = _mm256_adds_epi16(_mm256_packs_epi32(q0, q1), range.zp16);
  const __m256i w23 = _mm256_adds_epi16(_mm256_packs_epi32(q2, q3), range.zp16);
  return _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(w01, w23), range.min8), range.max8);
}

// Whether a call may requantize unclamped (QuantRange): |zp| <= 2^14, and every sum (|sum| <=
// |bias| + reach, reach the most its products can add: K * 255 * 128 for u8 x s8) times its
// multiplier below 2^29 in magnitude (the margin covers float rounding; a NaN multiplier
// fails). A wrapped sum obeys the bound too: it can only wrap where |bias| + reach >= 2^31.
inline bool Unclamped(const int32_t* bias, const float* mult, int64_t count, int64_t reach, int32_t zero_point) {
  if (zero_point < -(1 << 14) || zero_point > (1 << 14)) return false;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 limit = _mm256_set1_ps(0x1p29f), extra = _mm256_set1_ps(static_cast<float>(reach));
  __m256 over = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 b = _mm256_and_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + i))), abs_mask);
    const __m256 m = _mm256_and_ps(_mm256_loadu_ps(mult + i), abs_mask);
    over = _mm256_or_ps(over, _mm256_cmp_ps(_mm256_mul_ps(_mm256_add_ps(b, extra), m), limit, _CMP_NLT_UQ));
  }
  bool fits = _mm256_movemask_ps(over) == 0;
  for (; i < count; ++i) {
    const double bound = (std::fabs(static_cast<double>(bias[i])) + static_cast<double>(reach)) * std::fabs(mult[i]);
    fits = fits && bound < 0x1p29;  // false for NaN
  }
  return fits;
}

// Calls kernel(range, std::integral_constant<bool, kClamp>) for a call's requantization, with
// the float clamp only where the call cannot requantize unclamped (a model's multipliers
// essentially never need it): the kernels' one dispatch on the form.
template <typename F>
inline void WithQuantRange(const int32_t* bias, const float* mult, int64_t count, int64_t reach, int32_t qmin,
                           int32_t qmax, int32_t zero_point, F&& kernel) {
  const bool clamp = !Unclamped(bias, mult, count, reach, zero_point);
  const QuantRange range(qmin, qmax, zero_point, clamp);
  if (clamp) {
    kernel(range, std::true_type{});
  } else {
    kernel(range, std::false_type{});
  }
}

// f(std::integral_constant<int, n>{}) for a count known at run time, clamped to [1, kMax]: how
// kernels unrolled by a small count (GEMM tile rows, lookup chain lengths, pool strides) pick
// their instance.
template <int kMax, typename F>
inline decltype(auto) WithCount(int64_t n, F&& f) {
  if constexpr (kMax > 1) {
    if (n < kMax) return WithCount<kMax - 1>(n, f);
  }
  return f(std::integral_constant<int, kMax>{});
}

// Strides 3 to 8 (the pools' taps at 3 and 4, their window picks at 5 to 8, the strided
// interleave): bytes kBack + kStride * j (j < kWidth, 8 or 16) from p, in order. The
// bytes used span kSpan from p, covered by 16-byte loads whose starts are clamped to end at
// the last byte used (so a load never reaches past it); each load's bytes are shuffled to the
// outputs they hold (-1 elsewhere: zero) and the loads OR-ed.
template <int kStride, int kBack, int kWidth>
struct StridedPicks {
  static constexpr int kSpan = kBack + kStride * (kWidth - 1) + 1;  // >= 22 at strides 3, 4
  static constexpr int kLoads = (kSpan + 15) / 16;
  static constexpr int Start(int c) { return 16 * c < kSpan - 16 ? 16 * c : kSpan - 16; }
  struct Table {
    alignas(16) int8_t pick[kLoads][16];
  };
  static constexpr Table Make() {
    Table t{};
    for (int c = 0; c < kLoads; ++c) {
      for (int j = 0; j < 16; ++j) {
        const int at = j < kWidth ? kBack + kStride * j - Start(c) : -1;
        t.pick[c][j] = static_cast<int8_t>(at >= 0 && at < 16 ? at : -1);
      }
    }
    return t;
  }
  static constexpr Table kTable = Make();
};

template <int kStride, int kBack, int kWidth>
inline __m128i PickStrided(const int8_t* p) {
  using P = StridedPicks<kStride, kBack, kWidth>;
  __m128i r = _mm_setzero_si128();
#pragma GCC unroll 4
  for (int c = 0; c < P::kLoads; ++c) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + P::Start(c)));
    r = _mm_or_si128(r, _mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(P::kTable.pick[c]))));
  }
  return r;
}

}  // namespace
}  // namespace edge::engine
