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

// The plane form (FloatConvPlaneArgs). Needs of T beyond the row form's: VI loads (LoadI), a
// lane-wise add of a scalar (AddI), InRange(v, limit) (the lanes with 0 <= v < limit) and And
// of two masks.
//
// The lanes of kU vectors of pixels from p0: per tap and vector the lanes whose input is inside
// the map, and (gathered) each lane's input offset at tap (0, 0). Shared by every group and
// output channel.
template <typename T, int kU>
struct PlanePixels {
  typename T::M inside[kFloatConvPlaneMaxTaps][kU];
  typename T::VI at[kU];
  int64_t p0;

  PlanePixels(const FloatConvPlaneArgs& a, int64_t first) : p0(first) {
#pragma GCC unroll 4
    for (int u = 0; u < kU; ++u) {
      const int64_t p = p0 + u * T::kLanes;
      const typename T::VI r = T::LoadI(a.row0 + p), c = T::LoadI(a.col0 + p);
      at[u] = T::LoadI(a.base + p);
      for (int64_t ky = 0; ky < a.kh; ++ky) {
        const typename T::M row_in = T::InRange(T::AddI(r, ky * a.dh), a.ih);
        for (int64_t kx = 0; kx < a.kw; ++kx) {
          inside[ky * a.kw + kx][u] = T::And(row_in, T::InRange(T::AddI(c, kx * a.dw), a.iw));
        }
      }
    }
  }
};

// kC output channels of group g from c0 at the pixels of px, accumulated in registers in the
// reference order: per tap and vector the lanes whose input is inside the map add their
// product, the others keep their sum (the plane loops skip those taps).
template <typename T, bool kContiguous, int kC, int kU>
inline void PlaneBlock(const FloatConvPlaneArgs& a, const PlanePixels<T, kU>& px, int64_t g, int64_t c0) {
  using V = typename T::V;
  constexpr int kL = T::kLanes;
  const int64_t taps = a.kh * a.kw, cin = a.cin, x_ic = a.x_ic, w_pitch = a.w_pitch, p0 = px.p0;
  const int64_t* const tap_offsets = a.tap_offsets;
  V acc[kC][kU];
#pragma GCC unroll 8
  for (int c = 0; c < kC; ++c) {
    const V b = T::Set1(a.bias != nullptr ? a.bias[g * a.channels + c0 + c] : 0.0f);
#pragma GCC unroll 4
    for (int u = 0; u < kU; ++u) acc[c][u] = b;
  }
  const float* w0 = a.w + (g * a.channels + c0) * w_pitch;
  const float* x0 = a.x + g * a.x_group;
  for (int64_t ic = 0; ic < cin; ++ic) {
    const float* x = x0 + ic * x_ic;
    const float* w = w0 + ic * taps;
    for (int64_t t = 0; t < taps; ++t) {
      const float* xt = x + tap_offsets[t];
      V xv[kU];
#pragma GCC unroll 4
      for (int u = 0; u < kU; ++u) {
        if constexpr (kContiguous) {
          xv[u] = T::MaskedLoad(xt + p0 + u * kL, px.inside[t][u]);
        } else {
          xv[u] = T::MaskedGather(xt, px.at[u], px.inside[t][u]);
        }
      }
#pragma GCC unroll 8
      for (int c = 0; c < kC; ++c) {
        const V wv = T::Set1(w[c * w_pitch + t]);
#pragma GCC unroll 4
        for (int u = 0; u < kU; ++u) acc[c][u] = T::MaskedAdd(acc[c][u], px.inside[t][u], T::Mul(wv, xv[u]));
      }
    }
  }
  const V lo = T::Set1(a.lo), hi = T::Set1(a.hi);
#pragma GCC unroll 8
  for (int c = 0; c < kC; ++c) {
    float* y = a.y + g * a.y_group + (c0 + c) * a.y_pitch + p0;
#pragma GCC unroll 4
    for (int u = 0; u < kU; ++u) {
      const int64_t count = std::min<int64_t>(kL, a.pixels - p0 - u * kL);
      if (count > 0) T::MaskedStore(y + u * kL, T::Inside(0, 1, count, count), T::Min(hi, T::Max(lo, acc[c][u])));
    }
  }
}

// Every group's channels at kU vectors of pixels from p0: kBlock channels at a time, then 4,
// then single ones.
template <typename T, bool kContiguous, int kBlock, int kU>
inline void PlaneVectors(const FloatConvPlaneArgs& a, int64_t p0) {
  const PlanePixels<T, kU> px(a, p0);
  for (int64_t g = 0; g < a.groups; ++g) {
    int64_t c0 = 0;
    for (; c0 + kBlock <= a.channels; c0 += kBlock) PlaneBlock<T, kContiguous, kBlock, kU>(a, px, g, c0);
    if constexpr (kBlock > 4) {
      for (; c0 + 4 <= a.channels; c0 += 4) PlaneBlock<T, kContiguous, 4, kU>(a, px, g, c0);
    }
    for (; c0 < a.channels; ++c0) PlaneBlock<T, kContiguous, 1, kU>(a, px, g, c0);
  }
}

// kU vectors of pixels at a time (four where a group has one output channel, a depthwise
// conv's: four chains of adds), then two, then one.
template <typename T, bool kContiguous, int kBlock, int kU>
inline void PlaneAll(const FloatConvPlaneArgs& a) {
  const int64_t vectors = (a.pixels + T::kLanes - 1) / T::kLanes;
  int64_t v = 0;
  if (a.channels == 1) {
    for (; v + 4 <= vectors; v += 4) PlaneVectors<T, kContiguous, kBlock, 4>(a, v * T::kLanes);
  }
  if constexpr (kU > 2) {
    for (; v + kU <= vectors; v += kU) PlaneVectors<T, kContiguous, kBlock, kU>(a, v * T::kLanes);
  }
  for (; v + 2 <= vectors; v += 2) PlaneVectors<T, kContiguous, kBlock, 2>(a, v * T::kLanes);
  for (; v < vectors; ++v) PlaneVectors<T, kContiguous, kBlock, 1>(a, v * T::kLanes);
}

// kBlock output channels x kU vectors of pixels per block: kBlock x kU sums, kU input
// vectors and a weight in registers.
template <typename T, int kBlock, int kU>
inline void Plane(const FloatConvPlaneArgs& a) {
  if (a.contiguous) return PlaneAll<T, true, kBlock, kU>(a);
  PlaneAll<T, false, kBlock, kU>(a);
}

template <typename T>
inline void Row(const FloatConvRowArgs& a) {
  if (a.sw == 1) return Rows<T, Cols::kStride1>(a);
  if (a.sw == 2) return Rows<T, Cols::kStride2>(a);
  Rows<T, Cols::kGather>(a);
}

}  // namespace edge::engine::float_conv
