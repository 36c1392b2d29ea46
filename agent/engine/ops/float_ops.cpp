// Float32 reference kernels for everything but Conv and the data-movement ops.
#include <algorithm>
#include <cmath>
#include <optional>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/ops/binary_step.h"
#include "agent/engine/ops/broadcast.h"
#include "agent/engine/ops/element_types.h"
#include "agent/engine/ops/pool_window.h"
#include "agent/engine/ops/portable_math.h"
#include "agent/engine/ops/unary_math.h"

namespace edge::engine {
namespace {

class GemmStep : public Step {
 public:
  Ref a, w, bias;  // w is [n][k]; bias [n] or [m][n] (already times beta)
  // w transposed to [k][n] at build where it is a constant and A is not transposed: each row of
  // Y is then the tier's row-times-matrix product, every output summed in the same order
  const float* wt = nullptr;
  bool has_bias = false, bias_full = false, trans_a = false;
  int64_t m = 0, n = 0, k = 0, out = 0;
  float lo = -INFINITY, hi = INFINITY;
  void Run(const ExecEnv& env) const override {
    const float* A = a.Get<float>(env);
    const float* W = w.Get<float>(env);
    const float* B = has_bias ? bias.Get<float>(env) : nullptr;
    float* Y = reinterpret_cast<float*>(env.arena + out);
    if (wt != nullptr) {
      env.elementwise->rows_times_matrix(A, m, k, k, wt, n, n, Y, n);
      for (int64_t i = 0; i < m; ++i) {
        float* y = Y + i * n;
        for (int64_t j = 0; j < n; ++j) {
          float acc = y[j];
          if (B != nullptr) acc += bias_full ? B[i * n + j] : B[j];
          y[j] = std::min(std::max(acc, lo), hi);
        }
      }
      return;
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0.0f;
        const float* wr = W + j * k;
        if (trans_a) {
          for (int64_t t = 0; t < k; ++t) acc += A[t * m + i] * wr[t];
        } else {
          const float* ar = A + i * k;
          for (int64_t t = 0; t < k; ++t) acc += ar[t] * wr[t];
        }
        if (B != nullptr) acc += bias_full ? B[i * n + j] : B[j];
        Y[i * n + j] = std::min(std::max(acc, lo), hi);
      }
    }
  }
};

class MatMulStep : public Step {
 public:
  Ref a, b;
  int64_t out = 0, m = 0, n = 0, k = 0;
  BroadcastPlan batch;  // over the leading dimensions, in matrices
  void Run(const ExecEnv& env) const override {
    const float* A = a.Get<float>(env);
    const float* B = b.Get<float>(env);
    float* Y = reinterpret_cast<float*>(env.arena + out);
    ForEachBroadcast(batch, [&](int64_t o, int64_t ia, int64_t ib) {
      const float* am = A + ia * m * k;
      const float* bm = B + ib * k * n;
      float* ym = Y + o * m * n;
      // Y = A B, each output summed over t in order (kernels/float_rows.h)
      env.elementwise->rows_times_matrix(am, m, k, k, bm, n, n, ym, n);
    });
  }
};

// Y[i] = ApplyUnary(params, X[i]) for i < n, the function chosen once per call, not per
// element: a loop per kind with ApplyUnary's own expression inlined (the same bits), which the
// compiler vectorizes for the simple kinds.
template <UnaryKind kKind>
void UnaryLoopOf(UnaryParams p, const float* __restrict X, float* __restrict Y, int64_t n) {
  p.kind = kKind;
  for (int64_t i = 0; i < n; ++i) Y[i] = ApplyUnary(p, X[i]);
}

// The kinds a tier computes as FloatTranscendentalFn (their double math lane by lane).
std::optional<FloatTranscendental> TranscendentalOf(UnaryKind kind) {
  switch (kind) {
    case UnaryKind::kTanh: return FloatTranscendental::kTanh;
    case UnaryKind::kErf: return FloatTranscendental::kErf;
    case UnaryKind::kGelu: return FloatTranscendental::kGelu;
    case UnaryKind::kGeluTanh: return FloatTranscendental::kGeluTanh;
    default: return std::nullopt;
  }
}

// Mish, x * Tanh(Softplus(x)): Softplus element by element into a block, the tier's Tanh over
// the block, then the products.
void MishRows(FloatTranscendentalFn tanh_rows, const float* X, float* Y, int64_t n) {
  constexpr int64_t kBlock = 256;
  float t[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t len = std::min(kBlock, n - i);
    for (int64_t j = 0; j < len; ++j) t[j] = portable::Softplus(X[i + j]);
    tanh_rows(FloatTranscendental::kTanh, t, len, t);
    for (int64_t j = 0; j < len; ++j) Y[i + j] = X[i + j] * t[j];
  }
}

void UnaryLoop(const UnaryParams& params, const ElementwiseKernels& kernels, const float* X, float* Y, int64_t n) {
  if (kernels.float_transcendental != nullptr) {
    if (const auto f = TranscendentalOf(params.kind)) return kernels.float_transcendental(*f, X, n, Y);
    if (params.kind == UnaryKind::kMish) return MishRows(kernels.float_transcendental, X, Y, n);
  }
  switch (params.kind) {
    case UnaryKind::kRelu: UnaryLoopOf<UnaryKind::kRelu>(params, X, Y, n); break;
    case UnaryKind::kClip: UnaryLoopOf<UnaryKind::kClip>(params, X, Y, n); break;
    case UnaryKind::kLeakyRelu: UnaryLoopOf<UnaryKind::kLeakyRelu>(params, X, Y, n); break;
    case UnaryKind::kHardSigmoid: UnaryLoopOf<UnaryKind::kHardSigmoid>(params, X, Y, n); break;
    case UnaryKind::kHardSwish: UnaryLoopOf<UnaryKind::kHardSwish>(params, X, Y, n); break;
    case UnaryKind::kAbs: UnaryLoopOf<UnaryKind::kAbs>(params, X, Y, n); break;
    case UnaryKind::kNeg: UnaryLoopOf<UnaryKind::kNeg>(params, X, Y, n); break;
    case UnaryKind::kSqrt: UnaryLoopOf<UnaryKind::kSqrt>(params, X, Y, n); break;
    case UnaryKind::kReciprocal: UnaryLoopOf<UnaryKind::kReciprocal>(params, X, Y, n); break;
    case UnaryKind::kPow: UnaryLoopOf<UnaryKind::kPow>(params, X, Y, n); break;
    default:
      for (int64_t i = 0; i < n; ++i) Y[i] = ApplyUnary(params, X[i]);
      break;
  }
}

class UnaryStep : public Step {
 public:
  Ref x;
  int64_t out = 0, count = 0;
  UnaryParams params;
  void Run(const ExecEnv& env) const override {
    UnaryLoop(params, *env.elementwise, x.Get<float>(env), reinterpret_cast<float*>(env.arena + out), count);
  }
};

// Average pooling over windows (AveragePool) or whole planes (GlobalAveragePool).
class AvgPoolStep : public Step, public PoolWindow {
 public:
  Ref x;
  int64_t out = 0;

  // The mean of one window of the plane at src.
  float Window(const float* src, int64_t oy, int64_t ox) const {
    const int64_t y0 = oy * sh - pt, x0 = ox * sw - pl;
    const int64_t y1 = std::min(y0 + kh, ih + pb), x1 = std::min(x0 + kw, iw + pr);
    float sum = 0.0f;
    int64_t n = 0;
    for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, ih); ++y) {
      for (int64_t xx = std::max<int64_t>(x0, 0); xx < std::min(x1, iw); ++xx) {
        sum += src[y * iw + xx];
        ++n;
      }
    }
    const int64_t div = include_pad ? (y1 - y0) * (x1 - x0) : n;
    return div > 0 ? sum / static_cast<float>(div) : 0.0f;
  }

  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    float* Y = reinterpret_cast<float*>(env.arena + out);
    // Each output's window summed from 0 in the window's order (rows, then columns inside the
    // input), then divided: per output row, each window tap added over the row's outputs whose
    // input it lies inside (a loop over the row, which vectorizes, not one per window); rows of
    // a few outputs (GlobalAveragePool's one) a window at a time.
    for (int64_t p = 0; p < planes; ++p) {
      const float* src = X + p * ih * iw;
      for (int64_t oy = 0; oy < oh; ++oy) {
        float* __restrict d = Y + (p * oh + oy) * ow;
        if (ow < 8) {
          for (int64_t ox = 0; ox < ow; ++ox) d[ox] = Window(src, oy, ox);
          continue;
        }
        std::fill(d, d + ow, 0.0f);
        const int64_t y0 = oy * sh - pt, y1 = std::min(y0 + kh, ih + pb);
        for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, ih); ++y) {
          for (int64_t kx = 0; kx < kw; ++kx) {
            // the outputs ox with ox * sw - pl + kx in [0, iw)
            const int64_t off = kx - pl;
            const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
            const int64_t hi = std::min(ow, iw - off <= 0 ? int64_t{0} : (iw - off - 1) / sw + 1);
            const float* __restrict srow = src + y * iw + off;
            if (sw == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox] += srow[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox] += srow[ox * sw];
            }
          }
        }
        const int64_t rows = std::max<int64_t>(0, std::min(y1, ih) - std::max<int64_t>(y0, 0));
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t x0 = ox * sw - pl, x1 = std::min(x0 + kw, iw + pr);
          const int64_t n = rows * std::max<int64_t>(0, std::min(x1, iw) - std::max<int64_t>(x0, 0));
          const int64_t div = include_pad ? (y1 - y0) * (x1 - x0) : n;
          d[ox] = div > 0 ? d[ox] / static_cast<float>(div) : 0.0f;
        }
      }
    }
  }
};

// Softmax, LogSoftmax or Hardmax of X over an axis of axis_len elements, `inner` apart, for
// `outer` blocks (Y may not be X).
struct SoftmaxShape {
  int64_t outer = 0, axis_len = 0, inner = 0;
  Node::Normalize mode = Node::Normalize::kSoftmax;
};

// f(r, sum of row r) for rows of n floats, each row summed in order from its first element
// (Softmax's sums), four rows side by side: four add chains instead of one.
template <typename F>
void ForEachRowSum(const float* Y, int64_t rows, int64_t n, F f) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    const float* y = Y + r * n;
    for (int64_t a = 0; a < n; ++a) {
      s0 += y[a];
      s1 += y[n + a];
      s2 += y[2 * n + a];
      s3 += y[3 * n + a];
    }
    f(r, s0);
    f(r + 1, s1);
    f(r + 2, s2);
    f(r + 3, s3);
  }
  for (; r < rows; ++r) {
    float sum = 0.0f;
    for (int64_t a = 0; a < n; ++a) sum += Y[r * n + a];
    f(r, sum);
  }
}

// The last axis (inner == 1), Softmax or LogSoftmax: the same operations as the strided loop
// below, reordered across rows only. Each row's x - max goes into Y first, then one e^ kernel
// call over the whole tensor (x - 0 is x: the same values as a call per row with its max, but
// a long stream instead of rows of a few vectors, each a ~100-cycle polynomial chain), then the
// row sums, each still summed in order, four rows side by side.
void SoftmaxRows(const SoftmaxShape& s, const ExecEnv& env, const float* X, float* Y) {
  const int64_t rows = s.outer, n = s.axis_len;
  auto row_max = [&](int64_t r) {
    const float* src = X + r * n;
    float mx = -INFINITY;
    for (int64_t a = 0; a < n; ++a) {
      if (src[a] > mx) mx = src[a];
    }
    return mx;
  };
  for (int64_t r = 0; r < rows; ++r) {
    const float mx = row_max(r);
    for (int64_t a = 0; a < n; ++a) Y[r * n + a] = X[r * n + a] - mx;
  }
  env.elementwise->exp_shifted(Y, rows * n, 0.0f, Y);
  auto finish = [&](int64_t r, float sum) {
    float* dst = Y + r * n;
    if (s.mode == Node::Normalize::kLogSoftmax) {
      const float* src = X + r * n;
      const float mx = row_max(r), log_sum = std::log(sum);
      for (int64_t a = 0; a < n; ++a) dst[a] = src[a] - mx - log_sum;
    } else {
      for (int64_t a = 0; a < n; ++a) dst[a] /= sum;
    }
  };
  ForEachRowSum(Y, rows, n, finish);
}

void SoftmaxOf(const SoftmaxShape& s, const ExecEnv& env, const float* X, float* Y) {
  const int64_t outer = s.outer, axis_len = s.axis_len, inner = s.inner;
  if (inner == 1 && s.mode != Node::Normalize::kHardmax) {
    SoftmaxRows(s, env, X, Y);
    return;
  }
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* src = X + o * axis_len * inner + i;
      float* dst = Y + o * axis_len * inner + i;
      float mx = -INFINITY;
      int64_t first_max = 0;
      for (int64_t a = 0; a < axis_len; ++a) {
        if (src[a * inner] > mx) mx = src[a * inner], first_max = a;
      }
      if (s.mode == Node::Normalize::kHardmax) {
        for (int64_t a = 0; a < axis_len; ++a) dst[a * inner] = a == first_max ? 1.0f : 0.0f;
        continue;
      }
      for (int64_t a = 0; a < axis_len; ++a) dst[a * inner] = portable::Expf(src[a * inner] - mx);
      float sum = 0.0f;
      for (int64_t a = 0; a < axis_len; ++a) sum += dst[a * inner];
      if (s.mode == Node::Normalize::kLogSoftmax) {
        const float log_sum = std::log(sum);
        for (int64_t a = 0; a < axis_len; ++a) dst[a * inner] = src[a * inner] - mx - log_sum;
      } else {
        for (int64_t a = 0; a < axis_len; ++a) dst[a * inner] /= sum;
      }
    }
  }
}

SoftmaxShape SoftmaxShapeOf(const Node& n, const std::vector<int64_t>& shape) {
  SoftmaxShape s;
  s.mode = n.normalize;
  s.outer = 1;
  s.inner = 1;
  for (int64_t d = 0; d < n.axis; ++d) s.outer *= shape[d];
  for (size_t d = static_cast<size_t>(n.axis) + 1; d < shape.size(); ++d) s.inner *= shape[d];
  s.axis_len = shape[n.axis];
  return s;
}

class SoftmaxStep : public Step {
 public:
  Ref x;
  int64_t out = 0;
  SoftmaxShape shape;
  void Run(const ExecEnv& env) const override {
    SoftmaxOf(shape, env, x.Get<float>(env), reinterpret_cast<float*>(env.arena + out));
  }
};

// A reduction over a set of axes (ReduceMean, ReduceSum, ReduceMax, ...): the input is walked
// once, each element folded into its output slot, then each slot finished.
class ReduceStep : public Step {
 public:
  Ref x;
  int64_t out = 0, out_count = 0, reduce_count = 0;
  int64_t scratch = -1;  // ReduceLogSumExp's sums
  ReduceKind kind = ReduceKind::kMean;
  BroadcastPlan walk;  // iterates the input; stride_a maps to the output index
  BroadcastRuns runs;  // the same walk in runs (ReduceByRuns)
  bool planes = false;  // ReduceMax/ReduceMin of contiguous planes: the tier's float_plane_extreme

  // log(sum(exp(x))) as max + log(sum(exp(x - max))): no overflow for large x, no log(0) for
  // very negative x.
  void RunLogSumExp(const float* X, float* Y, float* S) const {
    for (int64_t i = 0; i < out_count; ++i) Y[i] = -INFINITY, S[i] = 0.0f;
    ForEachBroadcast(walk, [&](int64_t in, int64_t o, int64_t) { Y[o] = std::max(Y[o], X[in]); });
    ForEachBroadcast(walk, [&](int64_t in, int64_t o, int64_t) {
      if (std::isfinite(Y[o])) S[o] += portable::Expf(X[in] - Y[o]);
    });
    for (int64_t i = 0; i < out_count; ++i) {
      if (std::isfinite(Y[i])) Y[i] += std::log(S[i]);
    }
  }

  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    float* Y = reinterpret_cast<float*>(env.arena + out);
    if (kind == ReduceKind::kLogSumExp) {
      RunLogSumExp(X, Y, reinterpret_cast<float*>(env.arena + scratch));
      return;
    }
    if (planes) {
      env.elementwise->float_plane_extreme(X, reduce_count, out_count, kind == ReduceKind::kMax, Y);
      return;
    }
    const float init = kind == ReduceKind::kMax ? -INFINITY : kind == ReduceKind::kMin ? INFINITY
                       : kind == ReduceKind::kProd ? 1.0f : 0.0f;
    for (int64_t i = 0; i < out_count; ++i) Y[i] = init;
    switch (kind) {
      case ReduceKind::kMax: ReduceByRuns(runs, X, Y, [](float a, float v) { return ElementArith<float>::Max(a, v); }); break;
      case ReduceKind::kMin: ReduceByRuns(runs, X, Y, [](float a, float v) { return ElementArith<float>::Min(a, v); }); break;
      case ReduceKind::kProd: ReduceByRuns(runs, X, Y, [](float a, float v) { return a * v; }); break;
      case ReduceKind::kL1: ReduceByRuns(runs, X, Y, [](float a, float v) { return a + std::fabs(v); }); break;
      case ReduceKind::kL2: case ReduceKind::kSumSquare:
        ReduceByRuns(runs, X, Y, [](float a, float v) { return a + v * v; });
        break;
      default: ReduceByRuns(runs, X, Y, [](float a, float v) { return a + v; }); break;
    }
    for (int64_t i = 0; i < out_count; ++i) {
      switch (kind) {
        case ReduceKind::kMean: Y[i] /= static_cast<float>(reduce_count); break;
        case ReduceKind::kL2: Y[i] = std::sqrt(Y[i]); break;
        case ReduceKind::kLogSum: Y[i] = std::log(Y[i]); break;
        default: break;
      }
    }
  }
};

// kLayerNormRows: per row the unfused LayerNormalization steps' float operations in their
// order (ReduceMean's in-order sum over the count, x - mean, its square, their in-order sum
// over the count, + epsilon, sqrt, 1 / ., the product, times the scale), so the same values,
// bit for bit except which NaN (sign, payload) comes out where two NaNs meet.
// Rows go kLanes at a time, their sums side by side: independent add chains, each in order.
// InstanceNormalization's form (double_stats: no scale, long planes) sums in double instead
// (RowInDouble), the same way at every tier.
class LayerNormRowsStep : public Step {
 public:
  static constexpr int kLanes = 8;
  Ref x, scale;
  int64_t rows = 0, n = 0, out = 0;
  float epsilon = 0.0f;
  bool double_stats = false;  // InstanceNormalization: no scale, RowsInDouble
  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    float* Y = reinterpret_cast<float*>(env.arena + out);
    if (double_stats) {
      for (int64_t r = 0; r < rows; ++r) RowInDouble(X + r * n, Y + r * n);
      return;
    }
    const float* G = scale.Get<float>(env);
    // a tier's form takes blocks of 16 rows (the same operations, a row per vector lane)
    int64_t r = env.elementwise->layernorm_rows != nullptr ? env.elementwise->layernorm_rows(X, G, rows, n, epsilon, Y) : 0;
    for (; r + kLanes <= rows; r += kLanes) Rows<kLanes>(X + r * n, G, Y + r * n);
    for (; r < rows; ++r) Rows<1>(X + r * n, G, Y + r * n);
  }

 private:
  template <int K>
  void Rows(const float* X, const float* G, float* Y) const {
    const float count = static_cast<float>(n);
    float mean[K], var[K], inv[K];
    for (int i = 0; i < K; ++i) mean[i] = var[i] = 0.0f;
    for (int64_t a = 0; a < n; ++a) {
      for (int i = 0; i < K; ++i) mean[i] += X[i * n + a];
    }
    for (int i = 0; i < K; ++i) mean[i] /= count;
    for (int64_t a = 0; a < n; ++a) {
      for (int i = 0; i < K; ++i) {
        const float c = X[i * n + a] - mean[i];
        var[i] += c * c;
      }
    }
    for (int i = 0; i < K; ++i) inv[i] = 1.0f / std::sqrt(var[i] / count + epsilon);
    for (int i = 0; i < K; ++i) {
      for (int64_t a = 0; a < n; ++a) Y[i * n + a] = ((X[i * n + a] - mean[i]) * inv[i]) * G[a];
    }
  }

  // Sums in double over eight interleaved accumulators (element a into a % 8, added pairwise in
  // one fixed order at the end: the same on every tier and architecture, eight chains the
  // compiler keeps in vector registers), the variance of the centred values; then y = (x -
  // mean) * inv in double, rounded once to float (a float mean of a plane around 100 is 4e-6
  // off, which x - mean would keep).
  template <class Term>
  double Sum8(const float* X, Term term) const {
    double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int64_t a = 0;
    for (; a + 8 <= n; a += 8) {
      for (int k = 0; k < 8; ++k) acc[k] += term(static_cast<double>(X[a + k]));
    }
    for (; a < n; ++a) acc[a % 8] += term(static_cast<double>(X[a]));
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  }
  void RowInDouble(const float* X, float* Y) const {
    const double count = static_cast<double>(n);
    const double mean = Sum8(X, [](double v) { return v; }) / count;
    const double var = Sum8(X, [mean](double v) { return (v - mean) * (v - mean); }) / count;
    const double inv = 1.0 / std::sqrt(var + static_cast<double>(epsilon));
    for (int64_t a = 0; a < n; ++a) Y[a] = static_cast<float>((static_cast<double>(X[a]) - mean) * inv);
  }
};

class ChannelAffineStep : public Step {
 public:
  Ref x, mul, add;
  int64_t out = 0, batch = 0, channels = 0, inner = 0;
  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    const float* M = mul.Get<float>(env);
    const float* A = add.Get<float>(env);
    float* Y = reinterpret_cast<float*>(env.arena + out);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t base = (b * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i) Y[base + i] = X[base + i] * M[c] + A[c];
      }
    }
  }
};

class QuantizeStep : public Step {
 public:
  Ref x;
  int input = -1;  // >= 0: x is this graph input, read in place from the caller's buffer
  int64_t out = 0, count = 0;
  QParams q;
  void Run(const ExecEnv& env) const override {
    // ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point); NaN maps low
    env.elementwise->quantize(input >= 0 ? env.inputs[input] : x.Get<float>(env), count, q.scale, q.zero_point,
                              reinterpret_cast<int8_t*>(env.arena + out));
  }
};

// DequantizeLinear of int8 values: Y[i] = scale * (float)(X[i] - zero_point).
class DequantizeStep : public Step {
 public:
  Ref x;
  int64_t out = 0, count = 0;
  QParams q;
  void Run(const ExecEnv& env) const override {
    env.elementwise->dequantize(x.Get<int8_t>(env), count, q.scale, q.zero_point,
                                reinterpret_cast<float*>(env.arena + out));
  }
};

// kQFloatOp (fold.cpp): the int8 inputs dequantized into scratch, the op's own float step on
// them (and on any float inputs), its result quantized: the operations of the unfused
// DequantizeLinear, op and QuantizeLinear steps in one step, without their arena buffers.
class DqOpQStep : public Step {
 public:
  struct Input {
    Ref x;
    int64_t to = 0, count = 0;
    QParams q;
  };
  std::vector<Input> inputs;
  std::unique_ptr<Step> op;
  int64_t result = 0, count = 0, out = 0;
  QParams q;
  void Run(const ExecEnv& env) const override {
    for (const Input& in : inputs)
      env.elementwise->dequantize(in.x.Get<int8_t>(env), in.count, in.q.scale, in.q.zero_point,
                                  reinterpret_cast<float*>(env.arena + in.to));
    op->Run(env);
    env.elementwise->quantize(reinterpret_cast<const float*>(env.arena + result), count, q.scale, q.zero_point,
                              reinterpret_cast<int8_t*>(env.arena + out));
  }
};

// kQFloatOp of Add, Sub, Mul, Div, Max or Min: the three steps' operations per element in one
// pass of the tier's kernel over each broadcast run, without the floats in between.
class QFloatBinaryStep : public Step {
 public:
  struct Operand {
    Ref x;
    bool int8 = false;
    QParams q;
  };
  Operand a, b;
  BroadcastRows runs;
  FloatBinaryOp op = FloatBinaryOp::kAdd;
  float lo = -INFINITY, hi = INFINITY;  // a folded Relu or Clip
  int64_t out = 0;
  QParams q;
  void Run(const ExecEnv& env) const override {
    QFloatBinaryRunArgs r;
    r.rows = runs.rows;
    r.n = runs.run;
    r.op = op;
    r.lo = lo;
    r.hi = hi;
    r.scale = q.scale;
    r.zero_point = q.zero_point;
    auto operand = [&](const Operand& o, int64_t step, int64_t row) {
      QFloatOperand v;
      v.step = step;
      v.row = row;
      v.scale = o.q.scale;
      v.zero_point = o.q.zero_point;
      if (o.int8) v.q = o.x.Get<int8_t>(env); else v.f = o.x.Get<float>(env);
      return v;
    };
    const QFloatOperand a0 = operand(a, runs.a_step, runs.a_row), b0 = operand(b, runs.b_step, runs.b_row);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    ForEachBroadcast(runs.outer, [&](int64_t o, int64_t i, int64_t j) {
      r.a = a0;
      r.b = b0;
      AdvanceQFloatOperand(r.a, i);
      AdvanceQFloatOperand(r.b, j);
      r.y = Y + o * runs.rows * runs.run;
      env.elementwise->qfloat_binary_run(r);
    });
  }
};

// The kernel's op for a kQFloatOp's inner op, if it has one.
std::optional<FloatBinaryOp> FloatBinaryOpOf(OpKind kind) {
  switch (kind) {
    case OpKind::kAdd: return FloatBinaryOp::kAdd;
    case OpKind::kSub: return FloatBinaryOp::kSub;
    case OpKind::kMul: return FloatBinaryOp::kMul;
    case OpKind::kDiv: return FloatBinaryOp::kDiv;
    case OpKind::kMax: return FloatBinaryOp::kMax;
    case OpKind::kMin: return FloatBinaryOp::kMin;
    default: return std::nullopt;
  }
}

std::unique_ptr<Step> BuildQFloatBinaryStep(const Node& n, FloatBinaryOp op, BuildContext& ctx) {
  auto s = std::make_unique<QFloatBinaryStep>();
  auto operand = [&](int v) {
    const Value& x = ctx.V(v);
    return QFloatBinaryStep::Operand{ctx.RefOf(v), x.dtype == DType::kI8, x.q};
  };
  s->a = operand(n.in[0]);
  s->b = operand(n.in[1]);
  s->runs = SplitBroadcastRows(
      SplitBroadcastRuns(MakeBroadcastPlan(ctx.V(n.out[0]).shape, ctx.V(n.in[0]).shape, ctx.V(n.in[1]).shape)));
  s->op = op;
  s->lo = n.act_min;
  s->hi = n.act_max;
  s->out = ctx.Out(n);
  s->q = ctx.V(n.out[0]).q;
  return s;
}

std::string Describe(const Node& n, const std::string& detail) {
  return n.onnx_op + " " + n.name + (detail.empty() ? "" : " (" + detail + ")");
}

}  // namespace

// (binary ops only: a Relu or Clip node's own bounds are in the same fields)
std::string ClampSuffix(const Node& n) {
  if (!FloatBinaryOpOf(n.inner) || (n.act_min == -INFINITY && n.act_max == INFINITY)) return "";
  return n.act_min == 0.0f && n.act_max == INFINITY ? " + Relu" : " + Clip";
}

namespace {

// kQFloatOp of ReduceMax or ReduceMin of int8 values with a positive finite scale:
// DequantizeLinear is non-decreasing in the code then, so the float extreme is the extreme
// code's value, exactly; the step takes the extreme of the codes and looks each up in a table
// of QuantizeLinear(DequantizeLinear(code)).
class QReduceExtremeStep : public Step {
 public:
  Ref x;
  bool max = true;
  BroadcastRuns runs;  // the float ReduceStep's walk
  int64_t out = 0, out_count = 0;
  int64_t plane = 0;  // > 0: each output reduces a contiguous plane of this many codes (the tier's plane extremes)
  int8_t table[256] = {};
  void Run(const ExecEnv& env) const override {
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    if (plane > 0) {
      (max ? env.elementwise->plane_max : env.elementwise->plane_min)(x.Get<int8_t>(env), plane, out_count, Y);
      env.elementwise->lut(Y, out_count, table, Y);
      return;
    }
    std::fill(Y, Y + out_count, max ? int8_t{-128} : int8_t{127});
    if (max) {
      ReduceByRuns(runs, x.Get<int8_t>(env), Y, [](int8_t a, int8_t v) { return std::max(a, v); });
    } else {
      ReduceByRuns(runs, x.Get<int8_t>(env), Y, [](int8_t a, int8_t v) { return std::min(a, v); });
    }
    env.elementwise->lut(Y, out_count, table, Y);
  }
};

std::optional<std::unique_ptr<Step>> ReduceExtremeOfCodes(const Node& n, BuildContext& ctx) {
  if (n.inner != OpKind::kReduceMean || (n.reduce != ReduceKind::kMax && n.reduce != ReduceKind::kMin)) return std::nullopt;
  const Value& x = ctx.V(n.in[0]);
  if (x.dtype != DType::kI8 || !(x.q.scale > 0.0f) || !std::isfinite(x.q.scale)) return std::nullopt;
  int64_t reduce_count = 1;
  const std::vector<int64_t> kept = KeptShape(n.axes, x.shape, &reduce_count);
  if (reduce_count == 0) return std::nullopt;  // the float step's infinity
  auto s = std::make_unique<QReduceExtremeStep>();
  s->x = ctx.RefOf(n.in[0]);
  s->max = n.reduce == ReduceKind::kMax;
  s->runs = SplitBroadcastRuns(MakeBroadcastPlan(x.shape, kept, x.shape));
  s->plane = ReducesTrailingPlanes(n.axes, x.shape) ? reduce_count : 0;
  s->out = ctx.Out(n);
  s->out_count = ctx.V(n.out[0]).elements;
  const QParams out = ctx.V(n.out[0]).q;
  for (int q = -128; q <= 127; ++q) {
    const float v = x.q.Dequantize(q);
    s->table[static_cast<uint8_t>(static_cast<int8_t>(q))] = SaturateToInt8(v / out.scale, out.zero_point, -128, 127);
  }
  s->summary = Describe(n, s->plane > 0 ? "int8, float inside, of codes, plane extremes"
                                        : "int8, float inside, of codes");
  return std::unique_ptr<Step>(std::move(s));
}

std::vector<std::pair<int, int64_t>> FoldedLayout(const Node& n, const Graph& g, int64_t* total);

// kQFloatOp of Softmax over the last axis of int8 values with a positive finite scale.
// DequantizeLinear is then non-decreasing in the code, so a row's float maximum is its largest
// code's value, and each e^(x - max) is a function of the pair (code, row's largest code): a
// table of Expf(DQ(q) - DQ(m)) for q <= m, the float step's operations (SoftmaxRows: x - max,
// then e^(. - 0)), built at load (32,896 floats, 128 KB). A run looks the exponentials up, sums
// each row in order as SoftmaxRows does, and divides and quantizes in one pass of the tier's
// qfloat_binary_run (e / sum, then QuantizeLinear): the unfused steps' bytes without an e^ in
// the run.
class QSoftmaxTableStep : public Step {
 public:
  Ref x;
  int64_t rows = 0, n = 0, out = 0, exps_at = 0, sums_at = 0;
  std::vector<float> table;  // row m (0..255: code m - 128) at m (m + 1) / 2, entries q <= m
  QParams q;
  static int64_t RowStart(int m) { return static_cast<int64_t>(m) * (m + 1) / 2; }
  void Run(const ExecEnv& env) const override {
    const int8_t* X = x.Get<int8_t>(env);
    float* E = reinterpret_cast<float*>(env.arena + exps_at);
    float* S = reinterpret_cast<float*>(env.arena + sums_at);
    // each row's largest and smallest codes by the tier's plane extremes (rows are contiguous
    // planes of n), kept in the sums' scratch until the sums replace them
    int8_t* M = reinterpret_cast<int8_t*>(S);
    int8_t* L = M + rows;
    env.elementwise->plane_max(X, n, rows, M);
    env.elementwise->plane_min(X, n, rows, L);
    for (int64_t r = 0; r < rows; ++r) {
      const float* t = table.data() + RowStart(M[r] + 128) + 128;
      env.elementwise->lookup_floats(X + r * n, n, t, L[r], M[r], E + r * n);
    }
    // the tier's blocks of 16 rows (each lane a row, its adds in order), the rest four at a time
    const int64_t done = env.elementwise->row_sums != nullptr ? env.elementwise->row_sums(E, rows, n, S) : 0;
    ForEachRowSum(E + done * n, rows - done, n, [&](int64_t r, float sum) { S[done + r] = sum; });
    QFloatBinaryRunArgs d;
    d.a.f = E;
    d.a.row = n;
    d.b.f = S;
    d.b.step = 0;
    d.b.row = 1;
    d.rows = rows;
    d.n = n;
    d.op = FloatBinaryOp::kDiv;
    d.scale = q.scale;
    d.zero_point = q.zero_point;
    d.y = reinterpret_cast<int8_t*>(env.arena + out);
    env.elementwise->qfloat_binary_run(d);
  }
};

std::optional<std::unique_ptr<Step>> SoftmaxOfCodes(const Node& n, BuildContext& ctx) {
  if (n.inner != OpKind::kSoftmax || n.normalize != Node::Normalize::kSoftmax) return std::nullopt;
  const Value& x = ctx.V(n.in[0]);
  if (x.dtype != DType::kI8 || !(x.q.scale > 0.0f) || !std::isfinite(x.q.scale)) return std::nullopt;
  const SoftmaxShape shape = SoftmaxShapeOf(n, x.shape);
  if (shape.inner != 1 || shape.axis_len == 0 || ctx.scratch_offset < 0) return std::nullopt;
  auto s = std::make_unique<QSoftmaxTableStep>();
  s->x = ctx.RefOf(n.in[0]);
  s->rows = shape.outer;
  s->n = shape.axis_len;
  s->out = ctx.Out(n);
  s->q = ctx.V(n.out[0]).q;
  // the scratch (QFloatOpScratchBytes: the input's floats, then the result's) holds the
  // exponentials where the input's floats go and the row sums where the result's do
  int64_t total = 0;
  const auto layout = FoldedLayout(n, ctx.graph, &total);
  s->exps_at = ctx.scratch_offset + layout.front().second;
  s->sums_at = ctx.scratch_offset + layout.back().second;
  s->table.resize(static_cast<size_t>(QSoftmaxTableStep::RowStart(256)));
  for (int m = 0; m < 256; ++m) {
    const float mx = x.q.Dequantize(m - 128);
    float* row = s->table.data() + QSoftmaxTableStep::RowStart(m);
    for (int c = 0; c <= m; ++c) row[c] = portable::Expf((x.q.Dequantize(c - 128) - mx) - 0.0f);
  }
  s->summary = Describe(n, "int8, float inside, exponentials from a table");
  return std::unique_ptr<Step>(std::move(s));
}

// A kQFloatOp whose one varying input is int8 and whose other inputs are single float
// constants is a function of that input's 256 codes, and its output has that input's elements
// in the same order: a lookup table. Returns that input's position in n.in, or -1 (other ops
// and inputs).
int LookupInput(const Node& n, const Graph& g, float* constant) {
  if (n.inner != OpKind::kUnary && n.inner != OpKind::kPow && !FloatBinaryOpOf(n.inner)) return -1;
  int x = -1;
  for (size_t i = 0; i < n.in.size(); ++i) {
    const Value& v = g.values[g.StorageOf(n.in[i])];
    if (v.dtype == DType::kI8 && !v.is_const) {
      if (x >= 0) return -1;
      x = static_cast<int>(i);
    } else if (v.is_const && v.dtype == DType::kF32 && v.cf.size() == 1) {
      *constant = v.cf[0];
    } else {
      return -1;
    }
  }
  return x >= 0 && g.values[n.in[x]].elements == g.values[n.out[0]].elements ? x : -1;
}

std::optional<std::unique_ptr<Step>> LookupOfOneCode(const Node& n, BuildContext& ctx) {
  float constant = 0.0f;
  const int x = LookupInput(n, ctx.graph, &constant);
  if (x < 0) return std::nullopt;
  int8_t table[256];
  LookupChainTable(n, ctx.graph, table);
  return MakeLutStep(ctx.RefOf(n.in[x]), ctx.V(n.out[0]).elements, table, ctx.Out(n),
                     Describe(n, "int8, float inside, lookup") + ClampSuffix(n) + LookupChainSummary(n));
}

// Where kQFloatOp's scratch holds each distinct int8 input's floats and then the result, as
// offsets from the scratch's start (QFloatOpScratchBytes and the builder agree through this).
std::vector<std::pair<int, int64_t>> FoldedLayout(const Node& n, const Graph& g, int64_t* total) {
  std::vector<std::pair<int, int64_t>> layout;
  int64_t at = 0;
  for (int v : n.in) {
    if (g.values[v].dtype != DType::kI8) continue;
    bool seen = false;
    for (const auto& [value, offset] : layout) seen = seen || value == v;
    if (seen) continue;
    layout.emplace_back(v, at);
    at += RoundUp(g.values[v].elements * 4, 64);
  }
  layout.emplace_back(n.out[0], at);
  *total = at + RoundUp(g.values[n.out[0]].elements * 4, 64);
  return layout;
}

// A step with nothing to compute (an empty output).
class NothingStep : public Step {
 public:
  void Run(const ExecEnv&) const override {}
};

Result<std::unique_ptr<Step>> BuildDqOpQStep(const Node& n, BuildContext& ctx) {
  if (ctx.V(n.out[0]).elements == 0) {  // no scratch is planned for it either
    auto s = std::make_unique<NothingStep>();
    s->summary = Describe(n, "int8, float inside, empty") + LookupChainSummary(n);
    return std::unique_ptr<Step>(std::move(s));
  }
  if (auto extreme = ReduceExtremeOfCodes(n, ctx)) return std::move(*extreme);
  if (auto softmax = SoftmaxOfCodes(n, ctx)) return std::move(*softmax);
  if (auto lookup = LookupOfOneCode(n, ctx)) return std::move(*lookup);
  if (const auto op = FloatBinaryOpOf(n.inner)) {
    auto s = BuildQFloatBinaryStep(n, *op, ctx);
    s->summary = Describe(n, "int8, float inside, one pass") + ClampSuffix(n);
    return s;
  }
  if (ctx.scratch_offset < 0) return Fail(ErrorCode::kInternal, "folded op without scratch");
  int64_t total = 0;
  const auto layout = FoldedLayout(n, ctx.graph, &total);
  auto s = std::make_unique<DqOpQStep>();
  // The op's step is built on a view of the arena in which its int8 inputs and its result are
  // the scratch's floats.
  std::vector<int64_t> offsets = ctx.offsets;
  for (size_t i = 0; i + 1 < layout.size(); ++i) {
    const auto [v, offset] = layout[i];
    s->inputs.push_back({ctx.RefOf(v), ctx.scratch_offset + offset, ctx.V(v).elements, ctx.V(v).q});
    offsets[v] = ctx.scratch_offset + offset;
  }
  s->result = ctx.scratch_offset + layout.back().second;
  offsets[n.out[0]] = s->result;
  Node op = n;
  op.kind = n.inner;
  BuildContext view{ctx.graph, offsets, ctx.pool, -1};
  EDGE_ASSIGN_OR_RETURN(s->op, BuildFloatStep(op, view));
  const Value& y = ctx.V(n.out[0]);
  s->count = y.elements;
  s->out = ctx.Out(n);
  s->q = y.q;
  s->summary = Describe(n, "int8, float inside");
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace

void UnaryRows(const UnaryParams& params, const ElementwiseKernels& kernels, const float* X, float* Y, int64_t n) {
  UnaryLoop(params, kernels, X, Y, n);
}

std::string LookupChainSummary(const Node& node) {
  std::string links;
  if (!node.gate.empty()) {
    const Node& gate = node.gate[0];
    const std::string chain = LookupChainSummary(gate);
    links = " (x * " + (chain.empty() ? gate.onnx_op : "(" + gate.onnx_op + chain + ")") + "(x), one lookup)";
  }
  for (const Node& op : node.epilogue) links += " + " + op.onnx_op + (op.kind == OpKind::kQFloatOp ? ClampSuffix(op) : "");
  return links;
}

int LookupInputOf(const Node& node, const Graph& graph) {
  if (node.dead || node.out.size() != 1) return -1;
  if (node.kind == OpKind::kQLut || (node.kind == OpKind::kQMul && !node.gate.empty())) return 0;
  float constant = 0.0f;
  return node.kind == OpKind::kQFloatOp ? LookupInput(node, graph, &constant) : -1;
}

// The table: the op's own float arithmetic (ApplyUnary, or the element op with the constant on
// its side) on each code's dequantized value, quantized as QuantizeLinear does.
void QFloatLookupTable(const Node& n, const Graph& g, int y, int8_t (&table)[256]) {
  float constant = 0.0f;
  const int x = LookupInput(n, g, &constant);
  const QParams in = g.values[n.in[x]].q, out = g.values[y].q;
  for (int q = -128; q <= 127; ++q) {
    const float v = in.Dequantize(q);
    float r = 0.0f;
    if (n.inner == OpKind::kUnary) {
      r = ApplyUnary(UnaryParamsOf(n), v);
    } else {
      WithElementOp<float>(n.inner, [&](auto f) { r = x == 0 ? f(v, constant) : f(constant, v); });
      r = std::min(std::max(r, n.act_min), n.act_max);  // a folded Relu or Clip (fold.cpp)
    }
    table[static_cast<uint8_t>(static_cast<int8_t>(q))] = SaturateToInt8(r / out.scale, out.zero_point, -128, 127);
  }
}

int64_t QFloatOpScratchBytes(const Node& node, const Graph& graph) {
  float constant = 0.0f;
  // one pass or a lookup: no floats kept
  if (FloatBinaryOpOf(node.inner) || LookupInput(node, graph, &constant) >= 0) return 0;
  // ReduceMax/ReduceMin of a non-empty input: of codes (ReduceExtremeOfCodes), no floats
  if (node.inner == OpKind::kReduceMean && graph.values[node.in[0]].elements > 0) return 0;
  int64_t total = 0;
  FoldedLayout(node, graph, &total);
  return total;
}

Result<std::unique_ptr<Step>> BuildFloatStep(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  switch (n.kind) {
    case OpKind::kGemm: {
      auto s = std::make_unique<GemmStep>();
      const Value& w = ctx.V(n.in[1]);
      s->a = ctx.RefOf(n.in[0]);
      s->w = ctx.RefOf(n.in[1]);
      s->n = w.shape[0];
      s->k = w.shape[1];
      s->m = x.elements / s->k;
      s->trans_a = n.trans_a;
      if (const Value& wv = ctx.V(ctx.graph.StorageOf(n.in[1])); !n.trans_a && wv.is_const && wv.dtype == DType::kF32) {
        std::vector<float> t(static_cast<size_t>(s->k * s->n));
        for (int64_t j = 0; j < s->n; ++j) {
          for (int64_t c = 0; c < s->k; ++c) t[static_cast<size_t>(c * s->n + j)] = wv.cf[static_cast<size_t>(j * s->k + c)];
        }
        ctx.pool.total_bytes += static_cast<int64_t>(t.size() * sizeof(float));
        ctx.pool.floats.push_back(std::move(t));
        s->wt = ctx.pool.floats.back().data();
      }
      if (n.in.size() > 2) {
        s->has_bias = true;
        s->bias = ctx.RefOf(n.in[2]);
        s->bias_full = ctx.V(n.in[2]).shape.size() == 2;
      }
      s->lo = n.act_min;
      s->hi = n.act_max;
      s->out = ctx.Out(n);
      s->summary = Describe(n, std::to_string(s->m) + "x" + std::to_string(s->k) + "x" + std::to_string(s->n) + ", float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kMatMul: {
      auto s = std::make_unique<MatMulStep>();
      const Value& b = ctx.V(n.in[1]);
      s->a = ctx.RefOf(n.in[0]);
      s->b = ctx.RefOf(n.in[1]);
      s->m = x.shape[x.shape.size() - 2];
      s->k = x.shape.back();
      s->n = b.shape.back();
      std::vector<int64_t> ab(x.shape.begin(), x.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
      const auto& o = ctx.V(n.out[0]).shape;
      std::vector<int64_t> ob(o.begin(), o.end() - 2);
      s->batch = MakeBroadcastPlan(ob, ab, bb);
      s->out = ctx.Out(n);
      s->summary = Describe(n, "float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kMax: case OpKind::kMin:
    case OpKind::kPow: {
      return MakeBinaryStep<float>(n, ctx, Describe(n, "float"));
    }
    case OpKind::kUnary: {
      auto s = std::make_unique<UnaryStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->count = x.elements;
      s->params = UnaryParamsOf(n);
      s->out = ctx.Out(n);
      s->summary = Describe(n, "float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kAvgPool: case OpKind::kGlobalAvgPool: {
      auto s = std::make_unique<AvgPoolStep>();
      s->x = ctx.RefOf(n.in[0]);
      const auto& o = ctx.V(n.out[0]).shape;
      static_cast<PoolWindow&>(*s) = PoolWindowOf(n, x.shape, o, n.kind == OpKind::kGlobalAvgPool);
      s->out = ctx.Out(n);
      s->summary = Describe(n, "float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kSoftmax: {
      auto s = std::make_unique<SoftmaxStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->shape = SoftmaxShapeOf(n, x.shape);
      s->out = ctx.Out(n);
      s->summary = Describe(n, "float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kReduceMean: {
      auto s = std::make_unique<ReduceStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->kind = n.reduce;
      s->scratch = ctx.scratch_offset;
      if (n.reduce == ReduceKind::kLogSumExp && s->scratch < 0) return Fail(ErrorCode::kInternal, "ReduceLogSumExp without scratch");
      const std::vector<int64_t> kept = KeptShape(n.axes, x.shape, &s->reduce_count);
      s->out_count = ctx.V(n.out[0]).elements;
      s->walk = MakeBroadcastPlan(x.shape, kept, x.shape);
      s->runs = SplitBroadcastRuns(s->walk);
      s->walk.same_shape = false;
      s->planes = (n.reduce == ReduceKind::kMax || n.reduce == ReduceKind::kMin) && s->reduce_count > 0 &&
                  ReducesTrailingPlanes(n.axes, x.shape);
      s->out = ctx.Out(n);
      s->summary = Describe(n, s->planes ? "float, plane extremes" : "float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kLayerNormRows: {
      auto s = std::make_unique<LayerNormRowsStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->double_stats = n.double_stats;
      if (!s->double_stats) s->scale = ctx.RefOf(n.in[1]);
      s->n = 1;
      for (size_t d = static_cast<size_t>(n.axis); d < x.shape.size(); ++d) s->n *= x.shape[d];
      s->rows = s->n == 0 ? 0 : x.elements / s->n;
      s->epsilon = n.alpha;
      s->out = ctx.Out(n);
      s->summary = Describe(n, n.double_stats ? "float, rows in one pass, sums in double" : "float, rows in one pass");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kChannelAffine: {
      auto s = std::make_unique<ChannelAffineStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->mul = ctx.RefOf(n.in[1]);
      s->add = ctx.RefOf(n.in[2]);
      s->batch = x.shape[0];
      s->channels = x.shape[1];
      s->inner = x.elements / std::max<int64_t>(1, s->batch * s->channels);
      s->out = ctx.Out(n);
      s->summary = Describe(n, "float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kQuantize: {
      auto s = std::make_unique<QuantizeStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->input = ctx.InPlaceInput(n.in[0]);
      s->count = x.elements;
      s->q = n.quant;
      s->out = ctx.Out(n);
      s->summary = Describe(n, s->input >= 0 ? "float -> int8, input read in place" : "float -> int8");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kDequantize: {
      auto s = std::make_unique<DequantizeStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->count = x.elements;
      s->q = n.quant;
      s->out = ctx.Out(n);
      s->summary = Describe(n, "int8 -> float");
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kQFloatOp: return BuildDqOpQStep(n, ctx);
    default:
      return Fail(ErrorCode::kInternal, "no float kernel for this node");
  }
}

}  // namespace edge::engine
