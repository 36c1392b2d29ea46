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

template <typename T>
class BinaryStep : public Step {
 public:
  Ref a, b;
  int64_t out = 0;
  OpKind kind = OpKind::kAdd;
  BroadcastPlan plan;
  void Run(const ExecEnv& env) const override {
    using E = ElementArith<T>;
    const T* A = a.Get<T>(env);
    const T* B = b.Get<T>(env);
    T* Y = reinterpret_cast<T*>(env.arena + out);
    switch (kind) {
      case OpKind::kAdd: ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = E::Add(A[i], B[j]); }); break;
      case OpKind::kSub: ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = E::Sub(A[i], B[j]); }); break;
      case OpKind::kMul: ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = E::Mul(A[i], B[j]); }); break;
      // Clip with computed bounds is max(x, lo) then min(., hi): a NaN x stays NaN.
      case OpKind::kMax: ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = E::Max(A[i], B[j]); }); break;
      case OpKind::kMin: ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = E::Min(A[i], B[j]); }); break;
      case OpKind::kPow:
        if constexpr (std::is_floating_point_v<T>) {
          ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = portable::Pow(A[i], B[j]); });
        }
        break;
      default: ForEachBroadcast(plan, [&](int64_t o, int64_t i, int64_t j) { Y[o] = E::Div(A[i], B[j]); }); break;
    }
  }
};

template <typename T>
std::unique_ptr<Step> MakeBinaryStep(const Node& n, BuildContext& ctx, const std::string& summary) {
  auto s = std::make_unique<BinaryStep<T>>();
  s->a = ctx.RefOf(n.in[0]);
  s->b = ctx.RefOf(n.in[1]);
  s->kind = n.kind;
  s->plan = MakeBroadcastPlan(ctx.V(n.out[0]).shape, ctx.V(n.in[0]).shape, ctx.V(n.in[1]).shape);
  s->out = ctx.Out(n);
  s->summary = summary;
  return s;
}

}  // namespace edge::engine
