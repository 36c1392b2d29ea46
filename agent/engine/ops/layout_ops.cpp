// Data movement shared by float32, int8 and the exact integer tensors: Transpose, Slice, Concat,
// Pad (float32 and int8), MaxPool. For int8 these are exact: they commute with dequantization.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <cstring>
#include <limits>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/copy_bytes.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/simd128.h"
#include "agent/engine/ops/element_types.h"
#include "agent/engine/ops/pool_window.h"

namespace edge::engine {
namespace {

// A transpose as whole moves: output dimensions of size 1 dropped; if the innermost one left is
// also contiguous in the input, runs of it are copied; otherwise the dimension that is
// contiguous in the input and the innermost output one form 2-D slices (bytes: the tier's
// transpose kernel; wider elements: TransposeSlice). The remaining dimensions (`outer`) are walked per run or slice.
struct TransposeMoves {
  enum class Kind { kElements, kRuns, kSlices } kind = Kind::kElements;
  int outer_rank = 0;
  int64_t outer_dims[kMaxRank] = {}, outer_in[kMaxRank] = {}, outer_out[kMaxRank] = {};
  int64_t run = 1;                       // kRuns: elements per run
  int64_t rows = 0, cols = 0;            // kSlices: the kernel's source rows and columns
  int64_t src_stride = 0, dst_stride = 0;

  // Runs of kBytes bytes under at most two outer dimensions (a multi-head attention's [T, H,
  // D] <-> [H, T, D] with D of 8-64 int8): one fixed-size move per run, where the general walk
  // and CopyBytes' length tests cost several times the move (ViT's 64 x 4 runs of 16 bytes ~0.9
  // -> ~0.2 us).
  template <int kBytes>
  void FixedRuns(const int8_t* x, int8_t* y) const {
    const int64_t d0 = outer_rank == 2 ? outer_dims[0] : 1, d1 = outer_rank >= 1 ? outer_dims[outer_rank - 1] : 1;
    const int64_t in0 = outer_rank == 2 ? outer_in[0] : 0, out0 = outer_rank == 2 ? outer_out[0] : 0;
    const int64_t in1 = outer_rank >= 1 ? outer_in[outer_rank - 1] : 0, out1 = outer_rank >= 1 ? outer_out[outer_rank - 1] : 0;
    for (int64_t i = 0; i < d0; ++i) {
      const int8_t* from = x + i * in0;
      int8_t* to = y + i * out0;
      for (int64_t j = 0; j < d1; ++j) __builtin_memcpy(to + j * out1, from + j * in1, kBytes);
    }
  }
  // FixedRuns where it applies (run bytes 4, 8, 16, 32 or 64, outer rank up to 2); false if not.
  bool TryFixedRuns(const int8_t* x, int8_t* y, int64_t run_bytes) const {
    if (outer_rank > 2) return false;
    switch (run_bytes) {
      case 4: FixedRuns<4>(x, y); return true;
      case 8: FixedRuns<8>(x, y); return true;
      case 16: FixedRuns<16>(x, y); return true;
      case 32: FixedRuns<32>(x, y); return true;
      case 64: FixedRuns<64>(x, y); return true;
      default: return false;
    }
  }

  // Calls f(input offset, output offset) for every run or slice.
  template <typename F>
  void ForEachOuter(F&& f) const {
    int64_t idx[kMaxRank] = {};
    int64_t in = 0, out = 0;
    for (;;) {
      f(in, out);
      int d = outer_rank - 1;
      for (; d >= 0; --d) {
        in += outer_in[d];
        out += outer_out[d];
        if (++idx[d] < outer_dims[d]) break;
        in -= outer_in[d] * outer_dims[d];
        out -= outer_out[d] * outer_dims[d];
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

inline TransposeMoves PlanTransposeMoves(int rank, const int64_t* out_dims, const int64_t* in_strides) {
  TransposeMoves m;
  int64_t dims[kMaxRank], in[kMaxRank], out[kMaxRank];
  int kept = 0;
  int64_t st = 1;
  int64_t out_strides[kMaxRank];
  for (int d = rank - 1; d >= 0; --d) {
    out_strides[d] = st;
    st *= out_dims[d];
  }
  for (int d = 0; d < rank; ++d) {
    if (out_dims[d] == 1) continue;
    // A dimension that continues the one before it in the input and in the output (a slice's
    // whole rows, axes a transpose keeps together) joins it: longer runs, fewer of them.
    if (kept > 0 && in[kept - 1] == in_strides[d] * out_dims[d] && out[kept - 1] == out_strides[d] * out_dims[d]) {
      dims[kept - 1] *= out_dims[d];
      in[kept - 1] = in_strides[d];
      out[kept - 1] = out_strides[d];
      continue;
    }
    dims[kept] = out_dims[d];
    in[kept] = in_strides[d];
    out[kept] = out_strides[d];
    ++kept;
  }
  if (kept == 0 || st == 0) return m;
  const int last = kept - 1;
  int skip_a = last, skip_b = -1;
  if (in[last] == 1) {
    m.kind = TransposeMoves::Kind::kRuns;
    m.run = dims[last];
  } else {
    for (int d = 0; d < last; ++d) {
      if (in[d] == 1) skip_b = d;
    }
    if (skip_b < 0) return m;
    m.kind = TransposeMoves::Kind::kSlices;
    m.rows = dims[last];
    m.src_stride = in[last];
    m.cols = dims[skip_b];
    m.dst_stride = out[skip_b];
  }
  for (int d = 0; d < kept; ++d) {
    if (d == skip_a || d == skip_b) continue;
    m.outer_dims[m.outer_rank] = dims[d];
    m.outer_in[m.outer_rank] = in[d];
    m.outer_out[m.outer_rank] = out[d];
    ++m.outer_rank;
  }
  return m;
}

// out[c * dst_stride + r] = in[r * src_stride + c] for wider elements (float, int32, int64: a
// float NHWC <-> NCHW), in 16 x 16 blocks so both sides stay in cache lines; the element walk
// of the general case costs a rank-deep index update per element (~0.75 ns per float of a
// [96, 96, 3] image's transpose, ~0.27 blocked: docs/benchmarks.md).
template <typename T>
void TransposeSlice(const T* src, int64_t src_stride, int64_t rows, int64_t cols, T* dst, int64_t dst_stride) {
  constexpr int64_t kBlock = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t r1 = std::min(rows, r0 + kBlock);
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const int64_t c1 = std::min(cols, c0 + kBlock);
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = r0; r < r1; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
      }
    }
  }
}

// Transpose and Slice: output element (i0, i1, ...) is input element base + sum(i_d * in_strides[d]).
template <typename T>
class GatherStep : public Step {
 public:
  Ref x;
  int64_t out = 0, total = 0;
  int64_t base = 0;  // the input element of the first output element
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t in_strides[kMaxRank] = {};  // input stride of each output dimension (negative: a slice walking back)
  TransposeMoves moves;
  void Run(const ExecEnv& env) const override {
    const T* X = x.Get<T>(env) + base;
    T* Y = reinterpret_cast<T*>(env.arena + out);
    if (moves.kind == TransposeMoves::Kind::kRuns) {
      const int64_t run_bytes = moves.run * static_cast<int64_t>(sizeof(T));
      // (offsets in elements; FixedRuns moves bytes)
      if (sizeof(T) == 1 && moves.TryFixedRuns(reinterpret_cast<const int8_t*>(X), reinterpret_cast<int8_t*>(Y), run_bytes)) {
        return;
      }
      moves.ForEachOuter([&](int64_t i, int64_t o) { CopyRun(Y + o, X + i, run_bytes); });
      return;
    }
    if (moves.kind == TransposeMoves::Kind::kSlices) {
      moves.ForEachOuter([&](int64_t i, int64_t o) {
        if constexpr (sizeof(T) == 1) {
          env.elementwise->transpose_bytes(reinterpret_cast<const uint8_t*>(X + i), moves.src_stride, moves.rows,
                                           moves.cols, reinterpret_cast<uint8_t*>(Y + o), moves.dst_stride);
        } else {
          TransposeSlice(X + i, moves.src_stride, moves.rows, moves.cols, Y + o, moves.dst_stride);
        }
      });
      return;
    }
    int64_t idx[kMaxRank] = {};
    int64_t src = 0;
    for (int64_t i = 0; i < total; ++i) {
      Y[i] = X[src];
      for (int d = rank - 1; d >= 0; --d) {
        src += in_strides[d];
        if (++idx[d] < out_dims[d]) break;
        src -= in_strides[d] * out_dims[d];
        idx[d] = 0;
      }
    }
  }
};

// Gather with run-time indices (kGatherRows): for each of `outer` blocks of `extent` rows of
// `row_bytes` and each of the `count` indices, the row the index picks, a negative one counting
// from the end. An index outside [-extent, extent) must not read outside the data, and a step
// cannot fail: its row is `fill` bytes (0: zeros of any type; an int8 tensor's zero point).
template <typename I>
class GatherRowsStep : public Step {
 public:
  Ref data, indices;
  int64_t out = 0, outer = 1, extent = 1, count = 0, row_bytes = 0;
  int fill = 0;
  void Run(const ExecEnv& env) const override {
    const std::byte* X = data.Get<std::byte>(env);
    const I* index = indices.Get<I>(env);
    std::byte* Y = env.arena + out;
    const auto row = static_cast<size_t>(row_bytes);
    for (int64_t o = 0; o < outer; ++o) {
      const std::byte* block = X + o * extent * row_bytes;
      for (int64_t j = 0; j < count; ++j, Y += row_bytes) {
        const int64_t i = static_cast<int64_t>(index[j]);
        const int64_t at = i < 0 ? i + extent : i;
        if (at < 0 || at >= extent) {
          std::memset(Y, fill, row);
        } else {
          std::memcpy(Y, block + at * row_bytes, row);
        }
      }
    }
  }
};

// A Resize's output as rows along its innermost axis: f(y, idx) for each row, starting at output
// element y, with idx holding the outer axes' indices. Nothing for an empty output.
template <typename T, typename F>
void ForEachResizeRow(int rank, const int64_t* out_dims, T* Y, F&& f) {
  const int last = rank - 1;
  const int64_t width = out_dims[last];
  int64_t rows = 1;
  for (int d = 0; d < last; ++d) rows *= out_dims[d];
  if (width == 0 || rows == 0) return;
  int64_t idx[kMaxRank] = {};
  for (int64_t r = 0; r < rows; ++r) {
    f(Y + r * width, static_cast<const int64_t*>(idx));
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < out_dims[d]) break;
      idx[d] = 0;
    }
  }
}

// y[i] = the largest of rows[r][i] over the `count` rows (at least one), for i < n.
inline void MaxOfRowsS8(const int8_t* const* rows, int count, int64_t n, int8_t* y) {
  auto sixteen = [&](int64_t i) {
    simd128::U8x16 m = simd128::Load16(rows[0] + i);
    for (int r = 1; r < count; ++r) m = simd128::MaxS8(m, simd128::Load16(rows[r] + i));
    simd128::Store16(y + i, m);
  };
  if (n >= 16) {
    for (int64_t i = 0; i + 16 <= n; i += 16) sixteen(i);
    if (n % 16 != 0) sixteen(n - 16);  // the last 16, overlapping: the same maxima
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    int8_t m = rows[0][i];
    for (int r = 1; r < count; ++r) m = std::max(m, rows[r][i]);
    y[i] = m;
  }
}

// y[2i] = a[i], y[2i + 1] = b[i] for the `width` elements of y: for bytes 16 of each unpacked
// per step where a row has 32 or more (its last step overlapping the one before, from an even
// output), else a 16-bit store per pair; an odd width's last element on its own.
template <typename T>
void InterleaveTwo(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t width) {
  const int64_t pairs = width / 2;
  if constexpr (sizeof(T) == 1) {
    auto step = [&](int64_t at) {
      const simd128::U8x16 va = simd128::Load16(a + at / 2), vb = simd128::Load16(b + at / 2);
      simd128::Store16(y + at, simd128::InterleaveLo8(va, vb));
      simd128::Store16(y + at + 16, simd128::InterleaveHi8(va, vb));
    };
    if (width >= 32) {
      for (int64_t i = 0; i + 32 <= width; i += 32) step(i);
      if (width % 32 > 1) step(2 * pairs - 32);
    } else {
      for (int64_t i = 0; i < pairs; ++i) {
        const auto pair = static_cast<uint16_t>(static_cast<uint8_t>(a[i]) | (static_cast<uint8_t>(b[i]) << 8));
        std::memcpy(y + 2 * i, &pair, 2);
      }
    }
  } else {
    for (int64_t i = 0; i < pairs; ++i) {
      y[2 * i] = a[i];
      y[2 * i + 1] = b[i];
    }
  }
  if (width % 2 != 0) y[width - 1] = a[pairs];
}

// y = each of x's n elements k times in order. (Twice is InterleaveTwo(x, x, y, 2n), but
// reading x once per pair is about 15 % faster on yolo_up's 13-byte rows.)
template <typename T>
void RepeatEach(const T* __restrict x, T* __restrict y, int64_t n, int64_t k) {
  if constexpr (sizeof(T) == 1) {
    if (k == 2 && n >= 16) {
      InterleaveTwo(x, x, y, 2 * n);
      return;
    }
    if (k == 2) {  // each byte twice: one 16-bit store per input byte
      for (int64_t i = 0; i < n; ++i) {
        const auto b = static_cast<uint16_t>(static_cast<uint8_t>(x[i]));
        const uint16_t pair = static_cast<uint16_t>(b | (b << 8));
        std::memcpy(y + 2 * i, &pair, 2);
      }
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) std::fill(y + i * k, y + (i + 1) * k, x[i]);
}

// Nearest Resize: output element (i0, ..., ir) is input element sum over d of index[d][i_d]
// (input offsets: the index times the axis' stride), or `value` where an index is -1 (outside
// tf_crop_and_resize's box). Output rows that read the same input row as the row before
// (upsampling along an outer axis) are copies of it.
template <typename T>
class ResizeNearestStep : public Step {
 public:
  Ref x;
  int64_t out = 0;
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  std::vector<int64_t> index[kMaxRank];
  // The innermost axis read as every input element `repeat` times in order (a whole-factor
  // upsample, 1: a copy), or 0: through its table.
  int64_t repeat = 0;
  // Else, when `interleave`, it alternates two runs of the row: the even elements from offset
  // pair[0] on, the odd ones from pair[1] (a ConvTranspose's two column phases).
  bool interleave = false;
  int64_t pair[2] = {0, 0};
  T value{};
  void Run(const ExecEnv& env) const override {
    const T* X = x.Get<T>(env);
    const int last = rank - 1;
    const int64_t width = out_dims[last];
    const int64_t* inner = index[last].data();
    int64_t prev = -2;  // the input row of the row before (-1: outside the box)
    ForEachResizeRow(rank, out_dims, reinterpret_cast<T*>(env.arena + out), [&](T* y, const int64_t* idx) {
      int64_t row = 0;
      for (int d = 0; d < last && row >= 0; ++d) {
        const int64_t o = index[d][static_cast<size_t>(idx[d])];
        row = o < 0 ? -1 : row + o;
      }
      if (row == prev) {
        CopyRun(y, y - width, width * static_cast<int64_t>(sizeof(T)));
      } else if (row < 0) {
        std::fill(y, y + width, value);
      } else if (repeat == 1) {
        CopyRun(y, X + row, width * static_cast<int64_t>(sizeof(T)));
      } else if (repeat > 1) {
        RepeatEach(X + row, y, width / repeat, repeat);
      } else if (interleave) {
        InterleaveTwo(X + row + pair[0], X + row + pair[1], y, width);
      } else {
        const T* xr = X + row;
        for (int64_t j = 0; j < width; ++j) y[j] = inner[j] < 0 ? value : xr[inner[j]];
      }
      prev = row;
    });
  }
};

// Linear Resize of float32: along each axis output index i reads w_lo[i] * x[lo[i]] +
// w_hi[i] * x[hi[i]] (offsets: indices times the axis' stride); the product over the axes, or
// `value` where an index is outside tf_crop_and_resize's box (lo -1). Per output row the outer
// axes' corners (those of weight 0 left out) are listed once, then the innermost axis is walked.
class ResizeLinearStep : public Step {
 public:
  static constexpr int kMaxCorners = 1 << (kMaxRank - 1);
  Ref x;
  int64_t out = 0;
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  Node::ResizeAxis axis[kMaxRank];
  bool inner_outside = false;  // an index of the innermost axis is outside the box
  int64_t scratch = 0;         // two output rows of floats
  float value = 0.0f;
  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    const int last = rank - 1;
    const int64_t width = out_dims[last];
    const Node::ResizeAxis& in = axis[last];
    int64_t offset[kMaxCorners];
    float weight[kMaxCorners];
    float* lines = reinterpret_cast<float*>(env.arena + scratch);
    int64_t cached[2] = {-1, -1};  // the input row each scratch row holds
    ForEachResizeRow(rank, out_dims, reinterpret_cast<float*>(env.arena + out), [&](float* y, const int64_t* idx) {
      int corners = 1;
      offset[0] = 0;
      weight[0] = 1.0f;
      bool outside = false;
      for (int d = 0; d < last && !outside; ++d) {
        const Node::ResizeAxis& a = axis[d];
        const size_t i = static_cast<size_t>(idx[d]);
        outside = a.lo[i] < 0;
        const int before = corners;
        if (a.w_hi[i] != 0.0f) {
          for (int c = 0; c < before; ++c) {
            offset[corners + c] = offset[c] + a.hi[i];
            weight[corners + c] = weight[c] * a.w_hi[i];
          }
          corners += before;
        }
        for (int c = 0; c < before; ++c) {
          offset[c] += a.lo[i];
          weight[c] *= a.w_lo[i];
        }
      }
      const int64_t* lo = in.lo.data();
      const int64_t* hi = in.hi.data();
      const float* w_lo = in.w_lo.data();
      const float* w_hi = in.w_hi.data();
      if (outside) {
        std::fill(y, y + width, value);
      } else if (corners <= 2 && !inner_outside) {
        // The input rows interpolated along the innermost axis, kept in two scratch rows
        // while the output rows below still read them (each once when upsampling).
        int slot[2] = {-1, -1};
        for (int c = 0; c < corners; ++c) {
          for (int k = 0; k < 2; ++k) slot[c] = cached[k] == offset[c] ? k : slot[c];
        }
        for (int c = 0; c < corners; ++c) {
          if (slot[c] >= 0) continue;
          slot[c] = c == 1 ? 1 - slot[0] : (slot[1] == 0 ? 1 : 0);
          const float* a = X + offset[c];
          float* h = lines + slot[c] * width;
          for (int64_t j = 0; j < width; ++j) h[j] = w_lo[j] * a[lo[j]] + w_hi[j] * a[hi[j]];
          cached[slot[c]] = offset[c];
        }
        const float* __restrict ha = lines + slot[0] * width;
        const float wa = weight[0];
        if (corners == 1) {
          for (int64_t j = 0; j < width; ++j) y[j] = wa * ha[j];
        } else {
          const float* __restrict hb = lines + slot[1] * width;
          const float wb = weight[1];
          for (int64_t j = 0; j < width; ++j) y[j] = wa * ha[j] + wb * hb[j];
        }
      } else {
        for (int64_t j = 0; j < width; ++j) {
          const size_t u = static_cast<size_t>(j);
          if (in.lo[u] < 0) {
            y[j] = value;
            continue;
          }
          float sum = 0.0f;
          for (int c = 0; c < corners; ++c) {
            const float* xc = X + offset[c];
            sum += weight[c] * (in.w_lo[u] * xc[in.lo[u]] + in.w_hi[u] * xc[in.hi[u]]);
          }
          y[j] = sum;
        }
      }
    });
  }
};

class ConcatStep : public Step {
 public:
  static constexpr int kMaxInputs = 64;
  Ref in[kMaxInputs];
  int64_t chunk[kMaxInputs] = {};  // bytes per outer index, per input
  bool in_place[kMaxInputs] = {};  // written at its part of the output by its producer
  int inputs = 0;
  int64_t outer = 0, out = 0;
  void Run(const ExecEnv& env) const override {
    std::byte* Y = env.arena + out;
    for (int64_t o = 0; o < outer; ++o) {
      for (int i = 0; i < inputs; ++i) {
        if (!in_place[i]) CopyRun(Y, in[i].Get<std::byte>(env) + o * chunk[i], chunk[i]);
        Y += chunk[i];
      }
    }
  }
};

template <typename T>
class PadStep : public Step {
 public:
  Ref x;
  int64_t out = 0, total_in = 0, total_out = 0;
  int rank = 0;
  int64_t in_dims[kMaxRank] = {};
  int64_t in_strides[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  int64_t out_strides[kMaxRank] = {};
  int64_t begin[kMaxRank] = {};
  T value{};
  Ref value_ref;  // a computed constant_value (float only), read on every run
  bool value_computed = false;
  PadMode mode = PadMode::kConstant;

  // Edge and reflect: each output element reads the input element its coordinates map to.
  void RunMirrored(const T* X, T* Y) const {
    int64_t idx[kMaxRank] = {};
    for (int64_t i = 0; i < total_out; ++i) {
      int64_t src = 0;
      for (int d = 0; d < rank; ++d) {
        int64_t c = idx[d] - begin[d];
        if (c < 0) c = mode == PadMode::kReflect ? -c : 0;
        if (c >= in_dims[d]) c = mode == PadMode::kReflect ? 2 * (in_dims[d] - 1) - c : in_dims[d] - 1;
        src += c * in_strides[d];
      }
      Y[i] = X[src];
      for (int d = rank - 1; d >= 0; --d) {
        if (++idx[d] < out_dims[d]) break;
        idx[d] = 0;
      }
    }
  }

  void Run(const ExecEnv& env) const override {
    const T* X = x.Get<T>(env);
    T* Y = reinterpret_cast<T*>(env.arena + out);
    if (mode != PadMode::kConstant) {
      RunMirrored(X, Y);
      return;
    }
    const T fill = value_computed ? value_ref.Get<T>(env)[0] : value;
    std::fill(Y, Y + total_out, fill);
    if (total_in == 0) return;
    // the input's innermost rows, each copied whole to its place (an element at a time, with
    // the index arithmetic per element, took ~2-5 ns per element: a U-Net's skip-size Pads)
    const int inner = rank - 1;
    const int64_t row = rank > 0 ? in_dims[inner] : 1, rows = total_in / row;
    const int64_t shift = rank > 0 ? begin[inner] : 0;
    int64_t idx[kMaxRank] = {};
    for (int64_t r = 0; r < rows; ++r) {
      int64_t dst = shift;
      for (int d = 0; d < inner; ++d) dst += (idx[d] + begin[d]) * out_strides[d];
      CopyRun(Y + dst, X + r * row, row * static_cast<int64_t>(sizeof(T)));
      for (int d = inner - 1; d >= 0; --d) {
        if (++idx[d] < in_dims[d]) break;
        idx[d] = 0;
      }
    }
  }
};

template <typename T>
class MaxPoolStep : public Step {
 public:
  Ref x;
  int64_t out = 0, planes = 0, ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  bool inside = false;  // no padding and every window inside the input: no bounds checks
  bool whole = false;   // one window per plane, the whole plane (GlobalMaxPool): the tier's plane maxima
  // int8 with padding: each plane is copied into scratch (padded_h x padded_w) with -128 around
  // it, then pooled as if inside. Exact: every window holds an input element (ONNX pads are
  // smaller than the window), and no int8 value is below -128.
  int64_t scratch = -1, padded_h = 0, padded_w = 0;

  // The usual pooling windows (2 wide, stride 2, 1-D or 2x2) as flat loops the compiler
  // vectorizes; std::max(a0, a1) is the window order's a0, then a1 if greater.
  bool RunPairs(const T* X, T* Y) const {
    if (kw != 2 || sw != 2 || dw != 1 || !(kh == 1 || (kh == 2 && sh == 2 && dh == 1))) return false;
    const int64_t rows = planes * oh;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t p = r / oh, oy = r % oh;
      const T* __restrict a = X + (p * ih + oy * sh) * iw;
      T* __restrict d = Y + r * ow;
      if (kh == 1) {
        for (int64_t ox = 0; ox < ow; ++ox) d[ox] = std::max(a[2 * ox], a[2 * ox + 1]);
      } else {
        const T* __restrict b = a + iw;
        // in the window's order (RunTaps): its first element, then each greater one
        const auto over = [](T best, T v) { return v > best ? v : best; };
        for (int64_t ox = 0; ox < ow; ++ox) {
          d[ox] = over(over(over(a[2 * ox], a[2 * ox + 1]), b[2 * ox]), b[2 * ox + 1]);
        }
      }
    }
    return true;
  }

  // int8: the tier's row kernel, one call per output row with the window's input rows; or, for
  // short rows, one call over the whole plane read as one long row (`flat`, FlatPoolOutputs in
  // ops/pool_window.h) and the kept rows copied out; small planes `flat_planes` at a time
  // (FlatPoolPlanes). Reads stay inside the plane (the last window's last byte).
  int64_t flat = -1, flat_n = 0;  // scratch offset of the long row's outputs, their count
  int64_t flat_planes = 1;

  void PoolPlanes(const ExecEnv& env, const int8_t* plane, int64_t pitch, int64_t count, int8_t* y) const {
    constexpr int64_t kMaxWindowRows = 64;
    const int8_t* rows[kMaxWindowRows];
    if (flat >= 0) {
      int8_t* f = reinterpret_cast<int8_t*>(env.arena + flat);
      const int64_t plane_out = ih * iw / sw;  // count > 1 only when inside: pitch == iw
      for (int64_t ky = 0; ky < kh; ++ky) rows[ky] = plane + ky * dh * pitch;
      env.elementwise->maxpool_row(
          MaxPoolRowArgs{rows, static_cast<int>(kh), FlatPassOutputs(flat_n, count, ih * iw, sw), sw, kw, dw, f});
      for (int64_t p = 0; p < count; ++p) CopyRowsS8(f + p * plane_out, sh * pitch / sw, y + p * oh * ow, ow, ow, oh);
      return;
    }
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int8_t* top = plane + oy * sh * pitch;
      for (int64_t ky = 0; ky < kh; ++ky) rows[ky] = top + ky * dh * pitch;
      env.elementwise->maxpool_row(MaxPoolRowArgs{rows, static_cast<int>(kh), ow, sw, kw, dw, y + oy * ow});
    }
  }

  bool RunRows(const ExecEnv& env, const T* X, T* Y) const {
    constexpr int64_t kMaxWindowRows = 64;
    if constexpr (!std::is_same_v<T, int8_t>) {
      return false;
    } else {
      if (kh > kMaxWindowRows) return false;
      for (int64_t p = 0; p < planes; p += flat_planes) {
        PoolPlanes(env, X + p * ih * iw, iw, std::min(flat_planes, planes - p), Y + p * oh * ow);
      }
      return true;
    }
  }

  // int8 windows over padding, through scratch (see `scratch`). Rows of a pass each: the
  // maxima of an output row's window rows inside the input go into a row of padded_w with -128
  // in the left and right padding, and the tier's row kernel takes the windows along it (one
  // row); the rows in the top and bottom padding are left out, as -128 never wins. Short rows
  // (the flat pass) pool the padded plane instead.
  bool RunPadded(const ExecEnv& env, const T* X, T* Y) const {
    if constexpr (!std::is_same_v<T, int8_t>) {
      return false;
    } else {
      constexpr int64_t kMaxWindowRows = 64;
      if (scratch < 0 || kh > kMaxWindowRows) return false;
      int8_t* plane = reinterpret_cast<int8_t*>(env.arena + scratch);
      if (flat < 0) {
        std::memset(plane, -128, static_cast<size_t>(padded_w));
        const int8_t* rows[kMaxWindowRows];
        const int8_t* maxima = plane;
        for (int64_t p = 0; p < planes; ++p) {
          const int8_t* src = X + p * ih * iw;
          for (int64_t oy = 0; oy < oh; ++oy) {
            int count = 0;
            for (int64_t ky = 0; ky < kh; ++ky) {
              const int64_t iy = oy * sh - pt + ky * dh;
              if (iy >= 0 && iy < ih) rows[count++] = src + iy * iw;
            }
            if (count == 0) {  // (no window row inside the input: all padding, as the padded plane gives)
              std::memset(plane + pl, -128, static_cast<size_t>(iw));
            } else {
              MaxOfRowsS8(rows, count, iw, plane + pl);
            }
            env.elementwise->maxpool_row(MaxPoolRowArgs{&maxima, 1, ow, sw, kw, dw, Y + (p * oh + oy) * ow});
          }
        }
        return true;
      }
      for (int64_t p = 0; p < planes; ++p) {
        PadPlanesS8(X + p * ih * iw, 1, ih, iw, pt, pl, padded_h, padded_w, -128, plane);
        PoolPlanes(env, plane, padded_w, 1, Y + p * oh * ow);
      }
      return true;
    }
  }

  // Float and integer windows of any shape, padding and dilation: per output row, each window
  // tap in the window's order taken by the outputs whose input it lies inside (a loop over the
  // row instead of a loop over each output's window with its bounds checked per tap). Each
  // output sees the same elements in the same order as one window at a time: its first, then
  // each greater one (a NaN first stays; a later one is passed over); a window wholly in the
  // padding gives the type's lowest (ONNX Runtime's -FLT_MAX for float).
  void RunTaps(const T* X, T* Y) const {
    constexpr int64_t kChunk = 512;
    int32_t any[kChunk];  // (as wide as a float: the tap loop vectorizes with blends)
    for (int64_t p = 0; p < planes; ++p) {
      const T* src = X + p * ih * iw;
      for (int64_t oy = 0; oy < oh; ++oy) {
        T* d = Y + (p * oh + oy) * ow;
        for (int64_t c0 = 0; c0 < ow; c0 += kChunk) {
          const int64_t c1 = std::min(ow, c0 + kChunk);
          std::fill(any, any + (c1 - c0), 0);
          std::fill(d + c0, d + c1, T{});
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * sh - pt + ky * dh;
            if (iy < 0 || iy >= ih) continue;
            for (int64_t kx = 0; kx < kw; ++kx) {
              // the outputs ox in [c0, c1) with ox * sw + off in [0, iw)
              const int64_t off = kx * dw - pl;
              const int64_t lo = std::max(c0, off >= 0 ? int64_t{0} : (-off + sw - 1) / sw);
              const int64_t hi = std::min(c1, iw - off <= 0 ? int64_t{0} : (iw - off - 1) / sw + 1);
              const T* __restrict srow = src + iy * iw + off;
              T* __restrict dr = d;
              int32_t* __restrict seen = any - c0;
              const auto take = [&](int64_t ox, T v) {
                const T b = dr[ox];
                dr[ox] = ((seen[ox] == 0) | (v > b)) ? v : b;
                seen[ox] = 1;
              };
              if (sw == 1) {  // (contiguous: the loop vectorizes)
                for (int64_t ox = lo; ox < hi; ++ox) take(ox, srow[ox]);
              } else {
                for (int64_t ox = lo; ox < hi; ++ox) take(ox, srow[ox * sw]);
              }
            }
          }
          for (int64_t ox = c0; ox < c1; ++ox) {
            if (any[ox - c0] == 0) d[ox] = std::numeric_limits<T>::lowest();
          }
        }
      }
    }
  }

  // int8: whole planes, the tier's plane rows, then the row kernels (windows inside the input)
  // or the padded rows; any type: the 2-wide pairs, then the taps, which take every window.
  void Run(const ExecEnv& env) const override {
    const T* X = x.Get<T>(env);
    T* Y = reinterpret_cast<T*>(env.arena + out);
    if constexpr (std::is_same_v<T, int8_t>) {
      if (whole) {
        env.elementwise->plane_max(X, ih * iw, planes, Y);
        return;
      }
      // whole rows of planes in one call where the tier has it (stride-2 windows of 2-3 columns)
      if (env.elementwise->maxpool_planes != nullptr && sw == 2 && dw == 1 && dh == 1 &&
          env.elementwise->maxpool_planes(MaxPoolPlanesArgs{X, planes, ih, iw, oh, ow, kh, kw, sh, pt, pl, Y})) {
        return;
      }
      if (inside ? RunRows(env, X, Y) : RunPadded(env, X, Y)) return;
    }
    if (inside && RunPairs(X, Y)) return;
    RunTaps(X, Y);
  }
};

// A Transpose (n.perm) or a Slice (n.starts, n.steps) of n.in[0].
template <typename T>
std::unique_ptr<Step> MakeGather(const Node& n, BuildContext& ctx) {
  auto s = std::make_unique<GatherStep<T>>();
  const Value& x = ctx.V(n.in[0]);
  s->x = ctx.RefOf(n.in[0]);
  s->rank = static_cast<int>(x.shape.size());
  s->total = ctx.V(n.out[0]).elements;
  int64_t strides[kMaxRank] = {};
  int64_t st = 1;
  for (int d = s->rank - 1; d >= 0; --d) {
    strides[d] = st;
    st *= x.shape[d];
  }
  for (int d = 0; d < s->rank; ++d) {
    if (n.kind == OpKind::kSlice) {
      s->out_dims[d] = ctx.V(n.out[0]).shape[d];
      s->in_strides[d] = strides[d] * n.steps[d];
      s->base += n.starts[d] * strides[d];
    } else {
      s->out_dims[d] = x.shape[n.perm[d]];
      s->in_strides[d] = strides[n.perm[d]];
    }
  }
  s->moves = PlanTransposeMoves(s->rank, s->out_dims, s->in_strides);
  s->out = ctx.Out(n);
  return s;
}

// The element offset each output index of each axis reads: Node::resize's indices times the
// input's strides (-1 kept).
void ResizeOffsets(const Node& n, const Value& x, std::vector<int64_t>* offsets, bool hi) {
  if (n.resize_offsets) {
    for (size_t d = 0; d < x.shape.size(); ++d) offsets[d] = n.resize[d].lo;
    return;
  }
  int64_t stride = 1;
  for (size_t d = x.shape.size(); d-- > 0;) {
    const auto& from = hi ? n.resize[d].hi : n.resize[d].lo;
    offsets[d].resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) offsets[d][i] = from[i] < 0 ? -1 : from[i] * stride;
    stride *= x.shape[d];
  }
}

template <typename T>
std::unique_ptr<Step> MakeResizeNearest(const Node& n, BuildContext& ctx, T value) {
  auto s = std::make_unique<ResizeNearestStep<T>>();
  const Value& x = ctx.V(n.in[0]);
  s->x = ctx.RefOf(n.in[0]);
  s->rank = static_cast<int>(x.shape.size());
  for (int d = 0; d < s->rank; ++d) s->out_dims[d] = ctx.V(n.out[0]).shape[static_cast<size_t>(d)];
  ResizeOffsets(n, x, s->index, false);
  const std::vector<int64_t>& inner = s->index[s->rank - 1];
  const int64_t width = s->out_dims[s->rank - 1], in_width = x.shape.back();
  if (width > 0 && width % in_width == 0) {
    s->repeat = width / in_width;
    for (int64_t j = 0; j < width && s->repeat > 0; ++j) {
      if (inner[static_cast<size_t>(j)] != j / s->repeat) s->repeat = 0;
    }
  }
  if (s->repeat == 0 && width >= 2 && inner[0] >= 0 && inner[1] >= 0) {
    s->pair[0] = inner[0];
    s->pair[1] = inner[1];
    s->interleave = true;
    for (int64_t j = 0; j < width && s->interleave; ++j) {
      s->interleave = inner[static_cast<size_t>(j)] == s->pair[j % 2] + j / 2;
    }
  }
  s->value = value;
  s->out = ctx.Out(n);
  return s;
}

std::unique_ptr<Step> MakeResizeLinear(const Node& n, BuildContext& ctx) {
  auto s = std::make_unique<ResizeLinearStep>();
  const Value& x = ctx.V(n.in[0]);
  s->x = ctx.RefOf(n.in[0]);
  s->rank = static_cast<int>(x.shape.size());
  std::vector<int64_t> lo[kMaxRank], hi[kMaxRank];
  ResizeOffsets(n, x, lo, false);
  ResizeOffsets(n, x, hi, true);
  for (int d = 0; d < s->rank; ++d) {
    const size_t u = static_cast<size_t>(d);
    s->out_dims[d] = ctx.V(n.out[0]).shape[u];
    s->axis[d] = {std::move(lo[d]), std::move(hi[d]), n.resize[u].w_lo, n.resize[u].w_hi};
  }
  const auto& inner_lo = s->axis[s->rank - 1].lo;
  s->inner_outside = std::any_of(inner_lo.begin(), inner_lo.end(), [](int64_t o) { return o < 0; });
  s->scratch = ctx.scratch_offset;
  s->value = n.pad_value;
  s->out = ctx.Out(n);
  return s;
}

template <typename T>
std::unique_ptr<Step> MakePad(const Node& n, BuildContext& ctx, T value) {
  auto s = std::make_unique<PadStep<T>>();
  const Value& x = ctx.V(n.in[0]);
  const Value& y = ctx.V(n.out[0]);
  s->x = ctx.RefOf(n.in[0]);
  s->rank = static_cast<int>(x.shape.size());
  s->total_in = x.elements;
  s->total_out = y.elements;
  int64_t st = 1, in_st = 1;
  for (int d = s->rank - 1; d >= 0; --d) {
    s->out_strides[d] = st;
    st *= y.shape[d];
    s->in_strides[d] = in_st;
    in_st *= x.shape[d];
    s->in_dims[d] = x.shape[d];
    s->out_dims[d] = y.shape[d];
    s->begin[d] = n.pads[d];
  }
  s->value = value;
  if (n.in.size() > 1) {
    s->value_computed = true;
    s->value_ref = ctx.RefOf(n.in[1]);
  }
  s->mode = n.pad_mode;
  s->out = ctx.Out(n);
  return s;
}

// The padded plane an int8 MaxPool's windows need: the padding before, the input, and after it
// as far as the last window reaches.
std::pair<int64_t, int64_t> PaddedPlane(const Node& n, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  const int64_t ih = in.size() == 4 ? in[2] : 1, iw = in.back();
  const int64_t oh = out.size() == 4 ? out[2] : 1, ow = out.back();
  const int64_t h = std::max(n.pad[0] + ih, (oh - 1) * n.stride[0] + (n.kernel[0] - 1) * n.dilation[0] + 1);
  const int64_t w = std::max(n.pad[1] + iw, (ow - 1) * n.stride[1] + (n.kernel[1] - 1) * n.dilation[1] + 1);
  return {h, w};
}

struct MaxPoolScratch {
  int64_t padded_bytes = 0;  // the padded plane, when windows reach over padding
  int64_t flat_n = 0;        // outputs of the flat-plane pass, 0 when rows go one at a time
  int64_t flat_planes = 1;   // planes per flat pass (FlatPoolPlanes)
  int64_t flat_bytes = 0;    // its long row
};

// An int8 MaxPool's scratch: the padded plane (windows over padding) and the long row of the
// flat-plane pass (short output rows whose stride divides the plane's pitch).
MaxPoolScratch MaxPoolScratchOf(const Node& n, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  MaxPoolScratch sc;
  if (in.size() < 3) return sc;
  const int64_t ih = in.size() == 4 ? in[2] : 1, iw = in.back();
  const int64_t oh = out.size() == 4 ? out[2] : 1, ow = out.back();
  const bool inside = n.pad[0] == 0 && n.pad[1] == 0 && (oh - 1) * n.stride[0] + (n.kernel[0] - 1) * n.dilation[0] < ih &&
                      (ow - 1) * n.stride[1] + (n.kernel[1] - 1) * n.dilation[1] < iw;
  int64_t pitch = iw;
  if (!inside) {
    const auto [h, w] = PaddedPlane(n, in, out);
    sc.padded_bytes = (h * w + 63) / 64 * 64;
    pitch = w;
  }
  sc.flat_n = FlatPoolOutputs(oh, ow, n.stride[0], n.stride[1], pitch);
  sc.flat_planes = FlatPoolPlanes(sc.flat_n, inside, ih * iw, in[0] * in[1], n.stride[1]);
  sc.flat_bytes = sc.flat_n > 0 ? FlatPassOutputs(sc.flat_n, sc.flat_planes, ih * iw, n.stride[1]) : 0;
  return sc;
}

template <typename T>
std::unique_ptr<Step> MakeMaxPool(const Node& n, BuildContext& ctx) {
  auto s = std::make_unique<MaxPoolStep<T>>();
  const Value& x = ctx.V(n.in[0]);
  const auto& o = ctx.V(n.out[0]).shape;
  s->x = ctx.RefOf(n.in[0]);
  s->planes = x.shape[0] * x.shape[1];
  s->ih = x.shape.size() == 4 ? x.shape[2] : 1;
  s->iw = x.shape.back();
  s->oh = o.size() == 4 ? o[2] : 1;
  s->ow = o.back();
  s->kh = n.kernel[0]; s->kw = n.kernel[1];
  s->sh = n.stride[0]; s->sw = n.stride[1];
  s->dh = n.dilation[0]; s->dw = n.dilation[1];
  s->pt = n.pad[0]; s->pl = n.pad[1];
  s->inside = s->pt == 0 && s->pl == 0 && (s->oh - 1) * s->sh + (s->kh - 1) * s->dh < s->ih &&
              (s->ow - 1) * s->sw + (s->kw - 1) * s->dw < s->iw;
  s->whole = s->inside && s->oh == 1 && s->ow == 1 && s->kh == s->ih && s->kw == s->iw;
  if constexpr (std::is_same_v<T, int8_t>) {
    const MaxPoolScratch sc = MaxPoolScratchOf(n, x.shape, o);
    if (ctx.scratch_offset >= 0) {
      if (sc.padded_bytes > 0) {
        s->scratch = ctx.scratch_offset;
        const auto [h, w] = PaddedPlane(n, x.shape, o);
        s->padded_h = h;
        s->padded_w = w;
      }
      if (sc.flat_n > 0) {
        s->flat = ctx.scratch_offset + sc.padded_bytes;
        s->flat_n = sc.flat_n;
        s->flat_planes = sc.flat_planes;
      }
    }
  }
  s->out = ctx.Out(n);
  return s;
}

template <typename I>
std::unique_ptr<Step> MakeGatherRows(const Node& n, BuildContext& ctx) {
  auto s = std::make_unique<GatherRowsStep<I>>();
  const Value& x = ctx.V(n.in[0]);
  s->data = ctx.RefOf(n.in[0]);
  s->indices = ctx.RefOf(n.in[1]);
  s->count = ctx.V(n.in[1]).elements;
  s->extent = x.shape[static_cast<size_t>(n.axis)];
  int64_t inner = 1;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (static_cast<int64_t>(d) < n.axis) s->outer *= x.shape[d];
    if (static_cast<int64_t>(d) > n.axis) inner *= x.shape[d];
  }
  s->row_bytes = inner * DTypeBytes(x.dtype);
  // an int8 row of zeros is its zero point (0 for an exact int8 tensor, whose q is the default)
  s->fill = x.dtype == DType::kI8 ? static_cast<uint8_t>(static_cast<int8_t>(x.q.zero_point)) : 0;
  s->out = ctx.Out(n);
  return s;
}

}  // namespace

int64_t ResizeLinearScratchBytes(const Node& n, const Graph& g) {
  return 2 * g.values[n.out[0]].shape.back() * static_cast<int64_t>(sizeof(float));
}

int64_t MaxPoolScratchBytes(const Node& n, const Graph& g) {
  const Value& x = g.values[n.in[0]];
  if (x.dtype != DType::kI8) return 0;
  const MaxPoolScratch sc = MaxPoolScratchOf(n, x.shape, g.values[n.out[0]].shape);
  return sc.padded_bytes + sc.flat_bytes;
}

Result<std::unique_ptr<Step>> BuildLayoutStep(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const bool int8 = x.dtype == DType::kI8;
  std::string type = x.dtype == DType::kF32 ? "float" : DTypeName(x.dtype);
  std::unique_ptr<Step> step;
  switch (n.kind) {
    case OpKind::kTranspose:
    case OpKind::kSlice:
      step = VisitStorageType(x.dtype, [&](auto tag) { return MakeGather<typename decltype(tag)::type>(n, ctx); });
      break;
    case OpKind::kResize:
      // The extrapolation value: float as given; the lowering converted it for the other types
      // (int8: the code in the input's parameters).
      step = VisitStorageType(x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_floating_point_v<T>) {
          return MakeResizeNearest<T>(n, ctx, n.pad_value);
        } else {
          return MakeResizeNearest<T>(n, ctx, static_cast<T>(n.pad_value_int));
        }
      });
      // (Expand and Gather lower to the same step: their tables are not a Resize's)
      type += n.resize_offsets ? (n.onnx_op == "Conv" ? ", depth windows gathered" : ", phases interleaved")
              : n.onnx_op == "Resize" || n.onnx_op == "Upsample" ? ", nearest" : ", index tables";
      break;
    case OpKind::kGatherRows: {
      const DType index_type = ctx.V(n.in[1]).dtype;
      if (index_type != DType::kI32 && index_type != DType::kI64) {
        return Fail(ErrorCode::kInternal, "Gather indices of type " + DTypeName(index_type));
      }
      step = index_type == DType::kI32 ? MakeGatherRows<int32_t>(n, ctx) : MakeGatherRows<int64_t>(n, ctx);
      type += ", " + DTypeName(index_type) + " indices";
      break;
    }
    case OpKind::kResizeLinear:
      step = MakeResizeLinear(n, ctx);
      type += ", linear";
      break;
    case OpKind::kPad:
      // int8 pads with the zero point of its quantization (0 for an exact int8 tensor, whose
      // lowering admits no other constant); the other types with the value in their type.
      step = int8 ? MakePad<int8_t>(n, ctx, static_cast<int8_t>(x.q.zero_point))
                  : VisitStorageType(x.dtype, [&](auto tag) {
                      using T = typename decltype(tag)::type;
                      if constexpr (std::is_floating_point_v<T>) {
                        return MakePad<T>(n, ctx, n.pad_value);
                      } else {
                        return MakePad<T>(n, ctx, static_cast<T>(n.pad_value_int));  // wraps like Cast
                      }
                    });
      break;
    case OpKind::kMaxPool:
    case OpKind::kQMaxPool:
      step = VisitStorageType(x.dtype, [&](auto tag) { return MakeMaxPool<typename decltype(tag)::type>(n, ctx); });
      break;
    case OpKind::kConcat: {
      if (n.in.size() > static_cast<size_t>(ConcatStep::kMaxInputs)) {
        return Fail(ErrorCode::kInvalidArgument, "Concat of more than 64 inputs");
      }
      auto s = std::make_unique<ConcatStep>();
      const auto& shape = ctx.V(n.out[0]).shape;
      s->outer = 1;
      for (int64_t d = 0; d < n.axis; ++d) s->outer *= shape[d];
      for (size_t i = 0; i < n.in.size(); ++i) {
        const Value& v = ctx.V(n.in[i]);
        s->in[i] = ctx.RefOf(n.in[i]);
        s->chunk[i] = (s->outer == 0 ? 0 : v.elements / s->outer) * DTypeBytes(v.dtype);
      }
      s->inputs = static_cast<int>(n.in.size());
      s->out = ctx.Out(n);
      if (const int placed = MarkInPlaceParts(s->in, s->chunk, s->inputs, s->outer, s->out, s->in_place)) {
        type += ", " + std::to_string(placed) + " of " + std::to_string(s->inputs) + " inputs written in place";
      }
      step = std::move(s);
      break;
    }
    default:
      return Fail(ErrorCode::kInternal, "not a layout node");
  }
  step->summary = n.onnx_op + " " + n.name + " (" + type + ")";
  return step;
}

}  // namespace edge::engine
