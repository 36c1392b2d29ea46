// The float Conv row kernel (FloatConvRowFn, elementwise.h) over a vector type, for the ISA
// files that include it (float_conv_avx2.cpp, float_conv_avx512.cpp: each compiled for its
// ISA with -ffp-contract=off, so that every product and sum is rounded once, as in the step's
// own loops).
//
// A traits type T gives: V (floats), VI (int32 lanes), M (a lane mask), kLanes, Set1, Load
// (unaligned), Store, Add, Mul, Max(lo, v) and Min(hi, v) with the operand order of
// std::max(v, lo) and std::min(v, hi) (a NaN in v stays), LoadEven(p) (p[0], p[2], ..., reading
// no float past p[2 * (kLanes - 1)]), Gather(p, index), Iota(step) (0, step, 2 step, ...), and
// for the columns whose taps reach into the padding: Inside(first, step, limit, count) (the lanes
// l < count with first + l * step in [0, limit)), MaskedLoad(p, m), MaskedLoadEven(p, m) and
// MaskedGather(p, index, m) (zeros in the other lanes, whose floats are not read), MaskedAdd(acc, m, v) (acc + v in m's lanes,
// acc in the others) and MaskedStore(p, m, v).
#pragma once

#include <algorithm>
#include <cstdint>

#include "agent/engine/kernels/elementwise.h"

namespace edge::engine::float_conv {

// Column strides: 1 and 2 loaded, any other gathered. (The loops over channels and vectors are
// unrolled by pragma: unrolled late, GCC keeps the accumulator arrays in memory.)
enum class Cols { kStride1, kStride2, kGather };


// kC output channels from c0 by kU vectors of columns from ox, accumulated in registers in the
// reference order (input channel, window row, tap). kEdge: the columns from ox that reach
// into the padding, or pass ow: per tap and vector the lanes whose input column is inside the
// row are read and added, the others keep their sum (the plane loops leave those taps out),
// and only columns below ow are stored.
template <typename T, Cols kCols, bool kEdge, int kC, int kU>
inline void Block(const FloatConvRowArgs& a, int64_t c0, int64_t ox, typename T::VI index) {
  using V = typename T::V;
  using M = typename T::M;
  constexpr int kL = T::kLanes;
  const int64_t cin = a.cin, rows = a.row_count, kw = a.kw, dw = a.dw, x_ic = a.x_ic, w_ic = a.w_ic;
  const int64_t w_pitch = a.w_pitch, sw = a.sw;
  const int64_t* const x_rows = a.x_rows;
  const int64_t* const w_rows = a.w_rows;
  const int64_t start = ox * sw - a.pl;  // lane 0's input column at tap 0
  V acc[kC][kU];
#pragma GCC unroll 8
  for (int c = 0; c < kC; ++c) {
    const V b = T::Set1(a.bias != nullptr ? a.bias[c0 + c] : 0.0f);
#pragma GCC unroll 8
    for (int u = 0; u < kU; ++u) acc[c][u] = b;
  }
  // per tap and vector, the lanes whose input column is inside the row (kw <= kFloatConvMaxTaps)
  M inside[kEdge ? kFloatConvMaxTaps : 1][kU];
  if constexpr (kEdge) {
    for (int64_t kx = 0; kx < kw; ++kx) {
#pragma GCC unroll 8
      for (int u = 0; u < kU; ++u) {
        inside[kx][u] = T::Inside(start + kx * dw + u * kL * sw, sw, a.iw, std::min<int64_t>(kL, a.ow - ox - u * kL));
      }
    }
  }
  const float* w0 = a.w + c0 * w_pitch;
  for (int64_t ic = 0; ic < cin; ++ic) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = a.x + ic * x_ic + x_rows[r] + start;
      const float* wr = w0 + ic * w_ic + w_rows[r];
      for (int64_t kx = 0; kx < kw; ++kx) {
        V xv[kU];
        M in[kU];
#pragma GCC unroll 8
        for (int u = 0; u < kU; ++u) {
          const float* p = xr + kx * dw + u * kL * sw;
          if constexpr (kEdge) {
            in[u] = inside[kx][u];
            if constexpr (kCols == Cols::kStride1) {
              xv[u] = T::MaskedLoad(p, in[u]);
            } else if constexpr (kCols == Cols::kStride2) {
              xv[u] = T::MaskedLoadEven(p, in[u]);
            } else {
              xv[u] = T::MaskedGather(p, index, in[u]);
            }
          } else if constexpr (kCols == Cols::kStride1) {
            xv[u] = T::Load(p);
          } else if constexpr (kCols == Cols::kStride2) {
            xv[u] = T::LoadEven(p);
          } else {
            xv[u] = T::Gather(p, index);
          }
        }
#pragma GCC unroll 8
        for (int c = 0; c < kC; ++c) {
          const V wv = T::Set1(wr[c * w_pitch + kx]);
#pragma GCC unroll 8
          for (int u = 0; u < kU; ++u) {
            if constexpr (kEdge) {
              acc[c][u] = T::MaskedAdd(acc[c][u], in[u], T::Mul(wv, xv[u]));
            } else {
              acc[c][u] = T::Add(acc[c][u], T::Mul(wv, xv[u]));
            }
          }
        }
      }
    }
  }
  const V lo = T::Set1(a.lo), hi = T::Set1(a.hi);
#pragma GCC unroll 8
  for (int c = 0; c < kC; ++c) {
    float* y = a.y + (c0 + c) * a.y_pitch + ox;
#pragma GCC unroll 8
    for (int u = 0; u < kU; ++u) {
      const V v = T::Min(hi, T::Max(lo, acc[c][u]));
      if constexpr (kEdge) {
        const int64_t count = std::min<int64_t>(kL, a.ow - ox - u * kL);
        if (count > 0) T::MaskedStore(y + u * kL, T::Inside(0, 1, count, count), v);
      } else {
        T::Store(y + u * kL, v);
      }
    }
  }
}

// Every channel at kU vectors of columns from ox: 8 accumulators a block (4 channels x 2
// vectors, or 8 x 1: the adds' latency wants that many chains), then 4 and single channels.
template <typename T, Cols kCols, bool kEdge, int kU>
inline void AllChannels(const FloatConvRowArgs& a, int64_t ox, typename T::VI index) {
  int64_t c0 = 0;
  if constexpr (kU == 1) {
    for (; c0 + 8 <= a.channels; c0 += 8) Block<T, kCols, kEdge, 8, 1>(a, c0, ox, index);
  }
  for (; c0 + 4 <= a.channels; c0 += 4) Block<T, kCols, kEdge, 4, kU>(a, c0, ox, index);
  for (; c0 < a.channels; ++c0) Block<T, kCols, kEdge, 1, kU>(a, c0, ox, index);
}

// Every column, two vectors at a time: inside [inside0, inside1) plain, any vectors that reach
// into the padding or past ow under lane masks.
template <typename T, Cols kCols>
inline void Rows(const FloatConvRowArgs& a) {
  constexpr int kL = T::kLanes;
  // the columns whose every tap is inside the row: ox * sw - pl >= 0 and
  // ox * sw + (kw - 1) * dw - pl <= iw - 1
  const int64_t inside0 = std::min(a.ow, (a.pl + a.sw - 1) / a.sw);
  const int64_t last = a.iw - 1 - (a.kw - 1) * a.dw + a.pl;
  const int64_t inside1 = std::max(inside0, last < 0 ? int64_t{0} : std::min(a.ow, last / a.sw + 1));
  const typename T::VI index = T::Iota(a.sw);
  for (int64_t ox = 0; ox < a.ow;) {
    if (ox >= inside0 && ox + 2 * kL <= inside1) {
      AllChannels<T, kCols, false, 2>(a, ox, index);
      ox += 2 * kL;
    } else if (ox >= inside0 && ox + kL <= inside1) {
      AllChannels<T, kCols, false, 1>(a, ox, index);
      ox += kL;
    } else if (ox + kL < a.ow) {
      AllChannels<T, kCols, true, 2>(a, ox, index);
      ox += 2 * kL;
    } else {
      AllChannels<T, kCols, true, 1>(a, ox, index);
      ox += kL;
    }
  }
}

template <typename T>
inline void Row(const FloatConvRowArgs& a) {
  if (a.sw == 1) return Rows<T, Cols::kStride1>(a);
  if (a.sw == 2) return Rows<T, Cols::kStride2>(a);
  Rows<T, Cols::kGather>(a);
}

}  // namespace edge::engine::float_conv
