// AVX2 tier of the pooling kernels: int8 plane sums (GlobalAveragePool, whole-plane
// AveragePool, ReduceMean over trailing axes), plane extremes (int8 and float ReduceMax and
// ReduceMin over trailing axes, int8 GlobalMaxPool) and MaxPool rows. Equal to the scalar
// kernels (kernels/elementwise_ref.cpp): integers by construction, the float extremes by
// their NaN and zero rules; the tier tests check it.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/elementwise.h"

namespace edge::engine {

// vpsadbw against zero sums 8 unsigned bytes per 64-bit lane: the bytes flipped to x + 128,
// summed, and 128 per element taken off again.
void PlaneSumAvx2(const int8_t* x, int64_t count, int64_t planes, int32_t* sums) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i zero = _mm256_setzero_si256();
  const int64_t whole = count / 32 * 32;
  for (int64_t p = 0; p < planes; ++p) {
    const int8_t* src = x + p * count;
    __m256i acc = zero;
    for (int64_t i = 0; i < whole; i += 32) {
      const __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)), flip);
      acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, zero));
    }
    const __m128i half = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const int64_t shifted = _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
    int32_t sum = static_cast<int32_t>(shifted - 128 * whole);
    for (int64_t i = whole; i < count; ++i) sum += src[i];
    sums[p] = sum;
  }
}

namespace {

// 32 bytes at a time; the last 32 (16 for planes under 32 bytes) loaded again ending at the
// plane's last byte, which an extreme does not mind reading twice; then folded to one byte.
template <bool kMax>
void PlaneExtremeS8(const int8_t* x, int64_t count, int64_t planes, int8_t* out) {
  auto load16 = [](const int8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
  auto load32 = [](const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
  auto pick16 = [](__m128i a, __m128i b) { return kMax ? _mm_max_epi8(a, b) : _mm_min_epi8(a, b); };
  auto pick32 = [](__m256i a, __m256i b) { return kMax ? _mm256_max_epi8(a, b) : _mm256_min_epi8(a, b); };
  for (int64_t p = 0; p < planes; ++p) {
    const int8_t* src = x + p * count;
    if (count < 16) {
      out[p] = kMax ? *std::max_element(src, src + count) : *std::min_element(src, src + count);
      continue;
    }
    __m128i m;
    if (count < 32) {
      m = pick16(load16(src), load16(src + count - 16));
    } else {
      __m256i acc = load32(src + count - 32);
      for (int64_t i = 0; i + 32 <= count; i += 32) acc = pick32(acc, load32(src + i));
      m = pick16(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    }
    m = pick16(m, _mm_srli_si128(m, 8));
    m = pick16(m, _mm_srli_si128(m, 4));
    m = pick16(m, _mm_srli_si128(m, 2));
    m = pick16(m, _mm_srli_si128(m, 1));
    out[p] = static_cast<int8_t>(_mm_cvtsi128_si32(m));
  }
}

// The extreme of a plane without NaN (the caller checks), 32 floats a step in four
// accumulators, the last 32 loaded again; vmaxps/vminps of equal zeros may keep either sign, so
// a zero result is replaced by the plane's first zero, the chain's.
template <bool kMax>
float FloatExtremeNoNan(const float* src, int64_t count, bool* has_nan) {
  auto pick = [](__m256 v, __m256 acc) { return kMax ? _mm256_max_ps(v, acc) : _mm256_min_ps(v, acc); };
  const __m256 init = _mm256_set1_ps(kMax ? -INFINITY : INFINITY);
  __m256 acc[4] = {init, init, init, init};
  __m256 nan = _mm256_setzero_ps();
  auto step = [&](const float* at) {
    for (int k = 0; k < 4; ++k) {
      const __m256 v = _mm256_loadu_ps(at + 8 * k);
      acc[k] = pick(v, acc[k]);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
  };
  for (int64_t i = 0; i + 32 <= count; i += 32) step(src + i);
  step(src + count - 32);
  *has_nan = _mm256_movemask_ps(nan) != 0;
  __m256 m = pick(pick(acc[0], acc[1]), pick(acc[2], acc[3]));
  __m128 h = kMax ? _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1))
                  : _mm_min_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = kMax ? _mm_max_ps(h, _mm_movehl_ps(h, h)) : _mm_min_ps(h, _mm_movehl_ps(h, h));
  h = kMax ? _mm_max_ss(h, _mm_shuffle_ps(h, h, 1)) : _mm_min_ss(h, _mm_shuffle_ps(h, h, 1));
  const float result = _mm_cvtss_f32(h);
  if (result != 0.0f) return result;
  return *std::find(src, src + count, 0.0f);  // -0.0f == 0.0f
}

}  // namespace

void PlaneMaxAvx2(const int8_t* x, int64_t count, int64_t planes, int8_t* maxima) {
  PlaneExtremeS8<true>(x, count, planes, maxima);
}

void PlaneMinAvx2(const int8_t* x, int64_t count, int64_t planes, int8_t* minima) {
  PlaneExtremeS8<false>(x, count, planes, minima);
}

void FloatPlaneExtremeAvx2(const float* x, int64_t count, int64_t planes, bool max, float* y) {
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = x + p * count;
    bool has_nan = count < 32;
    if (!has_nan) {
      y[p] = max ? FloatExtremeNoNan<true>(src, count, &has_nan) : FloatExtremeNoNan<false>(src, count, &has_nan);
    }
    if (has_nan) FloatPlaneExtremeScalar(src, count, 1, max, y + p);  // short planes too
  }
}

namespace {

// Bytes 2j + kPhase (j < 32) of the 64 at p, in order: 32 outputs of a stride-2 window tap.
template <int kPhase>
inline __m256i StridedBytes(const int8_t* p) {
  constexpr char k0 = kPhase, k1 = kPhase + 2, k2 = kPhase + 4, k3 = kPhase + 6, k4 = kPhase + 8, k5 = kPhase + 10,
                 k6 = kPhase + 12, k7 = kPhase + 14;
  const __m256i pick = _mm256_setr_epi8(k0, k1, k2, k3, k4, k5, k6, k7, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        k0, k1, k2, k3, k4, k5, k6, k7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i a = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), pick);
  const __m256i b = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)), pick);
  // qwords [a0 b0 | a1 b1] -> [a0 a1 b0 b1]
  return _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), 0xD8);
}

// One tap's 32 source bytes for the outputs from `at` (their first window byte): stride 1
// loads them; stride 2 loads 64 from at - kBack and keeps every second byte from kBack on;
// strides 3 and 4 pick two halves of 16 (PickStrided), from at - kBack too (5 to 8: DenseStep).
template <int kStride, int kBack>
inline __m256i Tap(const int8_t* at) {
  if constexpr (kStride == 1) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  } else if constexpr (kStride == 2) {
    return StridedBytes<kBack>(at - kBack);
  } else {
    const __m128i lo = PickStrided<kStride, kBack, 16>(at - kBack);
    const __m128i hi = PickStrided<kStride, kBack, 16>(at - kBack + 16 * kStride);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  }
}

// Where a row's last step loads from: kBack bytes before its first output's window at strides
// 1 and 2 (whose loads span kWidth * kStride bytes, past the last byte used when the window
// starts later), at the window itself from stride 3 on (PickStrided loads end at the last byte
// used). StepSpan: the bytes from a step's first window byte to the last it loads.
template <int kStride>
constexpr int kLastBack = kStride <= 2 ? kStride - 1 : 0;
template <int kStride, int kWidth>
constexpr int64_t kStepSpan = kStride <= 2 ? kWidth * kStride : (kWidth - 1) * kStride + 1;

template <int kStride, int kBack>
inline void Step32(const MaxPoolRowArgs& a, int64_t o) {
  __m256i best = Tap<kStride, kBack>(a.rows[0] + o * kStride);
  for (int r = 0; r < a.row_count; ++r) {
    const int8_t* row = a.rows[r] + o * kStride;
    for (int64_t t = 0; t < a.taps; ++t) best = _mm256_max_epi8(best, Tap<kStride, kBack>(row + t * a.dilation));
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.out + o), best);
}

// 32 outputs per step while every byte a step loads is inside the rows (a stride-2 step loads
// 64 bytes for the 63 it uses), then one last step over the final 32 outputs (overlapping the
// previous one, loading from kLastBack before it: at stride 2 its 64 bytes end at the last
// byte it uses). False where the row is shorter than one step: the scalar kernel's.
template <int kStride>
bool MaxPoolRowSteps(const MaxPoolRowArgs& a) {
  const int64_t reach = (a.taps - 1) * a.dilation;  // the last tap's offset
  const int64_t last = (a.n - 1) * kStride + reach;  // the last byte a row may be read at
  if (a.n < 32 + kLastBack<kStride>) return false;
  int64_t o = 0;
  for (; o + 32 <= a.n && o * kStride + reach + kStepSpan<kStride, 32> - 1 <= last; o += 32) Step32<kStride, 0>(a, o);
  if (o < a.n) Step32<kStride, kLastBack<kStride>>(a, a.n - 32);
  return true;
}

// Rows of 8-31 outputs (a 28-wide map, ResNet-style 14- and 7-wide ones): the same scheme on
// 16 or 8 outputs per 128-bit step. kWidth outputs of one tap: stride 1 loads them; stride 2
// loads 2 * kWidth bytes from at - kBack and keeps bytes kBack, kBack + 2, ... (packus of the
// masked or shifted 16-bit lanes: the bytes as 0-255, exact); strides 3 and 4 pick them
// (PickStrided).
template <int kWidth, int kStride, int kBack>
inline __m128i NarrowTap(const int8_t* at) {
  const int8_t* p = at - kBack;
  if constexpr (kStride > 2) {
    return PickStrided<kStride, kBack, kWidth>(p);
  } else if constexpr (kStride == 1) {
    if constexpr (kWidth == 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  } else {
    auto pick = [](__m128i v) { return kBack == 0 ? _mm_and_si128(v, _mm_set1_epi16(0xFF)) : _mm_srli_epi16(v, 8); };
    const __m128i lo = pick(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    if constexpr (kWidth == 16) {
      return _mm_packus_epi16(lo, pick(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16))));
    }
    return _mm_packus_epi16(lo, lo);
  }
}

template <int kWidth, int kStride, int kBack>
inline void NarrowStep(const MaxPoolRowArgs& a, int64_t o) {
  __m128i best = NarrowTap<kWidth, kStride, kBack>(a.rows[0] + o * kStride);
  for (int r = 0; r < a.row_count; ++r) {
    const int8_t* row = a.rows[r] + o * kStride;
    for (int64_t t = 0; t < a.taps; ++t) best = _mm_max_epi8(best, NarrowTap<kWidth, kStride, kBack>(row + t * a.dilation));
  }
  if constexpr (kWidth == 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.out + o), best);
  } else {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(a.out + o), best);
  }
}

// As MaxPoolRowSteps, kWidth outputs per step; false for rows shorter than one step.
template <int kWidth, int kStride>
bool NarrowRowSteps(const MaxPoolRowArgs& a) {
  const int64_t reach = (a.taps - 1) * a.dilation;
  const int64_t last = (a.n - 1) * kStride + reach;
  if (a.n < kWidth + kLastBack<kStride>) return false;
  int64_t o = 0;
  for (; o + kWidth <= a.n && o * kStride + reach + kStepSpan<kStride, kWidth> - 1 <= last; o += kWidth) {
    NarrowStep<kWidth, kStride, 0>(a, o);
  }
  if (o < a.n) NarrowStep<kWidth, kStride, kLastBack<kStride>>(a, a.n - kWidth);
  return true;
}

// 32 window sums per step: each tap's 32 bytes (Tap, as the MaxPool steps load them) widened to
// int16 and added (a window of at most 256 elements cannot leave int16), then widened to int32.
template <int kStride, int kBack>
inline void SumStep32(const WindowSumRowArgs& a, int64_t o) {
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int64_t r = 0; r < a.row_count; ++r) {
    const int8_t* row = a.first + r * a.row_pitch + o * kStride;
    for (int64_t t = 0; t < a.taps; ++t) {
      const __m256i v = Tap<kStride, kBack>(row + t);
      lo = _mm256_add_epi16(lo, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
      hi = _mm256_add_epi16(hi, _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
    }
  }
  int32_t* out = a.out + o;
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_cvtepi16_epi32(_mm256_castsi256_si128(lo)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_cvtepi16_epi32(_mm256_extracti128_si256(lo, 1)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16), _mm256_cvtepi16_epi32(_mm256_castsi256_si128(hi)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 24), _mm256_cvtepi16_epi32(_mm256_extracti128_si256(hi, 1)));
}

// Bytes kShift.. of v moved to the front (zeros after), kShift a constant below 32.
template <int kShift>
inline __m256i ShiftDown(__m256i v) {
  const __m256i upper = _mm256_permute2x128_si256(v, v, 0x81);  // [v.hi, 0]
  if constexpr (kShift == 0) {
    return v;
  } else if constexpr (kShift < 16) {
    return _mm256_alignr_epi8(upper, v, kShift);
  } else {
    return _mm256_srli_si256(upper, kShift - 16);
  }
}

// Where block b of a dense step's positions starts: 32 b, the last block clamped to end at the
// span's last position (then stored shifted down to 32 b, so that no two stores overlap and
// every 16-byte load of the picks is inside one store).
template <int kSpan>
constexpr int DenseBlockStart(int b) {
  return 32 * b + 32 <= kSpan ? 32 * b : kSpan - 32;
}

// Strides 5 to 8, where a 16-byte load holds only two or three outputs' bytes: first the
// window maxima at every position of kOut outputs' span (32 positions per vector, one
// unaligned load per tap and window row) into a stack buffer, then every kStride-th picked
// (PickStrided). Blocks of positions as DenseBlockStart: no load passes the step's last
// window's last byte.
template <int kStride, int kOut>
inline void DenseStep(const MaxPoolRowArgs& a, int64_t o) {
  constexpr int kSpan = (kOut - 1) * kStride + 1, kBlocks = (kSpan + 31) / 32;
  static_assert(kSpan >= 32, "a block of 32 positions fits the span");
  __m256i best[kBlocks];
  const int8_t* first = a.rows[0] + o * kStride;
#pragma GCC unroll 4
  for (int b = 0; b < kBlocks; ++b) best[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(first + DenseBlockStart<kSpan>(b)));
  for (int r = 0; r < a.row_count; ++r) {
    const int8_t* tap = a.rows[r] + o * kStride;
    for (int64_t t = 0; t < a.taps; ++t, tap += a.dilation) {
#pragma GCC unroll 4
      for (int b = 0; b < kBlocks; ++b) {
        best[b] = _mm256_max_epi8(best[b], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tap + DenseBlockStart<kSpan>(b))));
      }
    }
  }
  alignas(32) int8_t maxima[kBlocks * 32];
#pragma GCC unroll 4
  for (int b = 0; b < kBlocks; ++b) {
    const __m256i v = DenseBlockStart<kSpan>(b) == 32 * b ? best[b] : ShiftDown<(32 - kSpan % 32) % 32>(best[b]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(maxima + 32 * b), v);
  }
  const __m128i picked = PickStrided<kStride, 0, kOut>(maxima);
  if constexpr (kOut == 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.out + o), picked);
  } else {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(a.out + o), picked);
  }
}

// step(o) for every kOut outputs of a row of n, the last step overlapping the one before;
// false for rows shorter than one step.
template <int kOut, typename F>
bool OverlappingSteps(int64_t n, F&& step) {
  if (n < kOut) return false;
  int64_t o = 0;
  for (; o + kOut <= n; o += kOut) step(o);
  if (o < n) step(n - kOut);
  return true;
}

template <int kStride, int kOut>
bool DenseRowSteps(const MaxPoolRowArgs& a) {
  return OverlappingSteps<kOut>(a.n, [&](int64_t o) { DenseStep<kStride, kOut>(a, o); });
}

// DenseStep with sums: the window sums at every position of kOut outputs' span in int16 (each
// tap's 32 bytes widened and added, as SumStep32), then every kStride-th widened to int32.
template <int kStride, int kOut>
inline void SumDenseStep(const WindowSumRowArgs& a, int64_t o) {
  constexpr int kSpan = (kOut - 1) * kStride + 1, kBlocks = (kSpan + 31) / 32;
  static_assert(kSpan >= 32, "a block of 32 positions fits the span");
  __m256i lo[kBlocks], hi[kBlocks];
#pragma GCC unroll 4
  for (int b = 0; b < kBlocks; ++b) lo[b] = hi[b] = _mm256_setzero_si256();
  for (int64_t r = 0; r < a.row_count; ++r) {
    const int8_t* tap = a.first + r * a.row_pitch + o * kStride;
    for (int64_t t = 0; t < a.taps; ++t, ++tap) {
#pragma GCC unroll 4
      for (int b = 0; b < kBlocks; ++b) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tap + DenseBlockStart<kSpan>(b)));
        lo[b] = _mm256_add_epi16(lo[b], _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
        hi[b] = _mm256_add_epi16(hi[b], _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
      }
    }
  }
  alignas(32) int16_t sums[kBlocks][32];  // block b's 32 positions from DenseBlockStart(b)
#pragma GCC unroll 4
  for (int b = 0; b < kBlocks; ++b) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(sums[b]), lo[b]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sums[b] + 16), hi[b]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < kOut; ++j) {
    const int at = j * kStride, b = std::min(at / 32, kBlocks - 1);
    a.out[o + j] = sums[b][at - DenseBlockStart<kSpan>(b)];
  }
}

template <int kStride, int kOut>
bool SumDenseRowSteps(const WindowSumRowArgs& a) {
  return OverlappingSteps<kOut>(a.n, [&](int64_t o) { SumDenseStep<kStride, kOut>(a, o); });
}

// The MaxPool row scheme (MaxPoolRowSteps) with sums; false where a row is shorter than a step.
// Strides 5 to 8 as DenseRowSteps.
template <int kStride>
bool SumRowSteps(const WindowSumRowArgs& a) {
  if constexpr (kStride >= 5) {
    return SumDenseRowSteps<kStride, 16>(a) || SumDenseRowSteps<kStride, 8>(a);
  } else {
    const int64_t reach = a.taps - 1;
    const int64_t last = (a.n - 1) * kStride + reach;
    if (a.n < 32 + kLastBack<kStride>) return false;
    int64_t o = 0;
    for (; o + 32 <= a.n && o * kStride + reach + kStepSpan<kStride, 32> - 1 <= last; o += 32) SumStep32<kStride, 0>(a, o);
    if (o < a.n) SumStep32<kStride, kLastBack<kStride>>(a, a.n - 32);
    return true;
  }
}

template <int kStride>
bool AnyRowSteps(const MaxPoolRowArgs& a) {
  if constexpr (kStride >= 5) {
    return DenseRowSteps<kStride, 16>(a) || DenseRowSteps<kStride, 8>(a);
  } else {
    return MaxPoolRowSteps<kStride>(a) || NarrowRowSteps<16, kStride>(a) || NarrowRowSteps<8, kStride>(a);
  }
}

// Strides 9 and more, where a vector holds at most three outputs' windows, and windows of
// several rows at strides 5 to 8 (ColumnsFirstPays): rows first, then the windows. The outputs go in chunks whose positions (from the first window's first byte to
// the last one's last) fit kColumnChunk bytes: every position of a chunk reduced over the window
// rows (one vector op per 32 positions and row, `col`), then every window start over the taps
// (one per 32 positions and tap, `win`), and every stride-th window start picked. Each window
// takes the same maxima or integer sums as the scalar kernel, in another order: the same bytes.
constexpr int64_t kColumnChunk = 1024;

// The chunks of a row of n outputs: f(o0, m, span) for outputs o0..o0 + m - 1 and their span of
// positions, each chunk's
// at most kColumnChunk and at least kMinSpan (the last chunk moved back over outputs already
// done where it would be shorter). False where the row's positions are fewer than kMinSpan,
// one window is longer than a chunk, or no chunk both fits and reaches kMinSpan.
template <int kMinSpan, typename F>
bool ColumnChunks(int64_t n, int64_t stride, int64_t reach, F&& f) {
  const int64_t span = (n - 1) * stride + reach + 1;
  if (span < kMinSpan || reach + 1 > kColumnChunk) return false;
  const int64_t per_chunk = (kColumnChunk - reach - 1) / stride + 1;
  // outputs whose positions reach kMinSpan: (m - 1) * stride + reach + 1 >= kMinSpan
  const int64_t least = std::max<int64_t>(1, (kMinSpan - reach - 1 + stride - 1) / stride + 1);
  // a stride near the chunk with a short window: one output per chunk spans fewer than
  // kMinSpan positions and two span more than a chunk (the scalar kernel's)
  if (per_chunk < least) return false;
  for (int64_t o0 = 0; o0 < n;) {
    int64_t m = std::min(per_chunk, n - o0);
    if (m < least) {
      o0 = n - least;
      m = least;
    }
    f(o0, m, (m - 1) * stride + reach + 1);
    o0 += m;
  }
  return true;
}


bool MaxPoolColumnsFirst(const MaxPoolRowArgs& a) {
  const int64_t reach = (a.taps - 1) * a.dilation;
  alignas(32) int8_t col[kColumnChunk + 32];
  alignas(32) int8_t win[kColumnChunk + 32];
  return ColumnChunks<32>(a.n, a.stride, reach, [&](int64_t o0, int64_t m, int64_t span) {
    const int64_t base = o0 * a.stride;
    // every 32 positions, the last vector ending at the span's end (overlapping: same maxima)
    for (int64_t p = 0; p < span; p += 32) {
      const int64_t at = std::min(p, span - 32);
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.rows[0] + base + at));
      for (int r = 1; r < a.row_count; ++r) {
        v = _mm256_max_epi8(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.rows[r] + base + at)));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(col + at), v);
    }
    // window starts read up to 31 positions past the last window's end: defined bytes there,
    // whose maxima land only in window starts that are not picked
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(col + span), _mm256_setzero_si256());
    const int64_t starts = (m - 1) * a.stride + 1;
    for (int64_t q = 0; q < starts; q += 32) {
      __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(col + q));
      for (int64_t t = 1; t < a.taps; ++t) {
        w = _mm256_max_epi8(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + q + t * a.dilation)));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(win + q), w);
    }
    int64_t j = 0;
    if (a.stride == 2) {  // every second window start, 32 (then 16) at a time
      for (; j + 32 <= m; j += 32) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.out + o0 + j), StridedBytes<0>(win + 2 * j));
      }
      for (; j + 16 <= m; j += 16) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(a.out + o0 + j), NarrowTap<16, 2, 0>(win + 2 * j));
      }
    }
    for (; j < m; ++j) a.out[o0 + j] = win[j * a.stride];
  });
}

// The same with int16 sums, 16 positions per vector (a window of at most 256 elements).
bool WindowSumColumnsFirst(const WindowSumRowArgs& a) {
  alignas(32) int16_t col[kColumnChunk + 16];
  alignas(32) int16_t win[kColumnChunk + 16];
  return ColumnChunks<16>(a.n, a.stride, a.taps - 1, [&](int64_t o0, int64_t m, int64_t span) {
    const int8_t* base = a.first + o0 * a.stride;
    for (int64_t p = 0; p < span; p += 16) {
      const int64_t at = std::min(p, span - 16);
      __m256i v = _mm256_setzero_si256();
      for (int64_t r = 0; r < a.row_count; ++r) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + r * a.row_pitch + at));
        v = _mm256_add_epi16(v, _mm256_cvtepi8_epi16(bytes));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(col + at), v);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(col + span), _mm256_setzero_si256());
    const int64_t starts = (m - 1) * a.stride + 1;
    for (int64_t q = 0; q < starts; q += 16) {
      __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(col + q));
      for (int64_t t = 1; t < a.taps; ++t) {
        w = _mm256_add_epi16(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + q + t)));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(win + q), w);
    }
    for (int64_t j = 0; j < m; ++j) a.out[o0 + j] = win[j * a.stride];
  });
}

// Window sums of at most 8 taps at strides of 5 or more whose two windows fit a 16-byte lane
// (stride + taps <= 16), rows of 4 windows or more: per row, a 16-byte load at window j and one
// at j + 2, the bytes flipped to x + 128 and each window's taps shuffled into a qword of their
// own (the other bytes zero), so that vpsadbw against zero sums them, 4 windows per step; the
// rows' sums added in int32 and 128 * taps * rows taken off: the same integers as the scalar
// kernel. The row's last step is moved back over windows already done; where the second load
// would pass the row's last window byte, it ends there and its shuffle indices shift to match
// (the first load never does: 16 <= 3 * stride + taps).
bool WindowSumSad(const WindowSumRowArgs& a) {
  if (a.taps > 8 || a.stride < 5 || a.stride + a.taps > 16 || a.n < 4 || a.row_count * a.taps > (1 << 20)) {
    return false;
  }
  alignas(32) int8_t pick[32];
  for (int b = 0; b < 32; ++b) {
    const int64_t t = b % 8, window = (b / 8) % 2;
    pick[b] = static_cast<int8_t>(t < a.taps ? window * a.stride + t : 0x80);
  }
  const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(pick));
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i offset = _mm256_set1_epi32(static_cast<int32_t>(128 * a.taps * a.row_count));
  const __m256i lows = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const int64_t limit = (a.n - 1) * a.stride + a.taps;  // the row's bytes from a.first
  for (int64_t o = 0; o < a.n; o += 4) {
    const int64_t at = std::min(o, a.n - 4), lo = at * a.stride, hi = std::min(lo + 2 * a.stride, limit - 16);
    // hi lane indices + the bytes the second load moved back (at most 16 - stride - taps)
    const __m256i shift =
        _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_set1_epi8(static_cast<char>(lo + 2 * a.stride - hi)), 1);
    const __m256i index = _mm256_add_epi8(idx, shift);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t r = 0; r < a.row_count; ++r) {
      const int8_t* row = a.first + r * a.row_pitch;
      const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + lo));
      const __m128i second = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + hi));
      const __m256i v = _mm256_xor_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(first), second, 1), flip);
      acc = _mm256_add_epi32(acc, _mm256_sad_epu8(_mm256_shuffle_epi8(v, index), _mm256_setzero_si256()));
    }
    const __m256i sums = _mm256_permutevar8x32_epi32(_mm256_sub_epi32(acc, offset), lows);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.out + at), _mm256_castsi256_si128(sums));
  }
  return true;
}

// AveragePool 2x2 stride 2: the bytes flipped to x + 128, each window row's two bytes summed
// by vpmaddubsw against ones (at most 510: it cannot saturate), the two rows added and
// 4 * (128 + zi) taken off: the window's sum of x - zi, exact in int16. Then QMeanScalar's float
// steps in its order: the sum over 4 (a multiply by 0.25, exact for these integers), times
// the ratio, clamped and rounded half to even. 16 outputs per step from 32-byte row loads (8
// from 16-byte ones on rows under 16 outputs), a row's last step moved back over outputs
// already written (the same bytes again); no load reaches past byte 2 * ow of a row.
template <bool kWide>
inline void AvgPool2x2Step(const int8_t* r0, const int8_t* r1, __m256i offset, __m256 ratio, const OutputRange& range,
                           int8_t* y) {
  const auto mean = [&](__m256i sums) {
    return range(_mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(0.25f)), ratio));
  };
  if constexpr (kWide) {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi8(1);
    const auto pairs = [&](const int8_t* r) {
      const __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r)), flip);
      return _mm256_maddubs_epi16(v, ones);
    };
    const __m256i sums = _mm256_sub_epi16(_mm256_add_epi16(pairs(r0), pairs(r1)), offset);
    const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(sums));
    const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(sums, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y), LowBytes(mean(lo), mean(hi)));
  } else {
    const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80)), ones = _mm_set1_epi8(1);
    const auto pairs = [&](const int8_t* r) {
      const __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r)), flip);
      return _mm_maddubs_epi16(v, ones);
    };
    const __m128i sums = _mm_sub_epi16(_mm_add_epi16(pairs(r0), pairs(r1)), _mm256_castsi256_si128(offset));
    const __m256i q = mean(_mm256_cvtepi16_epi32(sums));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y), LowBytes(q, q));
  }
}

// f(std::integral_constant<int, stride>{}) for the strides the vector steps take (1-8); false
// for others (at stride 9 and more a 16-byte load holds at most two outputs' bytes: rows first,
// MaxPoolColumnsFirst / WindowSumColumnsFirst, or the scalar kernel).
template <typename F>
bool WithStride(int64_t stride, F&& f) {
  return stride >= 1 && stride <= 8 && WithCount<8>(stride, f);
}

}  // namespace

void WindowSumRowAvx2(const WindowSumRowArgs& a) {
  const bool fits16 = a.row_count * a.taps <= 256;  // |sum| <= 256 * 128 fits int16
  const bool columns_first = fits16 && ColumnsFirstPays(a.stride, a.row_count);
  // Columns first costs about 2 * stride / 16 ops per window row and window, vpsadbw 1.5, but
  // it has more to do per window: measured (a kernel A/B over 3,780 shapes), tall windows at
  // strides up to 8 (rows >= 3 * stride: 16 rows at stride 5, 24 at stride 8) stay columns first.
  if (!(columns_first && a.stride <= 8 && a.row_count >= 3 * a.stride) && WindowSumSad(a)) return;
  if (columns_first && WindowSumColumnsFirst(a)) return;
  if (fits16 && WithStride(a.stride, [&](auto stride) { return SumRowSteps<decltype(stride)::value>(a); })) return;
  WindowSumRowScalar(a);
}

bool AvgPool2x2Avx2(const AvgPool2x2Args& a) {
  // rows under 8 outputs: the caller's flat-plane pass
  if (a.ow < 8 || !RoundsExactlyBySimd(static_cast<float>(a.qmin - a.zo), static_cast<float>(a.qmax - a.zo))) {
    return false;
  }
  const __m256i offset = _mm256_set1_epi16(static_cast<int16_t>(4 * (128 + a.zi)));
  const __m256 ratio = _mm256_set1_ps(a.ratio);
  const OutputRange range(a.qmin, a.qmax, a.zo);
  for (int64_t p = 0; p < a.planes; ++p) {
    for (int64_t oy = 0; oy < a.oh; ++oy) {
      const int8_t* r0 = a.x + (p * a.ih + 2 * oy) * a.iw;
      int8_t* y = a.y + (p * a.oh + oy) * a.ow;
      if (a.ow < 16) {
        AvgPool2x2Step<false>(r0, r0 + a.iw, offset, ratio, range, y);
        AvgPool2x2Step<false>(r0 + 2 * (a.ow - 8), r0 + a.iw + 2 * (a.ow - 8), offset, ratio, range, y + a.ow - 8);
        continue;
      }
      for (int64_t ox = 0; ox < a.ow; ox += 16) {
        const int64_t at = std::min(ox, a.ow - 16);
        AvgPool2x2Step<true>(r0 + 2 * at, r0 + a.iw + 2 * at, offset, ratio, range, y + at);
      }
    }
  }
  return true;
}

void MaxPoolRowAvx2(const MaxPoolRowArgs& a) {
  // also at stride 2 with several rows, whose picks are one shuffle (not for the window sums:
  // their picks are scalar, 2x slower there than the tap form)
  const bool rows_first = ColumnsFirstPays(a.stride, a.row_count) || (a.stride == 2 && a.row_count >= 2);
  if (rows_first && MaxPoolColumnsFirst(a)) return;
  if (WithStride(a.stride, [&](auto stride) { return AnyRowSteps<decltype(stride)::value>(a); })) return;
  MaxPoolRowScalar(a);
}

}  // namespace edge::engine
