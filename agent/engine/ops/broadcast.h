// Index walking for ONNX multidirectional broadcasting, without allocation.
#pragma once

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

}  // namespace edge::engine
