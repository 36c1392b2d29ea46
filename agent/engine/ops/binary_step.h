// Add, Sub, Mul, Div, Max and Min with ONNX broadcasting, for float32 and the exact integer
// types: one step, the element arithmetic chosen by type. Pow (float32 only).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "agent/engine/compile.h"
#include "agent/engine/ops/broadcast.h"
#include "agent/engine/ops/element_types.h"
#include "agent/engine/ops/portable_math.h"

namespace edge::engine {

// Calls visit(f) with f the element operation of `kind` (Add .. Min, Pow for float, else Div):
// the one definition of each op's arithmetic, shared by every step that applies it.
template <typename T, typename Visit>
void WithElementOp(OpKind kind, Visit visit) {
  using E = ElementArith<T>;
  switch (kind) {
    case OpKind::kAdd: visit([](T x, T y) { return E::Add(x, y); }); break;
    case OpKind::kSub: visit([](T x, T y) { return E::Sub(x, y); }); break;
    case OpKind::kMul: visit([](T x, T y) { return E::Mul(x, y); }); break;
    // Clip with computed bounds is max(x, lo) then min(., hi): a NaN x stays NaN.
    case OpKind::kMax: visit([](T x, T y) { return E::Max(x, y); }); break;
    case OpKind::kMin: visit([](T x, T y) { return E::Min(x, y); }); break;
    case OpKind::kPow:
      if constexpr (std::is_floating_point_v<T>) visit([](T x, T y) { return portable::Pow(x, y); });
      break;
    default: visit([](T x, T y) { return E::Div(x, y); }); break;
  }
}

template <typename T>
class BinaryStep : public Step {
 public:
  Ref a, b;
  int64_t out = 0;
  OpKind kind = OpKind::kAdd;
  // The broadcast as runs in which each operand is contiguous or one value (ops/broadcast.h):
  // a loop per run with constant operand steps, which the compiler vectorizes, instead of the
  // index walk per element. The same element operation in the same order: the same bits.
  BroadcastRuns runs;

  template <int64_t kAStep, int64_t kBStep, typename F>
  static void RunOf(const T* __restrict A, const T* __restrict B, T* __restrict Y, int64_t n, F f) {
    for (int64_t e = 0; e < n; ++e) Y[e] = f(A[e * kAStep], B[e * kBStep]);
  }

  template <typename F>
  void Walk(const T* A, const T* B, T* Y, F f) const {
    const int64_t run = runs.run;
    const int steps = static_cast<int>(runs.a_step * 2 + runs.b_step);
    ForEachBroadcast(runs.outer, [&](int64_t o, int64_t i, int64_t j) {
      T* y = Y + o * run;
      switch (steps) {
        case 3: RunOf<1, 1>(A + i, B + j, y, run, f); break;
        case 2: RunOf<1, 0>(A + i, B + j, y, run, f); break;
        case 1: RunOf<0, 1>(A + i, B + j, y, run, f); break;
        default: RunOf<0, 0>(A + i, B + j, y, run, f); break;
      }
    });
  }

  void Run(const ExecEnv& env) const override {
    const T* A = a.Get<T>(env);
    const T* B = b.Get<T>(env);
    T* Y = reinterpret_cast<T*>(env.arena + out);
    WithElementOp<T>(kind, [&](auto f) { Walk(A, B, Y, f); });
  }
};

template <typename T>
std::unique_ptr<Step> MakeBinaryStep(const Node& n, BuildContext& ctx, const std::string& summary) {
  auto s = std::make_unique<BinaryStep<T>>();
  s->a = ctx.RefOf(n.in[0]);
  s->b = ctx.RefOf(n.in[1]);
  s->kind = n.kind;
  s->runs = SplitBroadcastRuns(MakeBroadcastPlan(ctx.V(n.out[0]).shape, ctx.V(n.in[0]).shape, ctx.V(n.in[1]).shape));
  s->out = ctx.Out(n);
  s->summary = summary;
  return s;
}

}  // namespace edge::engine
