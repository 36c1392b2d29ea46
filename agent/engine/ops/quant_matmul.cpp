// int8 MatMul of two activations (DQ(a) x DQ(b) -> Q), batched with ONNX broadcasting over the
// leading dimensions: attention's Q.K^T and weights.V. Both operands change every run, so
// nothing is packed at load; the int32 sums are exact (the lowering bounds K) and each output
// is requantized like the GEMM kernels' (Requantize: multiply in float, clamp, round half to
// even, add the zero point), the same bytes at every tier.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/ops/broadcast.h"
#include "agent/engine/ops/quant_epilogue.h"

namespace edge::engine {
namespace {

class QMatMulStep : public Step {
 public:
  Ref a, b;
  int64_t out = 0, m = 0, n = 0, k = 0;
  BroadcastPlan batch;  // over the leading dimensions, in matrices
  int32_t za = 0, zb = 0, zo = 0, qmin = -128, qmax = 127;
  float mult = 1.0f;  // sa * sb / so

  void Run(const ExecEnv& env) const override {
    const int8_t* A = a.Get<int8_t>(env);
    const int8_t* B = b.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    ForEachBroadcast(batch, [&](int64_t o, int64_t ia, int64_t ib) {
      const int8_t* am = A + ia * m * k;
      const int8_t* bm = B + ib * k * n;
      int8_t* ym = Y + o * m * n;
      const QMatMulExactArgs args{am, bm, m, k, n, za, zb, mult, zo, qmin, qmax, nullptr, ym};
      if (env.elementwise->qmatmul_int != nullptr && env.elementwise->qmatmul_int(args)) return;
      if (RunInFloat(env, args)) return;
      for (int64_t i = 0; i < m; ++i) {
        // Row i in blocks of kBlock columns: the sums stay on the stack (Run allocates nothing)
        // and B is read along its rows.
        for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
          const int64_t width = std::min(kBlock, n - j0);
          int32_t acc[kBlock];
          for (int64_t j = 0; j < width; ++j) acc[j] = 0;
          // a loop over a row of B the compiler vectorizes (this file is built with -O3)
          for (int64_t t = 0; t < k; ++t) {
            const int32_t av = am[i * k + t] - za;
            const int8_t* __restrict br = bm + t * n + j0;
            for (int64_t j = 0; j < width; ++j) acc[j] += av * (static_cast<int32_t>(br[j]) - zb);
          }
          for (int64_t j = 0; j < width; ++j) ym[i * n + j0 + j] = Requantize(acc[j], mult, zo, qmin, qmax);
        }
      }
    });
  }

 private:
  static constexpr int64_t kBlock = 256;
  // Products of two zero-point-shifted int8 values are integers of at most 255 * 255 = 65025,
  // so a float sum of up to 258 of them stays below 2^24 and is exact at every step, in any
  // order: the same int32 sums as the integer loop, in the tier's float kernel
  // (ElementwiseKernels::qmatmul_exact; x86-64's baseline SSE2 has no vector 32-bit multiply).
  static constexpr int64_t kMaxFloatExactDepth = 258;
  static constexpr int64_t kMaxFloatRight = 4096;  // floats of B converted once, on the stack

  bool RunInFloat(const ExecEnv& env, QMatMulExactArgs args) const {
    if (k > kMaxFloatExactDepth || k * n > kMaxFloatRight) return false;
    float bf[kMaxFloatRight];
    args.bf = bf;
    env.elementwise->qmatmul_exact(args);
    return true;
  }
};

}  // namespace

Result<std::unique_ptr<Step>> BuildQuantMatMulStep(const Node& n, BuildContext& ctx) {
  const Value& a = ctx.V(n.in[0]);
  const Value& b = ctx.V(n.in[1]);
  const Value& y = ctx.V(n.out[0]);
  auto s = std::make_unique<QMatMulStep>();
  s->a = ctx.RefOf(n.in[0]);
  s->b = ctx.RefOf(n.in[1]);
  s->m = a.shape[a.shape.size() - 2];
  s->k = a.shape.back();
  s->n = b.shape.back();
  const std::vector<int64_t> ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2),
      ob(y.shape.begin(), y.shape.end() - 2);
  s->batch = MakeBroadcastPlan(ob, ab, bb);
  s->za = a.q.zero_point;
  s->zb = b.q.zero_point;
  s->zo = y.q.zero_point;
  s->qmin = n.qmin;
  s->qmax = n.qmax;
  s->mult = a.q.scale * b.q.scale / y.q.scale;
  if (!std::isfinite(s->mult)) return NonFiniteRequant("requantization multiplier (input scales / output scale)");
  s->out = ctx.Out(n);
  s->summary = n.onnx_op + " " + n.name + " (" + std::to_string(s->m) + "x" + std::to_string(s->k) + "x" +
               std::to_string(s->n) + ", int8 x int8)";
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace edge::engine
