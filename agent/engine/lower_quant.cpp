#include "agent/engine/lowerer.h"

namespace edge::engine::lowering {

ConstTensor Lowerer::Dequantize(const QConst& qc) {
  ConstTensor t;
  t.dtype = DType::kF32;
  t.shape = qc.q.shape;
  t.f.resize(static_cast<size_t>(qc.q.elements()));
  int64_t inner = 1;
  if (qc.axis >= 0) {
    for (size_t k = static_cast<size_t>(qc.axis) + 1; k < qc.q.shape.size(); ++k) inner *= qc.q.shape[k];
  }
  const int64_t channels = static_cast<int64_t>(qc.scales.size());
  for (int64_t k = 0; k < qc.q.elements(); ++k) {
    const int64_t c = qc.axis >= 0 ? (k / inner) % channels : 0;
    t.f[k] = qc.scales[c] * static_cast<float>(qc.q.i[k] - qc.zps[c]);
  }
  return t;
}

bool Lowerer::IsQuant(const std::string& name) {
  auto s = Get(name);
  return s && s->kind == Sym::Kind::kQuant;
}

Result<std::optional<std::pair<QParams, bool>>> Lowerer::QuantizeParams(const OnnxNode& q) {
  if (q.inputs.size() < 2 || !IsConst(q.inputs[1])) return std::optional<std::pair<QParams, bool>>{};
  const ConstTensor& scale = consts_.at(q.inputs[1]);
  if (scale.elements() != 1 || !scale.is_float()) return std::optional<std::pair<QParams, bool>>{};
  QParams p;
  p.scale = scale.f[0];
  bool u8 = true;  // ONNX: no zero point means uint8
  if (q.inputs.size() > 2 && !q.inputs[2].empty()) {
    if (!IsConst(q.inputs[2])) return std::optional<std::pair<QParams, bool>>{};
    const ConstTensor& zp = consts_.at(q.inputs[2]);
    if (zp.elements() != 1 || (zp.dtype != DType::kI8 && zp.dtype != DType::kU8)) {
      return Fail(ErrorCode::kInvalidArgument,
                  q.Label() + ": zero point must be a scalar int8 or uint8");
    }
    u8 = zp.dtype == DType::kU8;
    p.zero_point = static_cast<int32_t>(zp.i[0]) - (u8 ? 128 : 0);
  } else {
    p.zero_point = -128;
  }
  if (!(p.scale > 0.0f) || !std::isfinite(p.scale)) {
    return Fail(ErrorCode::kInvalidArgument, q.Label() + ": scale must be positive and finite");
  }
  return std::optional<std::pair<QParams, bool>>{std::make_pair(p, u8)};
}

// Finds DequantizeLinear-fed op output -> [Relu | Clip] -> QuantizeLinear.
Result<std::optional<QuantTail>> Lowerer::MatchQuantTail(const std::string& out) {
  QuantTail tail;
  size_t c = 0;
  if (!SingleConsumer(out, c)) return std::optional<QuantTail>{};
  float lo = -INFINITY, hi = INFINITY;
  const OnnxNode* node = &onnx_.nodes[c];
  if (node->op_type == "Relu" || node->op_type == "Clip") {
    if (node->op_type == "Relu") {
      lo = 0.0f;
    } else {
      auto bounds = ClipBounds(*node);
      if (!bounds) return std::optional<QuantTail>{};
      lo = bounds->first;
      hi = bounds->second;
    }
    tail.consumed.push_back(c);
    if (!SingleConsumer(node->outputs[0], c)) return std::optional<QuantTail>{};
    node = &onnx_.nodes[c];
  }
  if (node->op_type != "QuantizeLinear") return std::optional<QuantTail>{};
  EDGE_ASSIGN_OR_RETURN(auto params, QuantizeParams(*node));
  if (!params) return std::optional<QuantTail>{};
  tail.consumed.push_back(c);
  tail.out_name = node->outputs[0];
  tail.q = params->first;
  tail.u8 = params->second;
  const double zp = tail.q.zero_point;
  if (std::isfinite(lo)) {
    tail.qmin = static_cast<int32_t>(std::clamp(std::nearbyint(lo / tail.q.scale) + zp, -128.0, 127.0));
  }
  if (std::isfinite(hi)) {
    tail.qmax = static_cast<int32_t>(std::clamp(std::nearbyint(hi / tail.q.scale) + zp, -128.0, 127.0));
  }
  if (tail.qmin > tail.qmax) return std::optional<QuantTail>{};
  return std::optional<QuantTail>{tail};
}

std::optional<std::pair<float, float>> Lowerer::ClipBounds(const OnnxNode& n) {
  float lo = -INFINITY, hi = INFINITY;
  if (onnx_.opset < 11) return std::make_pair(n.Float("min", lo), n.Float("max", hi));  // Clip-6: attributes
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    auto c = FloatConst(n.inputs[1]);
    if (!c || c->elements() != 1) return std::nullopt;
    lo = c->f[0];
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    auto c = FloatConst(n.inputs[2]);
    if (!c || c->elements() != 1) return std::nullopt;
    hi = c->f[0];
  }
  return std::make_pair(lo, hi);
}

Result<int> Lowerer::FinishQuant(const QuantTail& tail, const std::vector<int64_t>& shape, Node& node) {
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(tail.out_name, DType::kI8, shape, tail.q));
  node.out = {out};
  node.qmin = tail.qmin;
  node.qmax = tail.qmax;
  for (size_t c : tail.consumed) consumed_.insert(c);
  syms_[tail.out_name] = Sym{Sym::Kind::kInt8Raw, out, tail.u8};
  AddNode(std::move(node));
  return out;
}

// Emits `node` on the int8 value `x`; the output keeps x's quantization (layout ops and max,
// which commute with dequantization).
Status Lowerer::EmitQuantSameParams(const OnnxNode& n, Node node, int x, const std::vector<int64_t>& shape) {
  node.in = {x};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, shape, g_.values[x].q));
  node.out = {out};
  AddNode(std::move(node));
  SetQuant(n.outputs[0], out);
  return Ok();
}

// Bias element `i` in the int32 accumulator scale `acc_scale` (input scale x weight scale):
// an int32 QDQ bias already in that scale is taken as is, anything else is requantized from
// the float bias with round-half-to-even and saturation.
int32_t Lowerer::AccumulatorBias(const ConstTensor& bias, const QConst* bq, int64_t i, float acc_scale) {
  if (bq != nullptr && bq->is_int32 && bq->zps[bq->axis >= 0 ? i : 0] == 0 &&
      bq->scales[bq->axis >= 0 ? i : 0] == acc_scale) {
    return static_cast<int32_t>(bq->q.i[i]);
  }
  return static_cast<int32_t>(
      std::clamp(std::nearbyint(double(bias.f[i]) / acc_scale), double(INT32_MIN), double(INT32_MAX)));
}

// When the single input is int8 and a QuantizeLinear follows, emits `node` as the int8 op
// `qkind` ending in that quantization and returns true; otherwise leaves `node` unchanged.
Result<bool> Lowerer::TryQuantUnary(const OnnxNode& n, Node& node, OpKind qkind, const std::vector<int64_t>& shape) {
  if (!IsQuant(n.inputs[0])) return false;
  EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
  if (!tail) return false;
  node.kind = qkind;
  node.in = {syms_.at(n.inputs[0]).value};
  EDGE_TRY(FinishQuant(*tail, shape, node));
  return true;
}

Status Lowerer::LowerQuantize(const OnnxNode& n) {
  // QuantizeLinear-10 is per tensor; `axis` comes with 13, `saturate` with 19.
  EDGE_TRY(onnx_.opset < 13   ? CheckAttrs(n, {})
           : onnx_.opset < 19 ? CheckAttrs(n, {"axis"})
                              : CheckAttrs(n, {"axis", "saturate"}));
  EDGE_ASSIGN_OR_RETURN(auto params, QuantizeParams(n));
  // Computed or per-axis parameters: the exact typed form (no QDQ fusion).
  if (!params) return LowerQuantizeTyped(n);
  const auto [q, u8] = *params;
  const std::string& in = n.inputs[0];
  if (IsConst(in) || IsQConst(in)) {
    ConstTensor t = *FloatConst(in);
    ConstTensor r;
    r.dtype = u8 ? DType::kU8 : DType::kI8;
    r.shape = t.shape;
    for (float v : t.f) {
      // NaN saturates low, as the run-time quantize step does (a cast of NaN would be undefined).
      const double scaled = std::nearbyint(double(v) / q.scale) + q.zero_point;
      const double qv = std::isnan(scaled) ? -128.0 : std::clamp(scaled, -128.0, 127.0);
      r.i.push_back(static_cast<int64_t>(qv) + (u8 ? 128 : 0));
    }
    consts_[n.outputs[0]] = std::move(r);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind == Sym::Kind::kQuant) {
    const Value& src = g_.values[s.value];
    if (src.q == q) {
      syms_[n.outputs[0]] = Sym{Sym::Kind::kInt8Raw, s.value, u8};
      return Ok();
    }
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, src.shape, q));
    Node node = MakeNode(OpKind::kRequant, n);
    node.in = {s.value};
    node.out = {out};
    AddNode(std::move(node));
    syms_[n.outputs[0]] = Sym{Sym::Kind::kInt8Raw, out, u8};
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(in));
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, ShapeOf(x), q));
  Node node = MakeNode(OpKind::kQuantize, n);
  node.in = {x};
  node.out = {out};
  node.quant = q;
  AddNode(std::move(node));
  syms_[n.outputs[0]] = Sym{Sym::Kind::kInt8Raw, out, u8};
  return Ok();
}

Status Lowerer::LowerDequantize(const OnnxNode& n) {
  EDGE_TRY(onnx_.opset < 13 ? CheckAttrs(n, {}) : CheckAttrs(n, {"axis"}));  // DequantizeLinear-10: per tensor
  // An exact integer input (a graph input, a typed QuantizeLinear): the typed form, whose
  // scale and zero point may be computed.
  if (ComputedIntegerType(n.inputs[0])) return LowerDequantizeTyped(n);
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing scale");
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* scale, Const(n.inputs[1], "scale"));
  if (!scale->is_float() || scale->elements() < 1) {
    return Fail(ErrorCode::kInvalidArgument, "scale must be float32");
  }
  const ConstTensor* zp = nullptr;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    EDGE_ASSIGN_OR_RETURN(zp, Const(n.inputs[2], "zero point"));
    if (zp->elements() != scale->elements()) {
      return Fail(ErrorCode::kInvalidArgument, "scale and zero point sizes differ");
    }
  }
  for (float s : scale->f) {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      return Fail(ErrorCode::kInvalidArgument, "scale must be positive and finite");
    }
  }
  const std::string& in = n.inputs[0];
  if (IsConst(in)) {
    const ConstTensor& t = consts_.at(in);
    if (t.is_float() || t.dtype == DType::kI64) {
      return Fail(ErrorCode::kInvalidArgument, "input must be int8, uint8 or int32");
    }
    QConst qc;
    qc.q = t;
    qc.is_int32 = t.dtype == DType::kI32;
    const bool u8 = t.dtype == DType::kU8;
    if (u8) {
      for (auto& v : qc.q.i) v -= 128;
      qc.q.dtype = DType::kI8;
    }
    qc.scales = scale->f;
    for (int64_t k = 0; k < scale->elements(); ++k) {
      qc.zps.push_back(zp ? static_cast<int32_t>(zp->i[k]) - (u8 ? 128 : 0) : 0);
    }
    if (scale->elements() > 1) {
      EDGE_ASSIGN_OR_RETURN(qc.axis, NormalizeAxis(n.Int("axis", 1), static_cast<int64_t>(t.shape.size())));
      if (t.shape[qc.axis] != scale->elements()) {
        return Fail(ErrorCode::kInvalidArgument, "per-axis scale count does not match the axis");
      }
    }
    qconsts_[n.outputs[0]] = std::move(qc);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind != Sym::Kind::kInt8Raw) {
    return Fail(ErrorCode::kInvalidArgument, "input must be the int8/uint8 output of a QuantizeLinear");
  }
  if (scale->elements() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "per-axis dequantization of an activation is not supported");
  }
  QParams q;
  q.scale = scale->f[0];
  if (zp != nullptr) {
    if ((zp->dtype == DType::kU8) != s.u8_domain) {
      return Fail(ErrorCode::kInvalidArgument, "zero point type differs from the input type");
    }
    q.zero_point = static_cast<int32_t>(zp->i[0]) - (s.u8_domain ? 128 : 0);
  } else {
    q.zero_point = s.u8_domain ? -128 : 0;
  }
  int v = s.value;
  if (!(g_.values[v].q == q)) {
    // Same integers read with other parameters: an alias with its own meaning.
    Value alias = g_.values[v];
    alias.name = n.outputs[0];
    alias.q = q;
    alias.alias_of = v;
    alias.producer = -1;
    v = g_.AddValue(std::move(alias));
  }
  SetQuant(n.outputs[0], v);
  return Ok();
}

}  // namespace edge::engine::lowering
