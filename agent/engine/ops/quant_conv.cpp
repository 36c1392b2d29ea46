// int8 Conv and Gemm/MatMul: weights packed once at load, activations packed per run into
// the step's scratch, then one call of the tier's QGemm kernel per group.
#include <algorithm>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/im2col_u8.h"

namespace edge::engine {
namespace {

struct ConvShape {
  int64_t batch, cin, cout, group, cin_g, cout_g, ih, iw, oh, ow, k, kp, pixels, np;
};

ConvShape ShapeOfConv(const Node& n, const Graph& g) {
  const Value& x = g.values[n.in[0]];
  const Value& y = g.values[n.out[0]];
  ConvShape s{};
  s.batch = x.shape[0];
  s.cin = x.shape[1];
  s.cout = y.shape[1];
  s.group = n.group;
  s.cin_g = s.cin / s.group;
  s.cout_g = s.cout / s.group;
  const bool two_d = x.shape.size() == 4;
  s.ih = two_d ? x.shape[2] : 1;
  s.iw = x.shape.back();
  s.oh = two_d ? y.shape[2] : 1;
  s.ow = y.shape.back();
  s.k = s.cin_g * n.kernel[0] * n.kernel[1];
  s.kp = RoundUp(s.k, 4);
  s.pixels = s.oh * s.ow;
  s.np = RoundUp(s.pixels, kQGemmColumnAlign);
  return s;
}

class QConvStep : public Step {
 public:
  Ref x;
  int64_t out = 0, scratch = 0;
  ConvShape shape{};
  ConvGeometry geom;
  uint8_t pad_byte = 0;
  std::vector<int8_t> pad_row;  // pad_byte ^ 0x80, read by taps that fall in the padding
  std::vector<int8_t> weights;  // [cout][kp]
  std::vector<int32_t> bias;    // [cout], shift and input zero point folded in
  std::vector<float> mult;      // [cout]
  int32_t zero_point = 0, qmin = -128, qmax = 127;

  void Run(const ExecEnv& env) const override {
    const int8_t* X = x.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    uint8_t* col = reinterpret_cast<uint8_t*>(env.arena + scratch);
    QGemmArgs a;
    a.weights = QGemmWeights::kLeft;
    a.m = shape.cout_g;
    a.n = shape.pixels;
    a.kp = shape.kp;
    a.np = shape.np;
    a.right = col;
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    a.ldo = shape.pixels;
    for (int64_t b = 0; b < shape.batch; ++b) {
      for (int64_t g = 0; g < shape.group; ++g) {
        Im2colU8(X + (b * shape.cin + g * shape.cin_g) * shape.ih * shape.iw, geom, pad_byte,
                 pad_row.data(), shape.kp, shape.np, col);
        a.left = reinterpret_cast<const uint8_t*>(weights.data() + g * shape.cout_g * shape.kp);
        a.bias = bias.data() + g * shape.cout_g;
        a.mult = mult.data() + g * shape.cout_g;
        a.out = Y + (b * shape.cout + g * shape.cout_g) * shape.pixels;
        env.qgemm(a);
      }
    }
  }
};

class QGemmStep : public Step {
 public:
  Ref x;
  int64_t out = 0, scratch = 0, m = 0, n = 0, k = 0, kp = 0, np = 0;
  std::vector<int8_t> packed;  // [kp/4][np][4]
  std::vector<int32_t> bias;   // [np]
  std::vector<float> mult;     // [np]
  int32_t zero_point = 0, qmin = -128, qmax = 127;

  void Run(const ExecEnv& env) const override {
    uint8_t* left = reinterpret_cast<uint8_t*>(env.arena + scratch);
    PackLeftU8(x.Get<int8_t>(env), m, k, kp, left);
    QGemmArgs a;
    a.weights = QGemmWeights::kRight;
    a.m = m;
    a.n = n;
    a.kp = kp;
    a.np = np;
    a.left = left;
    a.right = reinterpret_cast<const uint8_t*>(packed.data());
    a.bias = bias.data();
    a.mult = mult.data();
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    a.out = reinterpret_cast<int8_t*>(env.arena + out);
    a.ldo = n;
    env.qgemm(a);
  }
};

}  // namespace

int64_t ScratchBytes(const Node& n, const Graph& g) {
  if (n.kind == OpKind::kQConv) {
    const ConvShape s = ShapeOfConv(n, g);
    return s.kp * s.np;
  }
  if (n.kind == OpKind::kQGemm) {
    const Value& x = g.values[n.in[0]];
    const int64_t k = g.values[n.in[1]].shape[1];
    return (x.elements / k) * RoundUp(k, 4);
  }
  if (n.kind == OpKind::kQReduceMean) return g.values[n.out[0]].elements * 4;
  return 0;
}

Result<std::unique_ptr<Step>> BuildQuantMatrixStep(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const Value& w = ctx.V(n.in[1]);
  const Value& y = ctx.V(n.out[0]);
  const int32_t shift_zp = 128 + x.q.zero_point;
  if (n.kind == OpKind::kQConv) {
    auto s = std::make_unique<QConvStep>();
    s->shape = ShapeOfConv(n, ctx.graph);
    const ConvShape& cs = s->shape;
    s->x = ctx.RefOf(n.in[0]);
    s->out = ctx.Out(n);
    s->scratch = ctx.scratch_offset;
    s->geom = ConvGeometry{cs.cin_g, cs.ih, cs.iw, n.kernel[0], n.kernel[1], n.stride[0],
                           n.stride[1], n.dilation[0], n.dilation[1], n.pad[0], n.pad[1], cs.oh, cs.ow};
    s->pad_byte = static_cast<uint8_t>(x.q.zero_point + 128);
    s->pad_row.assign(static_cast<size_t>(Im2colPadRowLength(s->geom)), static_cast<int8_t>(x.q.zero_point));
    s->weights.assign(static_cast<size_t>(cs.cout * cs.kp), 0);
    s->bias.resize(static_cast<size_t>(cs.cout));
    s->mult.resize(static_cast<size_t>(cs.cout));
    for (int64_t c = 0; c < cs.cout; ++c) {
      int64_t sum = 0;
      for (int64_t k = 0; k < cs.k; ++k) {
        const int32_t v = w.ci[c * cs.k + k];
        s->weights[c * cs.kp + k] = static_cast<int8_t>(v);
        sum += v;
      }
      s->bias[c] = static_cast<int32_t>(n.bias_q[c] - shift_zp * sum);
      s->mult[c] = x.q.scale * w.cscale[c] / y.q.scale;
    }
    s->zero_point = y.q.zero_point;
    s->qmin = n.qmin;
    s->qmax = n.qmax;
    ctx.pool.total_bytes += static_cast<int64_t>(s->weights.size() + 8 * s->bias.size());
    s->summary = "QConv " + n.name + " (" + std::to_string(n.kernel[0]) + "x" + std::to_string(n.kernel[1]) +
                 ", " + std::to_string(cs.cin) + "->" + std::to_string(cs.cout) +
                 (cs.group > 1 ? ", group " + std::to_string(cs.group) : "") + ", int8)";
    return std::unique_ptr<Step>(std::move(s));
  }
  auto s = std::make_unique<QGemmStep>();
  s->n = w.shape[0];
  s->k = w.shape[1];
  s->m = x.elements / s->k;
  s->kp = RoundUp(s->k, 4);
  s->np = RoundUp(s->n, kQGemmColumnAlign);
  s->x = ctx.RefOf(n.in[0]);
  s->out = ctx.Out(n);
  s->scratch = ctx.scratch_offset;
  std::vector<int8_t> rows(static_cast<size_t>(s->n * s->k));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int8_t>(w.ci[i]);
  s->packed.resize(static_cast<size_t>(s->kp * s->np));
  PackRightS8(rows.data(), s->n, s->k, s->np, s->kp, s->packed.data());
  s->bias.assign(static_cast<size_t>(s->np), 0);
  s->mult.assign(static_cast<size_t>(s->np), 0.0f);
  for (int64_t c = 0; c < s->n; ++c) {
    int64_t sum = 0;
    for (int64_t k = 0; k < s->k; ++k) sum += rows[c * s->k + k];
    s->bias[c] = static_cast<int32_t>(n.bias_q[c] - shift_zp * sum);
    s->mult[c] = x.q.scale * w.cscale[c] / y.q.scale;
  }
  s->zero_point = y.q.zero_point;
  s->qmin = n.qmin;
  s->qmax = n.qmax;
  ctx.pool.total_bytes += static_cast<int64_t>(s->packed.size() + 8 * s->bias.size());
  s->summary = n.onnx_op + " " + n.name + " (" + std::to_string(s->m) + "x" + std::to_string(s->k) +
               "x" + std::to_string(s->n) + ", int8)";
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace edge::engine
