// int8 element-wise, pooling and requantization kernels. Each computes what ONNX defines for
// DequantizeLinear -> op -> QuantizeLinear, in float with round-half-to-even, so the result is
// within one step of ONNX Runtime's fused kernels.
#include <algorithm>
#include <iterator>
#include <cmath>
#include <cstring>
#include <sstream>
#include <tuple>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/copy_bytes.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/ops/broadcast.h"
#include "agent/engine/ops/pool_window.h"
#include "agent/engine/ops/quant_epilogue.h"
#include "agent/engine/ops/unary_math.h"

namespace edge::engine {
namespace {

inline int8_t Saturate(float y, int32_t zp, int32_t qmin, int32_t qmax) { return SaturateToInt8(y, zp, qmin, qmax); }

// Runs shorter than this are gathered into chunks for the kernel (a kernel call per run would
// cost more than the run).
constexpr int64_t kMinKernelRun = 16;
// Elements per chunk of short runs: whole runs, each operand's copied (or its one value spread)
// into a buffer, then the chunk through the tier's kernel as one run of contiguous operands.
constexpr int64_t kShortRunChunk = 1024;

class QBinaryStep : public Step {
 public:
  Ref a, b;
  int64_t out = 0;
  bool mul = false;
  BroadcastPlan plan;
  BroadcastRuns runs;  // plan split into runs for the tier's kernel
  // runs of kMinKernelRun or more: a kernel call per row of runs (BC-ResNet's [C, F, T] +
  // [C, 1, T]: one per channel, not one per T)
  BroadcastRows rows;
  bool a_full = false, b_full = false;  // the operand has the output's shape: read in place
  int32_t za = 0, zb = 0, zo = 0, qmin = -128, qmax = 127;
  float ra = 1, rb = 1;  // input scale / output scale (Mul: sa * sb / so in ra)
  void Run(const ExecEnv& env) const override {
    const int8_t* A = a.Get<int8_t>(env);
    const int8_t* B = b.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    if (plan.total == 0) return;  // an empty output (runs.run is 0: ShortRuns divides by it)
    if (plan.same_shape && !mul) {
      // The common residual Add, through the tier's kernel (same float operations).
      env.elementwise->qadd(QAddArgs{A, B, plan.total, ra, rb, za, zb, zo, qmin, qmax, Y});
    } else if (runs.run >= kMinKernelRun) {
      QBinaryRunArgs r{nullptr, nullptr, rows.a_step, rows.b_step, rows.run, mul, ra, rb, za, zb, zo, qmin, qmax, nullptr,
                       rows.rows, rows.a_row, rows.b_row};
      ForEachBroadcast(rows.outer, [&](int64_t o, int64_t i, int64_t j) {
        r.a = A + i;
        r.b = B + j;
        r.y = Y + o * rows.rows * rows.run;
        env.elementwise->qbinary_run(r);
      });
    } else {
      ShortRuns(env, A, B, Y);
    }
  }

 private:
  // Runs of 1 to kMinKernelRun - 1 elements (a channel's 3x3 map under a per-channel operand,
  // a [n, 4] x [4] scale) in chunks of whole runs: an operand of the output's shape is read in
  // place, the other's runs copied (or its one value spread) into a buffer, and each chunk is
  // one call of the tier's kernel with both operands contiguous: the element walk's bytes.
  void ShortRuns(const ExecEnv& env, const int8_t* A, const int8_t* B, int8_t* Y) const {
    alignas(64) int8_t abuf[kShortRunChunk], bbuf[kShortRunChunk];
    const int64_t run = runs.run, per_chunk = kShortRunChunk / run, last = runs.outer.total - 1;
    QBinaryRunArgs r{abuf, bbuf, 1, 1, 0, mul, ra, rb, za, zb, zo, qmin, qmax, nullptr};
    const auto gather = [run](int8_t* dst, const int8_t* src, int64_t step) {
      if (step != 0) {
        CopyBytes(dst, src, run);
      } else {
        FillBytes(dst, src[0], run);
      }
    };
    int64_t filled = 0;  // runs in the chunk so far
    ForEachBroadcast(runs.outer, [&](int64_t o, int64_t i, int64_t j) {
      if (!a_full) gather(abuf + filled * run, A + i, runs.a_step);
      if (!b_full) gather(bbuf + filled * run, B + j, runs.b_step);
      if (++filled < per_chunk && o < last) return;
      const int64_t first = (o + 1 - filled) * run;
      if (a_full) r.a = A + first;
      if (b_full) r.b = B + first;
      r.n = filled * run;
      r.y = Y + first;
      env.elementwise->qbinary_run(r);
      filled = 0;
    });
  }
};

class QLutStep : public Step {
 public:
  Ref x;
  int64_t out = 0, count = 0;
  int8_t table[256] = {};
  // One table per channel (axis 1) instead: 256 bytes each, for blocks of `inner` elements.
  std::vector<int8_t> channel_tables;
  int64_t channels = 0, inner = 0;
  void Run(const ExecEnv& env) const override {
    const int8_t* X = x.Get<int8_t>(env);
    auto* Y = reinterpret_cast<int8_t*>(env.arena + out);
    if (channels == 0) {
      env.elementwise->lut(X, count, table, Y);
      return;
    }
    if (inner == 1) {  // [N, C]: a table per element, no kernel call per byte
      for (int64_t i = 0; i < count; ++i) {
        Y[i] = channel_tables[static_cast<size_t>((i % channels) * 256 + static_cast<uint8_t>(X[i]))];
      }
      return;
    }
    for (int64_t block = 0; block * inner < count; ++block) {
      const int64_t at = block * inner;
      env.elementwise->lut(X + at, inner, channel_tables.data() + (block % channels) * 256, Y + at);
    }
  }
};

// One window covering each plane: GlobalAveragePool, or a pool as big as its input.
bool IsWholePlane(const PoolWindow& w) {
  return w.oh == 1 && w.ow == 1 && w.kh >= w.ih && w.kw >= w.iw && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0;
}

// The plane a windowed average pool reads with its padding and ceil-mode overhang around the
// input; {0, 0} when every window lies inside the input.
std::pair<int64_t, int64_t> AvgPoolPaddedPlane(const PoolWindow& w) {
  const bool inside = w.pt == 0 && w.pl == 0 && (w.oh - 1) * w.sh + w.kh <= w.ih && (w.ow - 1) * w.sw + w.kw <= w.iw;
  if (inside) return {0, 0};
  return {std::max(w.pt + w.ih, (w.oh - 1) * w.sh + w.kh), std::max(w.pl + w.iw, (w.ow - 1) * w.sw + w.kw)};
}

// Scratch of a windowed int8 AveragePool: the int32 sums of one plane, then (if its windows
// reach past the input) one padded plane, then (rows shorter than the kernels' step) the long
// row's sums.
int64_t AvgPoolSumsBytes(const PoolWindow& w) { return (w.oh * w.ow * 4 + 63) / 64 * 64; }
int64_t AvgPoolPaddedBytes(const PoolWindow& w) {
  const auto [h, pw] = AvgPoolPaddedPlane(w);
  return (h * pw + 63) / 64 * 64;
}
int64_t AvgPoolFlatOutputs(const PoolWindow& w) {
  const int64_t padded_w = AvgPoolPaddedPlane(w).second;
  return FlatPoolOutputs(w.oh, w.ow, w.sh, w.sw, padded_w > 0 ? padded_w : w.iw);
}

class QAvgPoolStep : public Step, public PoolWindow {
 public:
  Ref x;
  int64_t out = 0;
  int32_t zi = 0, zo = 0, qmin = -128, qmax = 127;
  float ratio = 1;  // input scale / output scale
  // One window covering the whole plane (GlobalAveragePool, or a pool as big as its input):
  // the tier's plane sums, then the same division and rounding per plane.
  bool RunWholePlane(const ExecEnv& env, const int8_t* X, int8_t* Y) const {
    if (!IsWholePlane(*this)) return false;
    const int64_t count = ih * iw;
    const int64_t div = count;  // without pads the window is clipped to the plane either way
    constexpr int64_t kPlanesPerCall = 64;
    int32_t sums[kPlanesPerCall];
    for (int64_t p0 = 0; p0 < planes; p0 += kPlanesPerCall) {
      const int64_t n = std::min(kPlanesPerCall, planes - p0);
      env.elementwise->plane_sum(X + p0 * count, count, n, sums);
      for (int64_t p = 0; p < n; ++p) {
        const int32_t sum = sums[p] - zi * static_cast<int32_t>(count);
        const float mean = static_cast<float>(sum) / static_cast<float>(div);
        Y[p0 + p] = Saturate(mean * ratio, zo, qmin, qmax);
      }
    }
    return true;
  }

  // Windows smaller than the plane. Per plane: the plane copied into scratch with the input
  // zero point around it (padded_w > 0; a padding or ceil-mode element then adds 0 to a sum
  // of x - zi), every window's int32 sum over kh x kw elements by the tier's row kernel (rows
  // shorter than its step: the plane as one long row, `flat`, as the int8 MaxPool does), then
  // the tier's division of each sum by its window's divisor (`divs`, fixed per position at
  // build time) and the same rounding as ever. Integer sums are exact in any order.
  int64_t sums = -1, padded = -1, padded_h = 0, padded_w = 0, flat = -1, flat_n = 0;
  std::vector<float> divs;  // [oh * ow]
  bool two_by_two = false;  // 2x2 stride 2, every window inside the input (ElementwiseKernels::avg_pool_2x2)

  void Run(const ExecEnv& env) const override {
    const int8_t* X = x.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    if (RunWholePlane(env, X, Y)) return;
    if (two_by_two && env.elementwise->avg_pool_2x2 != nullptr &&
        env.elementwise->avg_pool_2x2(AvgPool2x2Args{X, planes, ih, iw, oh, ow, zi, ratio, zo, qmin, qmax, Y})) {
      return;
    }
    int32_t* S = reinterpret_cast<int32_t*>(env.arena + sums);
    int8_t* P = padded_w > 0 ? reinterpret_cast<int8_t*>(env.arena + padded) : nullptr;
    int32_t* F = flat >= 0 ? reinterpret_cast<int32_t*>(env.arena + flat) : nullptr;
    const int64_t pitch = padded_w > 0 ? padded_w : iw;
    const int32_t window_zero = static_cast<int32_t>(kh * kw) * zi;
    for (int64_t p = 0; p < planes; ++p) {
      const int8_t* src = X + p * ih * iw;
      if (P != nullptr) {
        PadPlanesS8(src, 1, ih, iw, pt, pl, padded_h, padded_w, static_cast<int8_t>(zi), P);
        src = P;
      }
      if (F != nullptr) {  // output j of the long row is the window at flat input j * sw
        env.elementwise->window_sum_row(WindowSumRowArgs{src, pitch, kh, flat_n, sw, kw, F});
        const int64_t row_step = sh * pitch / sw;
        for (int64_t oy = 0; oy < oh; ++oy) {
          for (int64_t ox = 0; ox < ow; ++ox) S[oy * ow + ox] = F[oy * row_step + ox] - window_zero;
        }
      } else {
        for (int64_t oy = 0; oy < oh; ++oy) {
          env.elementwise->window_sum_row(WindowSumRowArgs{src + oy * sh * pitch, pitch, kh, ow, sw, kw, S + oy * ow});
        }
        for (int64_t i = 0; i < oh * ow; ++i) S[i] -= window_zero;
      }
      env.elementwise->qmean(QMeanArgs{S, divs.data(), oh * ow, ratio, zo, qmin, qmax, Y + p * oh * ow});
    }
  }

  // The divisor of each output position, as ONNX counts it: with count_include_pad the window
  // clipped to the padded extent (a ceil-mode window past it counts less), else the input
  // elements it covers; 1 where it covers none (its sum is 0, and 0 / 1 gives the mean 0).
  void SetWindows() {
    divs.assign(static_cast<size_t>(oh * ow), 1.0f);
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t y0 = oy * sh - pt, x0 = ox * sw - pl;
        const int64_t y1 = std::min(y0 + kh, ih + pb), x1 = std::min(x0 + kw, iw + pr);
        const int64_t n = std::max<int64_t>(0, std::min(y1, ih) - std::max<int64_t>(y0, 0)) *
                          std::max<int64_t>(0, std::min(x1, iw) - std::max<int64_t>(x0, 0));
        const int64_t div = include_pad ? (y1 - y0) * (x1 - x0) : n;
        if (div > 0) divs[static_cast<size_t>(oy * ow + ox)] = static_cast<float>(div);
      }
    }
    std::tie(padded_h, padded_w) = AvgPoolPaddedPlane(*this);
    flat_n = AvgPoolFlatOutputs(*this);
    two_by_two = kh == 2 && kw == 2 && sh == 2 && sw == 2 && padded_w == 0;
  }
};

class QReduceMeanStep : public Step {
 public:
  Ref x;
  int64_t out = 0, out_count = 0, reduce_count = 0, acc = 0;  // acc: int32 scratch in arena
  BroadcastRuns runs;  // the input walked in runs, a indexing the output (ReduceByRuns)
  bool trailing = false;  // the reduced axes are the innermost ones: each output sums one contiguous run
  // The reduced axes one block between kept ones ([outer, reduce_count, inner], inner > 1: a
  // mean over frequency of [N, C, F, T]): per outer index, the column sums of reduce_count rows
  // of inner by the tier's window-sum rows (taps 1, stride 1).
  bool middle = false;
  int64_t outer = 0, inner = 0;
  std::vector<float> divs;  // reduce_count per output, for the tier's qmean
  int32_t zi = 0, zo = 0, qmin = -128, qmax = 127;
  float ratio = 1;
  void Run(const ExecEnv& env) const override {
    const int8_t* X = x.Get<int8_t>(env);
    int32_t* sums = reinterpret_cast<int32_t*>(env.arena + acc);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    // sum(x - zi) = sum(x) - reduce_count * zi, exact in int32
    const auto shift = [&] {  // the offset and count as locals: the loop vectorizes
      const int32_t offset = zi * static_cast<int32_t>(reduce_count);
      const int64_t count = out_count;
      for (int64_t i = 0; i < count; ++i) sums[i] -= offset;
    };
    if (trailing) {
      env.elementwise->plane_sum(X, reduce_count, out_count, sums);
      shift();
    } else if (middle) {
      for (int64_t o = 0; o < outer; ++o) {
        env.elementwise->window_sum_row(
            WindowSumRowArgs{X + o * reduce_count * inner, inner, reduce_count, inner, 1, 1, sums + o * inner});
      }
      shift();
    } else {
      for (int64_t i = 0; i < out_count; ++i) sums[i] = 0;
      const int32_t z = zi;
      ReduceByRuns(runs, X, sums, [z](int32_t a, int8_t v) { return a + (static_cast<int32_t>(v) - z); });
    }
    // mean = sum / count, then the output's rounding, as QMeanScalar (AveragePool) computes it
    env.elementwise->qmean(QMeanArgs{sums, divs.data(), out_count, ratio, zo, qmin, qmax, Y});
  }
};

// Requantizes int8 inputs to new parameters, concatenated along an axis (one input: Requant).
class QConcatStep : public Step {
 public:
  static constexpr int kMaxInputs = 64;
  Ref in[kMaxInputs];
  int64_t chunk[kMaxInputs] = {};
  float ratio[kMaxInputs] = {};
  int32_t zi[kMaxInputs] = {};
  // The input's parameters are the output's and nothing is clamped: its bytes are copied
  // (ratio 1 and zi == zo make SaturateToInt8(x - zi) + zo == x for every int8 x).
  bool same_params[kMaxInputs] = {};
  bool in_place[kMaxInputs] = {};  // same_params, and written at its part of the output by its producer
  // Where an input the Concat requantizes comes in short parts (QConcatStaged): the whole input
  // requantized in one call into scratch at this arena offset, its parts then copied; -1: each
  // part requantized on its way (a call per part costs more than its elements below ~256).
  int64_t staged[kMaxInputs];
  QConcatStep() { std::fill(std::begin(staged), std::end(staged), int64_t{-1}); }
  int inputs = 0;
  int64_t outer = 0, out = 0;
  int32_t zo = 0, qmin = -128, qmax = 127;
  void Run(const ExecEnv& env) const override {
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    for (int i = 0; i < inputs; ++i) {
      if (staged[i] >= 0) {
        env.elementwise->qrequant(QRequantArgs{in[i].Get<int8_t>(env), outer * chunk[i], ratio[i], zi[i], zo, qmin,
                                               qmax, reinterpret_cast<int8_t*>(env.arena + staged[i])});
      }
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int i = 0; i < inputs; ++i) {
        const int8_t* X = in[i].Get<int8_t>(env) + o * chunk[i];
        if (staged[i] >= 0) {
          CopyRun(Y, reinterpret_cast<const int8_t*>(env.arena + staged[i]) + o * chunk[i], chunk[i]);
        } else if (same_params[i]) {
          if (!in_place[i]) CopyRun(Y, X, chunk[i]);
        } else {
          env.elementwise->qrequant(QRequantArgs{X, chunk[i], ratio[i], zi[i], zo, qmin, qmax, Y});
        }
        Y += chunk[i];
      }
    }
  }
};

std::string Describe(const Node& n) { return n.onnx_op + " " + n.name + " (int8)"; }

// The activation's int8 lookup: for every input code, the float op on its value, requantized.
void FillUnaryTable(const Node& n, const QParams& in, const QParams& out, int8_t* table) {
  const UnaryParams p = UnaryParamsOf(n);
  for (int q = -128; q <= 127; ++q) {
    const float v = ApplyUnary(p, in.Dequantize(q));
    table[static_cast<uint8_t>(static_cast<int8_t>(q))] = Saturate(v / out.scale, out.zero_point, n.qmin, n.qmax);
  }
}

}  // namespace

// A gated Mul's table (Node::gate): code c times its gate's code g(c), as the int8 Mul step
// computes that pair (QBinaryRunScalar, which every tier's kernel equals), to value y's
// parameters: the bytes of the gate's step and the Mul's one after the other.
void GatedMulTable(const Node& n, const Graph& graph, int y, int8_t (&table)[256]) {
  const Node& gate = n.gate[0];
  const int s = gate.out[0];
  int8_t gated[256];
  LookupChainTable(gate, graph, gated);
  const QParams a = graph.values[n.in[0]].q, b = graph.values[s].q, o = graph.values[y].q;
  for (int c = -128; c <= 127; ++c) {
    const int8_t code = static_cast<int8_t>(c);
    QBinaryRunArgs p{};
    p.a = &code;
    p.b = &gated[static_cast<uint8_t>(code)];
    p.n = 1;
    p.mul = true;
    p.ra = a.scale * b.scale / o.scale;
    p.za = a.zero_point;
    p.zb = b.zero_point;
    p.zo = o.zero_point;
    p.qmin = n.qmin;
    p.qmax = n.qmax;
    p.y = &table[static_cast<uint8_t>(code)];
    QBinaryRunScalar(p);
  }
}

void LookupChainTable(const Node& node, const Graph& graph, int8_t (&table)[256]) {
  // a link's input: its lookup input; its output: the next link's input (the chain's node
  // carries the last link's output)
  const auto input_of = [&](const Node& n) { return n.in[static_cast<size_t>(LookupInputOf(n, graph))]; };
  const auto table_of = [&](const Node& n, int y, int8_t (&t)[256]) {
    if (n.kind == OpKind::kQLut) {
      FillUnaryTable(n, graph.values[n.in[0]].q, graph.values[y].q, t);
    } else if (n.kind == OpKind::kQMul) {
      GatedMulTable(n, graph, y, t);
    } else {
      QFloatLookupTable(n, graph, y, t);
    }
  };
  const size_t links = node.epilogue.size();
  table_of(node, links == 0 ? node.out[0] : input_of(node.epilogue[0]), table);
  for (size_t i = 0; i < links; ++i) {
    const Node& op = node.epilogue[i];
    int8_t next[256];
    table_of(op, i + 1 == links ? node.out[0] : input_of(node.epilogue[i + 1]), next);
    for (int8_t& t : table) t = next[static_cast<uint8_t>(t)];
  }
}

std::unique_ptr<Step> MakeLutStep(Ref x, int64_t count, const int8_t (&table)[256], int64_t out, std::string summary) {
  auto s = std::make_unique<QLutStep>();
  s->x = x;
  s->count = count;
  std::memcpy(s->table, table, sizeof(s->table));
  s->out = out;
  s->summary = std::move(summary);
  return s;
}

QEpilogueOp BuildQEpilogueOp(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const Value& y = ctx.V(n.out[0]);
  QEpilogueOp op;
  op.add = n.kind == OpKind::kQAdd;
  if (n.kind == OpKind::kRequant) {
    // a Concat's requantization (QConcatStep's ratio), code by code
    for (int c = -128; c <= 127; ++c) {
      const int8_t code = static_cast<int8_t>(c);
      QRequantScalar({&code, 1, x.q.scale / y.q.scale, x.q.zero_point, y.q.zero_point, n.qmin, n.qmax,
                      &op.table[static_cast<uint8_t>(code)]});
    }
    return op;
  }
  if (!op.add) {  // an activation's lookup, or a gated Mul (a lookup too)
    LookupChainTable(n, ctx.graph, op.table);
    return op;
  }
  const Value& b = ctx.V(n.in[1]);
  op.other = ctx.RefOf(n.in[1]);
  op.ra = x.q.scale / y.q.scale;
  op.rb = b.q.scale / y.q.scale;
  op.za = x.q.zero_point;
  op.zb = b.q.zero_point;
  op.zo = y.q.zero_point;
  op.qmin = n.qmin;
  op.qmax = n.qmax;
  return op;
}

void RunQEpilogueOp(const QEpilogueOp& op, const ExecEnv& env, int8_t* y, int64_t n) {
  if (op.add) {
    env.elementwise->qadd(
        QAddArgs{y, op.other.Get<int8_t>(env), n, op.ra, op.rb, op.za, op.zb, op.zo, op.qmin, op.qmax, y});
  } else {
    env.elementwise->lut(y, n, op.table, y);
  }
}

// The inputs of an int8 Concat it requantizes in short parts (below 256 elements each, more than
// one part): staged[i] = bytes before input i's stage in the scratch, or -1; returns the total.
constexpr int64_t kStagedPartBelow = 256;
int64_t QConcatStaged(const Node& n, const Graph& g, int64_t* staged) {
  const Value& y = g.values[n.out[0]];
  int64_t outer = 1;
  for (int64_t d = 0; d < n.axis; ++d) outer *= y.shape[static_cast<size_t>(d)];
  int64_t bytes = 0;
  for (size_t i = 0; i < n.in.size(); ++i) {
    const Value& v = g.values[n.in[i]];
    const bool stage = outer > 1 && v.elements > 0 && v.elements / outer < kStagedPartBelow && !g.ConcatCopies(n, n.in[i]);
    if (staged != nullptr) staged[i] = stage ? bytes : -1;
    if (stage) bytes += RoundUp(v.elements, 64);
  }
  return bytes;
}

int64_t QConcatScratchBytes(const Node& n, const Graph& g) {
  return n.kind == OpKind::kQConcat ? QConcatStaged(n, g, nullptr) : 0;
}

int64_t QAvgPoolScratchBytes(const Node& n, const Graph& g) {
  if (n.kind != OpKind::kQAvgPool) return 0;
  const PoolWindow w = PoolWindowOf(n, g.values[n.in[0]].shape, g.values[n.out[0]].shape, false);
  if (IsWholePlane(w)) return 0;
  return AvgPoolSumsBytes(w) + AvgPoolPaddedBytes(w) + AvgPoolFlatOutputs(w) * 4;
}

tl::unexpected<Error> NonFiniteRequant(const std::string& what) {
  return Fail(ErrorCode::kInvalidArgument, what + " is not finite (it overflows float): the scales are too far "
                                                  "apart to requantize between; quantize the model again or fix them");
}

Status CheckRequantRatios(const Node& n, BuildContext& ctx) {
  const float out = ctx.V(n.out[0]).q.scale;
  const auto scale = [](float s) { return (std::ostringstream() << s).str(); };
  const auto refuse = [&](float ratio, const std::string& scales) -> Status {
    if (std::isfinite(ratio)) return Ok();
    return NonFiniteRequant("requantization ratio (" + scales + " / output scale " + scale(out) + ")");
  };
  switch (n.kind) {
    case OpKind::kQMul: {
      const float a = ctx.V(n.in[0]).q.scale, b = ctx.V(n.gate.empty() ? n.in[1] : n.gate[0].out[0]).q.scale;
      return refuse(a * b / out, "input scales " + scale(a) + " x " + scale(b));
    }
    case OpKind::kQAdd:
    case OpKind::kQConcat:
    case OpKind::kRequant:
    case OpKind::kQAvgPool:
    case OpKind::kQGlobalAvgPool:
    case OpKind::kQReduceMean:
      for (int in : n.in) {
        const float s = ctx.V(in).q.scale;
        EDGE_TRY(refuse(s / out, "input scale " + scale(s)));
      }
      return Ok();
    default:
      return Ok();
  }
}

Result<std::unique_ptr<Step>> BuildQuantStep(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const Value& y = ctx.V(n.out[0]);
  EDGE_TRY(CheckRequantRatios(n, ctx));
  if (n.kind == OpKind::kQMul && !n.gate.empty()) {
    int8_t table[256];
    LookupChainTable(n, ctx.graph, table);
    return MakeLutStep(ctx.RefOf(n.in[0]), x.elements, table, ctx.Out(n), Describe(n) + LookupChainSummary(n));
  }
  switch (n.kind) {
    case OpKind::kQAdd:
    case OpKind::kQMul: {
      auto s = std::make_unique<QBinaryStep>();
      const Value& b = ctx.V(n.in[1]);
      s->a = ctx.RefOf(n.in[0]);
      s->b = ctx.RefOf(n.in[1]);
      s->mul = n.kind == OpKind::kQMul;
      s->plan = MakeBroadcastPlan(y.shape, x.shape, b.shape);
      s->runs = SplitBroadcastRuns(s->plan);
      s->rows = SplitBroadcastRows(s->runs);
      s->a_full = x.shape == y.shape;
      s->b_full = b.shape == y.shape;
      s->za = x.q.zero_point;
      s->zb = b.q.zero_point;
      s->zo = y.q.zero_point;
      s->qmin = n.qmin;
      s->qmax = n.qmax;
      if (s->mul) {
        s->ra = x.q.scale * b.q.scale / y.q.scale;
      } else {
        s->ra = x.q.scale / y.q.scale;
        s->rb = b.q.scale / y.q.scale;
      }
      s->out = ctx.Out(n);
      s->summary = Describe(n);
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kQLut: {
      int8_t table[256];
      LookupChainTable(n, ctx.graph, table);
      auto step = MakeLutStep(ctx.RefOf(n.in[0]), x.elements, table, ctx.Out(n), Describe(n) + LookupChainSummary(n));
      if (!n.channel_alpha.empty()) {
        auto& s = static_cast<QLutStep&>(*step);
        s.channels = static_cast<int64_t>(n.channel_alpha.size());
        if (x.shape.size() < 2 || x.shape[1] != s.channels) return Fail(ErrorCode::kInternal, "per-channel lookup off axis 1");
        s.inner = 1;
        for (size_t d = 2; d < x.shape.size(); ++d) s.inner *= x.shape[d];
        s.channel_tables.resize(static_cast<size_t>(s.channels) * 256);
        Node channel = n;
        for (int64_t c = 0; c < s.channels; ++c) {
          channel.alpha = n.channel_alpha[static_cast<size_t>(c)];
          if (!n.channel_beta.empty()) channel.beta = n.channel_beta[static_cast<size_t>(c)];
          FillUnaryTable(channel, x.q, y.q, s.channel_tables.data() + c * 256);
        }
      }
      return step;
    }
    case OpKind::kQAvgPool:
    case OpKind::kQGlobalAvgPool: {
      auto s = std::make_unique<QAvgPoolStep>();
      s->x = ctx.RefOf(n.in[0]);
      static_cast<PoolWindow&>(*s) = PoolWindowOf(n, x.shape, y.shape, n.kind == OpKind::kQGlobalAvgPool);
      if (!IsWholePlane(*s)) {
        if (ctx.scratch_offset < 0) return Fail(ErrorCode::kInternal, "AveragePool without scratch");
        s->SetWindows();
        s->sums = ctx.scratch_offset;
        s->padded = ctx.scratch_offset + AvgPoolSumsBytes(*s);
        if (s->flat_n > 0) s->flat = s->padded + AvgPoolPaddedBytes(*s);
      }
      s->zi = x.q.zero_point;
      s->zo = y.q.zero_point;
      s->qmin = n.qmin;
      s->qmax = n.qmax;
      s->ratio = x.q.scale / y.q.scale;
      s->out = ctx.Out(n);
      s->summary = Describe(n);
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kQReduceMean: {
      if (ctx.scratch_offset < 0) return Fail(ErrorCode::kInternal, "ReduceMean without scratch");
      auto s = std::make_unique<QReduceMeanStep>();
      s->x = ctx.RefOf(n.in[0]);
      const std::vector<int64_t> kept = KeptShape(n.axes, x.shape, &s->reduce_count);
      s->out_count = y.elements;
      s->runs = SplitBroadcastRuns(MakeBroadcastPlan(x.shape, kept, x.shape));
      s->trailing = ReducesTrailingPlanes(n.axes, x.shape);
      const int rank = static_cast<int>(x.shape.size());
      std::vector<bool> reduced(static_cast<size_t>(rank), false);
      for (int64_t a : n.axes) reduced[static_cast<size_t>(a)] = true;
      // middle: the reduced axes of size > 1 are one run of axes, kept ones of size > 1 after it
      int lo = rank, hi = -1;
      for (int d = 0; d < rank; ++d) {
        if (reduced[d] && x.shape[d] != 1) lo = std::min(lo, d), hi = std::max(hi, d);
      }
      bool block = !s->trailing && hi >= 0;
      for (int d = lo; block && d <= hi; ++d) block = reduced[d] || x.shape[d] == 1;
      if (block) {
        s->middle = true;
        s->outer = 1;
        s->inner = 1;
        for (int d = 0; d < lo; ++d) s->outer *= x.shape[d];
        for (int d = hi + 1; d < rank; ++d) s->inner *= x.shape[d];
      }
      s->divs.assign(static_cast<size_t>(s->out_count), static_cast<float>(s->reduce_count));
      s->acc = ctx.scratch_offset;
      s->zi = x.q.zero_point;
      s->zo = y.q.zero_point;
      s->qmin = n.qmin;
      s->qmax = n.qmax;
      s->ratio = x.q.scale / y.q.scale;
      s->out = ctx.Out(n);
      s->summary = Describe(n);
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kQConcat:
    case OpKind::kRequant: {
      if (n.in.size() > static_cast<size_t>(QConcatStep::kMaxInputs)) {
        return Fail(ErrorCode::kInvalidArgument, "Concat of more than 64 inputs");
      }
      auto s = std::make_unique<QConcatStep>();
      s->outer = 1;
      for (int64_t d = 0; d < n.axis; ++d) s->outer *= y.shape[d];
      for (size_t i = 0; i < n.in.size(); ++i) {
        const Value& v = ctx.V(n.in[i]);
        s->in[i] = ctx.RefOf(n.in[i]);
        s->chunk[i] = s->outer == 0 ? 0 : v.elements / s->outer;
        s->ratio[i] = v.q.scale / y.q.scale;
        s->zi[i] = v.q.zero_point;
        s->same_params[i] = ctx.graph.ConcatCopies(n, n.in[i]);
      }
      s->inputs = static_cast<int>(n.in.size());
      if (QConcatStaged(n, ctx.graph, s->staged) > 0 && ctx.scratch_offset < 0) {
        return Fail(ErrorCode::kInternal, "Concat without scratch");
      }
      for (int i = 0; i < s->inputs; ++i) {
        if (s->staged[i] >= 0) s->staged[i] += ctx.scratch_offset;
      }
      s->zo = y.q.zero_point;
      s->qmin = n.qmin;
      s->qmax = n.qmax;
      s->out = ctx.Out(n);
      s->summary = Describe(n);
      if (const int placed = MarkInPlaceParts(s->in, s->chunk, s->inputs, s->outer, s->out, s->in_place)) {
        s->summary.insert(s->summary.size() - 1,
                          ", " + std::to_string(placed) + " of " + std::to_string(s->inputs) + " inputs written in place");
      }
      return std::unique_ptr<Step>(std::move(s));
    }
    default:
      return Fail(ErrorCode::kInternal, "no int8 kernel for this node");
  }
}

}  // namespace edge::engine
