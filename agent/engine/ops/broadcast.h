// Index walking for ONNX multidirectional broadcasting, without allocation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "agent/engine/const_tensor.h"

namespace edge::engine {

struct BroadcastPlan {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t stride_a[kMaxRank] = {};  // 0 along broadcast dimensions
  int64_t stride_b[kMaxRank] = {};
  int64_t total = 0;
  bool same_shape = false;
};

inline BroadcastPlan MakeBroadcastPlan(const std::vector<int64_t>& out, const std::vector<int64_t>& a,
                                       const std::vector<int64_t>& b) {
  BroadcastPlan p;
  p.rank = static_cast<int>(out.size());
  p.total = 1;
  for (int64_t d : out) p.total *= d;
  p.same_shape = a == out && b == out;
  auto fill = [&](const std::vector<int64_t>& s, int64_t* stride) {
    int64_t st = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int sd = d - (p.rank - static_cast<int>(s.size()));
      const int64_t dim = sd >= 0 ? s[sd] : 1;
      stride[d] = dim == 1 ? 0 : st;
      st *= dim;
    }
  };
  for (int d = 0; d < p.rank; ++d) p.dims[d] = out[d];
  fill(a, p.stride_a);
  fill(b, p.stride_b);
  return p;
}

// Calls f(out_index, a_index, b_index) for every output element in order.
template <typename F>
inline void ForEachBroadcast(const BroadcastPlan& p, F&& f) {
  if (p.same_shape) {
    for (int64_t i = 0; i < p.total; ++i) f(i, i, i);
    return;
  }
  int64_t idx[kMaxRank] = {};
  int64_t ia = 0, ib = 0;
  for (int64_t i = 0; i < p.total; ++i) {
    f(i, ia, ib);
    for (int d = p.rank - 1; d >= 0; --d) {
      ia += p.stride_a[d];
      ib += p.stride_b[d];
      if (++idx[d] < p.dims[d]) break;
      ia -= p.stride_a[d] * p.dims[d];
      ib -= p.stride_b[d] * p.dims[d];
      idx[d] = 0;
    }
  }
}

// A broadcast split into equal runs along the innermost dimensions: within a run each operand is
// either contiguous (step 1) or one value (step 0), so a SIMD kernel can take the run whole;
// `outer` walks the runs (its out index counts runs, its a/b indices are the runs' first elements).
struct BroadcastRuns {
  BroadcastPlan outer;
  int64_t run = 0;
  int64_t a_step = 0, b_step = 0;
};

inline BroadcastRuns SplitBroadcastRuns(const BroadcastPlan& p) {
  BroadcastRuns r;
  r.run = 1;
  int d = p.rank - 1;
  // the innermost dimension that is not 1 fixes each operand's step
  while (d >= 0 && p.dims[d] == 1) --d;
  if (d >= 0) {
    r.a_step = p.stride_a[d] != 0 ? 1 : 0;
    r.b_step = p.stride_b[d] != 0 ? 1 : 0;
  }
  // merge outward while each operand stays contiguous (stride = the run so far) or broadcast
  for (; d >= 0; --d) {
    if (p.dims[d] == 1) continue;
    if (p.stride_a[d] != r.a_step * r.run || p.stride_b[d] != r.b_step * r.run) break;
    r.run *= p.dims[d];
  }
  r.outer.rank = d + 1;
  r.outer.total = 1;
  for (int i = 0; i <= d; ++i) {
    r.outer.dims[i] = p.dims[i];
    r.outer.stride_a[i] = p.stride_a[i];
    r.outer.stride_b[i] = p.stride_b[i];
    r.outer.total *= p.dims[i];
  }
  if (p.total == 0) r.outer.total = 0;
  return r;
}

// BroadcastRuns with their innermost outer dimension taken as rows of runs, for a kernel that
// walks rows itself: `outer` walks groups of `rows` runs (its out index counts groups, its a/b
// indices are each group's first elements); row r of a group starts r * a_row (b_row)
// elements after the group's first, its output r * run after the group's.
struct BroadcastRows {
  BroadcastPlan outer;
  int64_t run = 0, rows = 1;
  int64_t a_step = 0, b_step = 0, a_row = 0, b_row = 0;
};

inline BroadcastRows SplitBroadcastRows(const BroadcastRuns& r) {
  BroadcastRows b;
  b.outer = r.outer;
  b.run = r.run;
  b.a_step = r.a_step;
  b.b_step = r.b_step;
  if (r.outer.rank > 0 && r.outer.total > 0) {
    const int d = --b.outer.rank;
    b.rows = r.outer.dims[d];
    b.a_row = r.outer.stride_a[d];
    b.b_row = r.outer.stride_b[d];
    b.outer.total = r.outer.total / b.rows;
    b.outer.same_shape = false;
  }
  return b;
}

// A reduction's walk (MakeBroadcastPlan(input shape, kept shape, input shape): a indexes the
// output, b the input) in runs: y[out] = f(y[out], x[in]) for every input element in input
// order, so each output sees its inputs in the same order as the element walk (float sums
// give the same bits). A run whose output is one value accumulates in a local; a run along a
// kept axis is a loop over both, which the compiler vectorizes.
template <typename T, typename Acc, typename F>
inline void ReduceByRuns(const BroadcastRuns& r, const T* x, Acc* y, F f) {
  const int64_t run = r.run;
  ForEachBroadcast(r.outer, [&](int64_t, int64_t out, int64_t in) {
    const T* __restrict xs = x + in;
    if (r.a_step == 0) {
      Acc acc = y[out];
      if (r.b_step == 0) {
        for (int64_t e = 0; e < run; ++e) acc = f(acc, xs[0]);
      } else {
        for (int64_t e = 0; e < run; ++e) acc = f(acc, xs[e]);
      }
      y[out] = acc;
    } else {
      Acc* __restrict ys = y + out;
      for (int64_t e = 0; e < run; ++e) ys[e] = f(ys[e], xs[e]);
    }
  });
}

// A reduction's input shape with its reduced axes set to 1, and how many elements each output
// reduces.
inline std::vector<int64_t> KeptShape(const std::vector<int64_t>& axes, const std::vector<int64_t>& shape,
                                      int64_t* reduce_count) {
  std::vector<int64_t> kept = shape;
  *reduce_count = 1;
  for (int64_t a : axes) {
    *reduce_count *= shape[static_cast<size_t>(a)];
    kept[static_cast<size_t>(a)] = 1;
  }
  return kept;
}

// True where every reduced axis longer than 1 comes after every kept axis longer than 1: each
// output then reduces one contiguous plane of the input (a global pool written as a reduction,
// PointNet's max over points).
inline bool ReducesTrailingPlanes(const std::vector<int64_t>& axes, const std::vector<int64_t>& shape) {
  bool reduced_seen = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    const bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end();
    if (!reduced && reduced_seen) return false;
    reduced_seen = reduced_seen || reduced;
  }
  return true;
}

}  // namespace edge::engine
