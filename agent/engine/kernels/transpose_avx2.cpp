// AVX2 tier of two byte movers. The byte-matrix transpose (int8 Transpose): 16 x 16 blocks,
// two side by side in the 128-bit lanes of 16 registers (16 source rows x 32 columns),
// transposed by four rounds of byte/word/dword/qword unpacks; result register k then holds
// output rows k and k + 16. The last block of a row or column edge overlaps its neighbour;
// matrices under 16 rows or columns go to the scalar kernel (the same bytes). And the strided four-row interleave of phased convs (InterleaveStridedAvx2).
#include <immintrin.h>

#include <algorithm>

#include "agent/engine/kernels/avx2_common.h"
#include "agent/engine/kernels/elementwise.h"

namespace edge::engine {
namespace {

// The low and high unpacks of a and b at the given width, on 128- or 256-bit vectors.
template <int kWidth>
inline void Unpack(__m256i a, __m256i b, __m256i& lo, __m256i& hi) {
  if constexpr (kWidth == 8) {
    lo = _mm256_unpacklo_epi8(a, b), hi = _mm256_unpackhi_epi8(a, b);
  } else if constexpr (kWidth == 16) {
    lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
  } else if constexpr (kWidth == 32) {
    lo = _mm256_unpacklo_epi32(a, b), hi = _mm256_unpackhi_epi32(a, b);
  } else {
    lo = _mm256_unpacklo_epi64(a, b), hi = _mm256_unpackhi_epi64(a, b);
  }
}
template <int kWidth>
inline void Unpack(__m128i a, __m128i b, __m128i& lo, __m128i& hi) {
  if constexpr (kWidth == 8) {
    lo = _mm_unpacklo_epi8(a, b), hi = _mm_unpackhi_epi8(a, b);
  } else if constexpr (kWidth == 16) {
    lo = _mm_unpacklo_epi16(a, b), hi = _mm_unpackhi_epi16(a, b);
  } else if constexpr (kWidth == 32) {
    lo = _mm_unpacklo_epi32(a, b), hi = _mm_unpackhi_epi32(a, b);
  } else {
    lo = _mm_unpacklo_epi64(a, b), hi = _mm_unpackhi_epi64(a, b);
  }
}

// One unpack round: pairs (i, i + half) of v interleaved at the given width.
template <int kWidth, typename V>
inline void UnpackRound(V* v, int half) {
  V out[16];
  for (int i = 0, o = 0; i < 16; i += 2 * half) {
    for (int j = 0; j < half; ++j, o += 2) Unpack<kWidth>(v[i + j], v[i + j + half], out[o], out[o + 1]);
  }
  for (int i = 0; i < 16; ++i) v[i] = out[i];
}

// Four rounds pairing (i, i + 8) leave v[k] holding, per 128-bit lane, source column k with
// the rows in bit-reversed order (the loads put row bitreverse(i) into v[i] to undo that).
template <typename V>
inline void TransposeRounds(V* v) {
  UnpackRound<8>(v, 8);
  UnpackRound<16>(v, 8);
  UnpackRound<32>(v, 8);
  UnpackRound<64>(v, 8);
}

constexpr int BitReverse4(int i) { return ((i & 1) << 3) | ((i & 2) << 1) | ((i & 4) >> 1) | ((i & 8) >> 3); }

// Source rows r0..r0+15, columns c0..c0+31 -> output rows c0..c0+31, columns r0..r0+15.
inline void Block16x32(const uint8_t* src, int64_t src_stride, uint8_t* dst, int64_t dst_stride) {
  __m256i v[16];
  for (int i = 0; i < 16; ++i) {
    v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + BitReverse4(i) * src_stride));
  }
  TransposeRounds(v);
  for (int k = 0; k < 16; ++k) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k * dst_stride), _mm256_castsi256_si128(v[k]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (k + 16) * dst_stride), _mm256_extracti128_si256(v[k], 1));
  }
}

// The same for 16 columns (rows 16-31 wide).
inline void Block16x16(const uint8_t* src, int64_t src_stride, uint8_t* dst, int64_t dst_stride) {
  __m128i v[16];
  for (int i = 0; i < 16; ++i) v[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + BitReverse4(i) * src_stride));
  TransposeRounds(v);
  for (int k = 0; k < 16; ++k) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k * dst_stride), v[k]);
}

// Block starts 0, b, 2b, ... covering n >= b, the last one moved back to end at n (a block
// that overlaps the one before it writes the same bytes twice).
template <typename F>
inline void ForBlocks(int64_t n, int64_t b, F&& f) {
  for (int64_t i = 0; i < n; i += b) f(std::min(i, n - b));
}

}  // namespace

namespace {

// kN x kN pshufb masks (kN = 2-8): m[v][u] gives output vector v's bytes from input vector u,
// pick(v, u, j) being byte j's index in u or 0x80 (zero) where the byte comes from another.
template <int kN>
struct ShuffleMasks {
  __m128i m[kN][kN];
  template <class Pick>
  explicit ShuffleMasks(Pick pick) {
    for (int v = 0; v < kN; ++v) {
      for (int u = 0; u < kN; ++u) {
        alignas(16) uint8_t b[16];
        for (int j = 0; j < 16; ++j) b[j] = pick(v, u, j);
        m[v][u] = _mm_load_si128(reinterpret_cast<const __m128i*>(b));
      }
    }
  }
};

template <int kN>
inline __m128i Gather16(const __m128i (&in)[kN], const __m128i (&mask)[kN]) {
  __m128i acc = _mm_shuffle_epi8(in[0], mask[0]);
  for (int u = 1; u < kN; ++u) acc = _mm_or_si128(acc, _mm_shuffle_epi8(in[u], mask[u]));
  return acc;
}

// kN = 2-8 rows whose columns interleave into contiguous output rows of kN bytes (an int8
// NCHW -> NHWC of 3 channels: out[c * kN + r] = in[r * src_stride + c]): per 16 columns kN
// loads, kN x kN pshufb and kN stores; the last 1-15 columns scalar.
template <int kN>
void InterleaveRows(const uint8_t* src, int64_t src_stride, int64_t cols, uint8_t* dst) {
  // byte j of output vector v is byte (16 v + j) / kN of row (16 v + j) % kN
  static const ShuffleMasks<kN> masks([](int v, int u, int j) -> uint8_t {
    return static_cast<uint8_t>((16 * v + j) % kN == u ? (16 * v + j) / kN : 0x80);
  });
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m128i in[kN];
    for (int r = 0; r < kN; ++r) in[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + r * src_stride + c));
    for (int v = 0; v < kN; ++v) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c * kN + 16 * v), Gather16<kN>(in, masks.m[v]));
    }
  }
  for (; c < cols; ++c) {
    for (int r = 0; r < kN; ++r) dst[c * kN + r] = src[r * src_stride + c];
  }
}

// The inverse, kN = 2-8 columns of contiguous input rows of kN bytes each to kN output rows (an
// int8 NHWC -> NCHW of 3 channels: out[c * dst_stride + r] = in[r * kN + c]): per 16 rows kN
// loads, kN x kN pshufb, kN stores; the last 1-15 rows scalar.
template <int kN>
void DeinterleaveColumns(const uint8_t* src, int64_t rows, uint8_t* dst, int64_t dst_stride) {
  // byte j of output row c is input byte j * kN + c: vector (j kN + c) / 16
  static const ShuffleMasks<kN> masks([](int c, int u, int j) -> uint8_t {
    return static_cast<uint8_t>((j * kN + c) / 16 == u ? (j * kN + c) % 16 : 0x80);
  });
  int64_t r = 0;
  for (; r + 16 <= rows; r += 16) {
    __m128i in[kN];
    for (int u = 0; u < kN; ++u) in[u] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + r * kN + 16 * u));
    for (int c = 0; c < kN; ++c) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c * dst_stride + r), Gather16<kN>(in, masks.m[c]));
    }
  }
  for (; r < rows; ++r) {
    for (int c = 0; c < kN; ++c) dst[c * dst_stride + r] = src[r * kN + c];
  }
}

}  // namespace

void TransposeBytesAvx2(const uint8_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint8_t* dst,
                        int64_t dst_stride) {
  // blocks of 16 x 32 (16 x 16 for rows of 16-31), the last block of each direction moved
  // back over its neighbour rather than left to the scalar kernel (a [256, 48] matrix: the
  // 16 columns past 32 were 4,096 scalar moves); 2-8 rows or columns whose short side is
  // contiguous (channels interleaved or split: NCHW <-> NHWC) by byte shuffles; otherwise under
  // 16 rows or columns, scalar
  if (rows >= 2 && rows <= 8 && cols >= 16 && dst_stride == rows) {
    WithCount<8>(rows, [&](auto n) {
      if constexpr (decltype(n)::value >= 2) InterleaveRows<decltype(n)::value>(src, src_stride, cols, dst);
    });
    return;
  }
  if (cols >= 2 && cols <= 8 && rows >= 16 && src_stride == cols) {
    WithCount<8>(cols, [&](auto n) {
      if constexpr (decltype(n)::value >= 2) DeinterleaveColumns<decltype(n)::value>(src, rows, dst, dst_stride);
    });
    return;
  }
  if (rows < 16 || cols < 16) {
    TransposeBytesScalar(src, src_stride, rows, cols, dst, dst_stride);
    return;
  }
  const int64_t width = cols >= 32 ? 32 : 16;
  ForBlocks(rows, 16, [&](int64_t r) {
    ForBlocks(cols, width, [&](int64_t c) {
      const uint8_t* from = src + r * src_stride + c;
      uint8_t* to = dst + c * dst_stride + r;
      width == 32 ? Block16x32(from, src_stride, to, dst_stride) : Block16x16(from, src_stride, to, dst_stride);
    });
  });
}

namespace {

template <int kStride>
void InterleaveStrided(const int8_t* const src[4], int64_t n, uint8_t* dst) {
  const __m128i flip = _mm_set1_epi8(-128);
  int64_t p = 0;
  for (; p + 16 <= n; p += 16) {
    __m128i v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm_xor_si128(PickStrided<kStride, 0, 16>(src[k] + p * kStride), flip);
    const __m128i ab_lo = _mm_unpacklo_epi8(v[0], v[1]), ab_hi = _mm_unpackhi_epi8(v[0], v[1]);
    const __m128i cd_lo = _mm_unpacklo_epi8(v[2], v[3]), cd_hi = _mm_unpackhi_epi8(v[2], v[3]);
    uint8_t* out = dst + p * 4;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
  }
  for (; p < n; ++p) {
    for (int k = 0; k < 4; ++k) dst[p * 4 + k] = static_cast<uint8_t>(src[k][p * kStride] ^ 0x80);
  }
}

}  // namespace

void InterleaveStridedAvx2(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst) {
  if (sw == 3) {
    InterleaveStrided<3>(src, n, dst);
  } else if (sw == 4) {
    InterleaveStrided<4>(src, n, dst);
  } else {
    InterleaveStridedU8(src, sw, n, dst);
  }
}

void TapWordRowsAvx2(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst) {
  // per 128-bit lane: words x..x+3 from the 10 (sw 2) or 7 (sw 1) bytes at sw * x (the lane's
  // own 16-byte load)
  const __m256i words = _mm256_broadcastsi128_si256(sw == 2 ? _mm_setr_epi8(0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9)
                                                            : _mm_setr_epi8(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6));
  const __m256i flip = _mm256_set1_epi8(-128);
  for (int64_t r = 0; r < rows; ++r, src += row_step, dst += width * 4) {
    for (int64_t x = 0; x < width; x += 8) {
      const int64_t count = std::min<int64_t>(8, width - x);
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + sw * x));
      // the high lane's load only where it has words: reads stay within the shared form's 16
      // bytes past a row's last word
      const __m128i hi = count > 4 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + sw * x + 4 * sw)) : lo;
      const __m256i v = _mm256_xor_si256(_mm256_shuffle_epi8(_mm256_set_m128i(hi, lo), words), flip);
      if (count == 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4 * x), v);
      } else {
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_maskstore_epi32(reinterpret_cast<int*>(dst + 4 * x),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes), v);
      }
    }
  }
}

}  // namespace edge::engine
