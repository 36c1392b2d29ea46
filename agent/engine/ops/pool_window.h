// The window geometry of an average pool, shared by the float and the int8 steps.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "agent/engine/graph.h"

namespace edge::engine {

struct PoolWindow {
  int64_t planes = 0, ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  bool include_pad = false;
};

// Geometry of `n` over NC[H]W input and output shapes (1-D pools have H = 1). A global pool's
// window is the whole plane.
inline PoolWindow PoolWindowOf(const Node& n, const std::vector<int64_t>& in, const std::vector<int64_t>& out,
                               bool global) {
  PoolWindow w;
  w.planes = in[0] * in[1];
  w.ih = in.size() == 4 ? in[2] : 1;
  w.iw = in.back();
  w.oh = out.size() == 4 ? out[2] : 1;
  w.ow = out.back();
  if (global) {
    w.kh = w.ih;
    w.kw = w.iw;
  } else {
    w.kh = n.kernel[0]; w.kw = n.kernel[1];
    w.sh = n.stride[0]; w.sw = n.stride[1];
    w.pt = n.pad[0]; w.pl = n.pad[1]; w.pb = n.pad[2]; w.pr = n.pad[3];
    w.include_pad = n.count_include_pad;
  }
  return w;
}

// Outputs of an int8 pool's flat-plane pass, 0 where rows go one at a time. Output rows shorter
// than the tier row kernels' widest step (32) cost a kernel call each; instead a plane of row
// pitch `pitch` is read as one long row, whose output j is the window at flat input j * sw
// (output (oy, ox) at j = oy * sh * pitch / sw + ox), the rows between computed and dropped.
// Strides 1 and 2 (stride 2 wastes half) below 32 outputs; column strides 3 and 4 with row
// strides up to 4 (wasting 2 in 3 or 3 in 4, against the scalar kernel's tenfold time per
// output) only below 8, where the row kernels' narrowest step does not reach; sh * pitch
// dividing by sw.
inline int64_t FlatPoolOutputs(int64_t oh, int64_t ow, int64_t sh, int64_t sw, int64_t pitch) {
  constexpr int64_t kFlatPoolBelow = 32, kStridedFlatBelow = 8;
  const bool fits = sw <= 2 ? sh <= 2 && ow < kFlatPoolBelow : sw <= 4 && sh <= 4 && ow < kStridedFlatBelow;
  if (!fits || oh <= 1 || (sh * pitch) % sw != 0) return 0;
  return (oh - 1) * sh * pitch / sw + ow;
}

// Planes per flat pass (the int8 MaxPool's): where every window lies inside the input (no
// padded copy) and the plane's size divides by sw, consecutive planes are one long row too (a
// plane's flat outputs ih * iw / sw apart; the windows that straddle two planes are computed
// and dropped), one kernel call for up to kFlatPassBytes of input instead of one per plane.
// (The AveragePool's per-plane passes measured no slower on multiscale_concat's 28x28 planes.)
inline int64_t FlatPoolPlanes(int64_t flat_n, bool inside, int64_t plane, int64_t planes, int64_t sw) {
  constexpr int64_t kFlatPassBytes = 8192;
  if (flat_n == 0 || !inside || plane % sw != 0) return 1;
  return std::clamp<int64_t>(kFlatPassBytes / plane, 1, std::max<int64_t>(planes, 1));
}

// Outputs of a flat pass over `count` planes.
inline int64_t FlatPassOutputs(int64_t flat_n, int64_t count, int64_t plane, int64_t sw) {
  return (count - 1) * plane / sw + flat_n;
}

}  // namespace edge::engine
