// Steps on exact integer tensors (int8, uint8, int32, int64, bool as ONNX defines them, not
// quantized activations): Cast, integer Add/Sub/Mul/Div/Max/Min, and Quantize/DequantizeLinear
// whose scale and zero point are operands rather than load-time constants. Scalar loops: such
// tensors are rare in real models (graph edges, small index math), so exactness is the point.
#include <cstring>

#include "agent/engine/compile.h"
#include "agent/engine/ops/binary_step.h"
#include "agent/engine/ops/element_types.h"

namespace edge::engine {

void StoreInteger(DType type, int64_t value, void* dst) {
  VisitStorageType(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = static_cast<T>(value);
    std::memcpy(dst, &v, sizeof(T));
  });
}

namespace {

int64_t LoadInteger(DType type, const std::byte* base, int64_t k) {
  return VisitStorageType(type, [&](auto tag) -> int64_t {
    using T = typename decltype(tag)::type;
    T v;
    std::memcpy(&v, base + k * static_cast<int64_t>(sizeof(T)), sizeof(T));
    return static_cast<int64_t>(v);
  });
}

std::string Describe(const Node& n, const std::string& detail) {
  return n.onnx_op + " " + n.name + " (" + detail + ")";
}

using CastFn = void (*)(const std::byte* src, std::byte* dst, int64_t count);

template <typename From, typename To>
void CastLoop(const std::byte* src, std::byte* dst, int64_t count) {
  const From* x = reinterpret_cast<const From*>(src);
  To* y = reinterpret_cast<To*>(dst);
  for (int64_t i = 0; i < count; ++i) y[i] = CastElement<To>(x[i]);
}

class CastStep : public Step {
 public:
  Ref x;
  int64_t out = 0, count = 0;
  CastFn cast = nullptr;
  void Run(const ExecEnv& env) const override { cast(x.Get<std::byte>(env), env.arena + out, count); }
};

// Scale and zero point of Quantize/DequantizeLinear read at run time: one element, or one per
// index of the axis (element i of x uses channel (i / inner) % channels).
struct RuntimeQParams {
  Ref scale, zero_point;
  DType zp_type = DType::kI8;
  bool has_zp = false;
  int64_t channels = 1, inner = 1;

  float Scale(const ExecEnv& env, int64_t c) const { return scale.Get<float>(env)[c]; }
  int64_t ZeroPoint(const ExecEnv& env, int64_t c) const {
    return has_zp ? LoadInteger(zp_type, zero_point.Get<std::byte>(env), c) : 0;
  }
};

// y = saturate(round_half_even(x / scale) + zero_point) into int8 or uint8, through the same
// kernel as the load-time QuantizeLinear (uint8 is computed in the int8 domain, q - 128).
class QuantizeTypedStep : public Step, public RuntimeQParams {
 public:
  Ref x;
  int64_t out = 0, count = 0;
  bool u8 = false;
  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    for (int64_t begin = 0, block = 0; begin < count; begin += inner, ++block) {
      const int64_t c = block % channels;
      const int64_t z = ZeroPoint(env, c) - (u8 ? 128 : 0);
      env.elementwise->quantize(X + begin, inner, Scale(env, c), static_cast<int32_t>(z), Y + begin);
    }
    if (u8) {
      for (int64_t i = 0; i < count; ++i) Y[i] = static_cast<int8_t>(static_cast<uint8_t>(Y[i]) ^ 0x80u);
    }
  }
};

template <typename T>
class DequantizeTypedStep : public Step, public RuntimeQParams {
 public:
  Ref x;
  int64_t out = 0, count = 0;
  void Run(const ExecEnv& env) const override {
    const T* X = x.Get<T>(env);
    float* Y = reinterpret_cast<float*>(env.arena + out);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t c = (i / inner) % channels;
      Y[i] = Scale(env, c) * static_cast<float>(static_cast<int64_t>(X[i]) - ZeroPoint(env, c));
    }
  }
};

RuntimeQParams RuntimeQParamsOf(const Node& n, BuildContext& ctx) {
  RuntimeQParams p;
  p.scale = ctx.RefOf(n.in[1]);
  p.has_zp = n.in.size() > 2;
  if (p.has_zp) {
    p.zero_point = ctx.RefOf(n.in[2]);
    p.zp_type = ctx.V(n.in[2]).dtype;
  }
  const Value& x = ctx.V(n.in[0]);
  p.channels = ctx.V(n.in[1]).elements;
  p.inner = x.elements;
  if (p.channels > 1) {
    p.inner = 1;
    for (size_t d = static_cast<size_t>(n.axis) + 1; d < x.shape.size(); ++d) p.inner *= x.shape[d];
  }
  return p;
}

}  // namespace

Result<std::unique_ptr<Step>> BuildTypedStep(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const Value& y = ctx.V(n.out[0]);
  const std::string types = DTypeName(x.dtype) + " -> " + DTypeName(y.dtype);
  switch (n.kind) {
    case OpKind::kCast: {
      auto s = std::make_unique<CastStep>();
      s->x = ctx.RefOf(n.in[0]);
      s->count = x.elements;
      s->cast = VisitStorageType(x.dtype, [&](auto from) {
        return VisitStorageType(y.dtype, [&](auto to) -> CastFn {
          return &CastLoop<typename decltype(from)::type, typename decltype(to)::type>;
        });
      });
      s->out = ctx.Out(n);
      s->summary = Describe(n, types);
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kQuantizeTyped: {
      auto s = std::make_unique<QuantizeTypedStep>();
      static_cast<RuntimeQParams&>(*s) = RuntimeQParamsOf(n, ctx);
      s->x = ctx.RefOf(n.in[0]);
      s->count = x.elements;
      s->u8 = y.dtype == DType::kU8;
      s->out = ctx.Out(n);
      s->summary = Describe(n, types);
      return std::unique_ptr<Step>(std::move(s));
    }
    case OpKind::kDequantizeTyped:
      return VisitStorageType(x.dtype, [&](auto tag) -> Result<std::unique_ptr<Step>> {
        auto s = std::make_unique<DequantizeTypedStep<typename decltype(tag)::type>>();
        static_cast<RuntimeQParams&>(*s) = RuntimeQParamsOf(n, ctx);
        s->x = ctx.RefOf(n.in[0]);
        s->count = x.elements;
        s->out = ctx.Out(n);
        s->summary = Describe(n, types);
        return std::unique_ptr<Step>(std::move(s));
      });
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kMax:
    case OpKind::kMin:
      if (!IsIntegerType(y.dtype) || y.dtype == DType::kBool) break;
      return VisitStorageType(y.dtype, [&](auto tag) -> Result<std::unique_ptr<Step>> {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return MakeBinaryStep<T>(n, ctx, Describe(n, DTypeName(y.dtype)));
        } else {
          return Fail(ErrorCode::kInternal, "no integer kernel for " + DTypeName(y.dtype));
        }
      });
    default:
      break;
  }
  return Fail(ErrorCode::kInternal, "no typed kernel for this node (" + types + ")");
}

}  // namespace edge::engine
