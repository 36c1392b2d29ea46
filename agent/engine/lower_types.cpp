// Exact integer and bool tensors: the graph's typed edges, Cast, integer arithmetic and Clip,
// and Quantize/DequantizeLinear whose scale or zero point is computed (a graph input).
// Float16 and double are float32 inside the engine (DType's comment).
#include "agent/engine/lowerer.h"
#include "agent/engine/ops/element_types.h"
#include "agent/engine/ops/unary_math.h"

namespace edge::engine::lowering {

namespace {

// For emitters whose new value the caller does not need.
Status AsStatus(const Result<int>& r) {
  if (!r) return Fail(r.error());
  return Ok();
}

bool IsFloatFamily(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kF64; }

// Cast to float16 rounds a float32 to its precision (the result is exact in float32); the other
// float targets leave it as it is. (bfloat16 is refused by type: ONNX 1.12's reference data
// truncates the float where rounding to nearest even is the usual rule; the engine picks neither.)
std::optional<UnaryKind> RoundingTo(DType to) {
  if (to == DType::kF16) return UnaryKind::kRoundToFloat16;
  return std::nullopt;
}

// ONNX Cast of a constant, with the kernels' element semantics (CastElement, ApplyUnary).
ConstTensor CastConst(const ConstTensor& t, DType to) {
  ConstTensor r;
  r.shape = t.shape;
  if (IsFloatFamily(to)) {
    r.dtype = DType::kF32;
    if (t.is_float()) {
      r.f = t.f;
    } else {
      for (int64_t v : t.i) r.f.push_back(static_cast<float>(v));
    }
    if (auto rounding = RoundingTo(to)) {
      UnaryParams p;
      p.kind = *rounding;
      for (float& v : r.f) v = ApplyUnary(p, v);
    }
    return r;
  }
  r.dtype = to;
  VisitStorageType(to, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (t.is_float()) {
      for (float v : t.f) r.i.push_back(static_cast<int64_t>(CastElement<T>(v)));
    } else {
      for (int64_t v : t.i) r.i.push_back(static_cast<int64_t>(CastElement<T>(v)));
    }
  });
  return r;
}

}  // namespace

std::optional<DType> Lowerer::ComputedIntegerType(const std::string& name) {
  auto s = Get(name);
  if (!s || s->kind != Sym::Kind::kInt) return std::nullopt;
  return g_.values[s->value].dtype;
}

Result<int> Lowerer::AsInteger(const std::string& name, DType type) {
  if (IsConst(name)) {
    const ConstTensor& t = consts_.at(name);
    if (t.dtype != type) {
      return Fail(ErrorCode::kInvalidArgument, "constant '" + name + "' is " + DTypeName(t.dtype) +
                                                   " where " + DTypeName(type) + " is expected");
    }
    Value v;
    v.name = name;
    v.dtype = type;
    v.shape = t.shape;
    v.elements = t.elements();
    v.is_const = true;
    v.cint = t.i;
    return g_.AddValue(std::move(v));
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(name));
  if (s.kind != Sym::Kind::kInt || g_.values[s.value].dtype != type) {
    return Fail(ErrorCode::kInvalidArgument, "input '" + name + "' must be " + DTypeName(type) +
                                                 " like the other operand");
  }
  return s.value;
}

Result<int> Lowerer::AddCast(const OnnxNode& src, int in, const std::string& out_name, DType to) {
  return AddStep(MakeNode(OpKind::kCast, src), {in}, out_name, to, ShapeOf(in));
}

Status Lowerer::BindGraphInput(const OnnxIo& io) {
  Value v;
  v.name = io.name;
  v.dtype = DType::kF32;
  v.shape = io.shape;
  if (io.batched()) v.shape[0] = options_.batch;
  const int id = AddActivation(std::move(v));
  g_.inputs.push_back(id);
  g_.input_types.push_back(io.dtype);
  if (!IsIntegerType(io.dtype)) {
    if (io.dtype != DType::kF32) other_floats_[io.name] = io.dtype;
    SetFloat(io.name, id);
    return Ok();
  }
  OnnxNode edge;
  edge.name = io.name;
  edge.op_type = "Cast";  // the input's conversion from the caller's floats
  EDGE_TRY(AddCast(edge, id, io.name, io.dtype));
  return Ok();
}

Result<int> Lowerer::GraphOutputValue(const OnnxIo& io, DType& type) {
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(io.name));
  if (s.kind == Sym::Kind::kInt) {
    type = g_.values[s.value].dtype;
    OnnxNode edge;
    edge.name = io.name;
    edge.op_type = "Cast";  // the output's conversion to the caller's floats
    return AddCast(edge, s.value, FreshName(io.name + "#float"), DType::kF32);
  }
  if (s.kind == Sym::Kind::kConst && !consts_.at(io.name).is_float()) {
    type = consts_.at(io.name).dtype;
  } else if (auto it = other_floats_.find(io.name); it != other_floats_.end()) {
    type = it->second;  // float32 inside; the caller learns what it stands for
  }
  return AsFloat(io.name);
}

Status Lowerer::LowerCast(const OnnxNode& n) {
  // `saturate` (opset 19) concerns float8 targets only, which are refused by type.
  EDGE_TRY(onnx_.opset < 19 ? CheckAttrs(n, {"to"}) : CheckAttrs(n, {"to", "saturate"}));
  if (n.Find("to") == nullptr) return Fail(ErrorCode::kInvalidArgument, "attribute 'to' is required");
  EDGE_ASSIGN_OR_RETURN(const DType to, DTypeOfOnnx(static_cast<int32_t>(n.Int("to", 0)), "Cast target", true));
  return EmitCast(n, to);
}

// CastLike(input, target_type): Cast to the element type of target_type, whose values are
// never read.
Status Lowerer::LowerCastLike(const OnnxNode& n) {
  EDGE_TRY(onnx_.opset < 19 ? CheckAttrs(n, {}) : CheckAttrs(n, {"saturate"}));
  if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "expects two inputs");
  const std::string& like = n.inputs[1];
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(like));
  DType to = DType::kF32;
  if (auto it = other_floats_.find(like); it != other_floats_.end()) {
    to = it->second;
  } else if (s.kind == Sym::Kind::kInt) {
    to = g_.values[s.value].dtype;
  } else if (s.kind == Sym::Kind::kConst) {
    to = consts_.at(like).dtype;
  } else if (s.kind == Sym::Kind::kInt8Raw) {
    return Fail(ErrorCode::kInvalidArgument, "target_type is the raw int8 output of a QuantizeLinear");
  }
  return EmitCast(n, to);
}

Status Lowerer::EmitCast(const OnnxNode& n, DType to) {
  const std::string& in = n.inputs[0];
  const std::string& out = n.outputs[0];
  if (to == DType::kF16 || to == DType::kF64) other_floats_[out] = to;
  if (IsConst(in) || IsQConst(in)) {
    consts_[out] = CastConst(IsConst(in) ? consts_.at(in) : *FloatConst(in), to);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind == Sym::Kind::kInt8Raw) {
    return Fail(ErrorCode::kInvalidArgument, "Cast of the raw int8 output of a QuantizeLinear is not supported");
  }
  int x = s.value;
  if (s.kind == Sym::Kind::kInt) {
    const DType from = g_.values[x].dtype;
    if (from == to) {
      syms_[out] = s;
      return Ok();
    }
    if (IsIntegerType(to)) return AsStatus(AddCast(n, x, out, to));
    // To a float type: to float32, then (float16) rounded unless every value of the
    // source type is exact in the target (int8, uint8, bool).
    const bool exact = from == DType::kI8 || from == DType::kU8 || from == DType::kBool;
    if (!RoundingTo(to) || exact) return AsStatus(AddCast(n, x, out, DType::kF32));
    EDGE_ASSIGN_OR_RETURN(x, AddCast(n, x, FreshName(out + "#float"), DType::kF32));
  } else {
    EDGE_ASSIGN_OR_RETURN(x, AsFloat(in));
    if (IsIntegerType(to)) return AsStatus(AddCast(n, x, out, to));
  }
  if (auto rounding = RoundingTo(to)) {
    Node round = MakeNode(OpKind::kUnary, n);
    round.unary = *rounding;
    return AsStatus(AddFloatStep(std::move(round), {x}, out, ShapeOf(x)));
  }
  SetFloat(out, x);  // float32 and double are both float32 here
  return Ok();
}

Status Lowerer::LowerIntegerBinary(const OnnxNode& n, DType type, const std::vector<int64_t>& shape) {
  if (type == DType::kBool) {
    return Fail(ErrorCode::kInvalidArgument, n.op_type + " of bool tensors is not defined by ONNX");
  }
  EDGE_ASSIGN_OR_RETURN(int a, AsInteger(n.inputs[0], type));
  EDGE_ASSIGN_OR_RETURN(int b, AsInteger(n.inputs[1], type));
  const OpKind kind = n.op_type == "Add"   ? OpKind::kAdd
                      : n.op_type == "Sub" ? OpKind::kSub
                      : n.op_type == "Mul" ? OpKind::kMul
                                           : OpKind::kDiv;
  return AsStatus(AddStep(MakeNode(kind, n), {a, b}, n.outputs[0], type, shape));
}

Result<bool> Lowerer::TryEmitInteger(const OnnxNode& n, Node& node, const std::vector<int64_t>& shape) {
  auto type = ComputedIntegerType(n.inputs[0]);
  if (!type) return false;
  EDGE_TRY(AddStep(std::move(node), {syms_.at(n.inputs[0]).value}, n.outputs[0], *type, shape));
  return true;
}

// Clip of an integer tensor: Max with min, then Min with max, each bound an optional scalar
// (constant or computed) of the input's type; no bounds is the tensor itself.
namespace {

// Checks a runtime scale / zero point against x: one element, or x.shape[axis] elements.
Result<int64_t> QParamsAxis(const OnnxNode& n, const std::vector<int64_t>& x_shape,
                            const std::vector<int64_t>& scale_shape, int64_t opset) {
  int64_t count = 1;
  for (int64_t d : scale_shape) count *= d;
  if (count == 1) return int64_t{0};
  if (scale_shape.size() != 1 || opset < 13) {
    return Fail(ErrorCode::kInvalidArgument, "scale must be a scalar or (opset 13 and later) a 1-D tensor");
  }
  EDGE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(n.Int("axis", 1), static_cast<int64_t>(x_shape.size())));
  if (x_shape[axis] != count) {
    return Fail(ErrorCode::kInvalidArgument, "per-axis scale count does not match the axis");
  }
  return axis;
}

}  // namespace

Status Lowerer::LowerQuantizeTyped(const OnnxNode& n) {
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing scale");
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int scale, AsFloat(n.inputs[1]));
  Node node = MakeNode(OpKind::kQuantizeTyped, n);
  EDGE_ASSIGN_OR_RETURN(node.axis, QParamsAxis(n, ShapeOf(x), ShapeOf(scale), onnx_.opset));
  std::vector<int> in = {x, scale};
  DType type = DType::kU8;  // ONNX: no zero point means uint8
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const std::string& zp = n.inputs[2];
    auto computed = ComputedIntegerType(zp);
    type = computed ? *computed : IsConst(zp) ? consts_.at(zp).dtype : DType::kF32;
    if (type != DType::kU8 && type != DType::kI8) {
      return Fail(ErrorCode::kInvalidArgument, "zero point must be int8 or uint8");
    }
    EDGE_ASSIGN_OR_RETURN(int z, AsInteger(zp, type));
    if (g_.values[z].elements != g_.values[scale].elements) {
      return Fail(ErrorCode::kInvalidArgument, "scale and zero point sizes differ");
    }
    in.push_back(z);
  }
  return AsStatus(AddStep(std::move(node), std::move(in), n.outputs[0], type, ShapeOf(x)));
}

Status Lowerer::LowerDequantizeTyped(const OnnxNode& n) {
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing scale");
  auto type = ComputedIntegerType(n.inputs[0]);
  if (!type || (*type != DType::kI8 && *type != DType::kU8 && *type != DType::kI32)) {
    return Fail(ErrorCode::kInvalidArgument, "input must be int8, uint8 or int32");
  }
  const int x = syms_.at(n.inputs[0]).value;
  EDGE_ASSIGN_OR_RETURN(int scale, AsFloat(n.inputs[1]));
  Node node = MakeNode(OpKind::kDequantizeTyped, n);
  EDGE_ASSIGN_OR_RETURN(node.axis, QParamsAxis(n, ShapeOf(x), ShapeOf(scale), onnx_.opset));
  std::vector<int> in = {x, scale};
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    EDGE_ASSIGN_OR_RETURN(int z, AsInteger(n.inputs[2], *type));
    if (g_.values[z].elements != g_.values[scale].elements) {
      return Fail(ErrorCode::kInvalidArgument, "scale and zero point sizes differ");
    }
    in.push_back(z);
  }
  return AsStatus(AddStep(std::move(node), std::move(in), n.outputs[0], DType::kF32, ShapeOf(x)));
}

}  // namespace edge::engine::lowering
