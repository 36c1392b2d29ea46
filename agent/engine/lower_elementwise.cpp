#include <cstring>
#include <functional>
#include <numeric>

#include "agent/engine/lowerer.h"

namespace edge::engine::lowering {

Status Lowerer::LowerBinary(const OnnxNode& n) {
  if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "expects two inputs");
  if (onnx_.opset < 7) return LowerLegacyBroadcast(n);
  EDGE_TRY(CheckAttrs(n, {}));
  return LowerBinaryAt7(n);
}

// Max, Min, Sum and Mean of one or more tensors (broadcast together): a chain of binary steps;
// Mean scales the sum by 1/n.
Status Lowerer::LowerVariadic(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.empty() || std::any_of(n.inputs.begin(), n.inputs.end(), [](const std::string& i) { return i.empty(); })) {
    return Fail(ErrorCode::kInvalidArgument, "needs one or more inputs, none omitted");
  }
  const OpKind kind = n.op_type == "Max" ? OpKind::kMax : n.op_type == "Min" ? OpKind::kMin : OpKind::kAdd;
  const bool mean = n.op_type == "Mean";
  EDGE_ASSIGN_OR_RETURN(int acc, AsFloat(n.inputs[0]));
  if (n.inputs.size() == 1 && !mean) {
    SetFloat(n.outputs[0], acc);  // one input: itself
    return Ok();
  }
  for (size_t k = 1; k < n.inputs.size(); ++k) {
    EDGE_ASSIGN_OR_RETURN(int b, AsFloat(n.inputs[k]));
    EDGE_ASSIGN_OR_RETURN(auto shape, BroadcastShapes(ShapeOf(acc), ShapeOf(b)));
    const bool last = k + 1 == n.inputs.size() && !mean;
    EDGE_ASSIGN_OR_RETURN(acc, AddFloatStep(MakeNode(kind, n), {acc, b}, last ? n.outputs[0] : FreshName(n.name + "#acc"),
                                            std::move(shape)));
  }
  if (mean) {
    const int scale = ConstFloatValue(FreshName(n.name + "#1/n"),
                                      MakeFloatTensor({1}, {1.0f / static_cast<float>(n.inputs.size())}));
    const std::vector<int64_t> shape = ShapeOf(acc);
    EDGE_TRY(AddFloatStep(MakeNode(OpKind::kMul, n), {acc, scale}, n.outputs[0], shape));
  }
  return Ok();
}

Status Lowerer::LowerBinaryAt7(const OnnxNode& n) {
  EDGE_ASSIGN_OR_RETURN(auto sa, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto sb, ShapeOfName(n.inputs[1]));
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(sa, sb));
  const auto int_a = ComputedIntegerType(n.inputs[0]), int_b = ComputedIntegerType(n.inputs[1]);
  if (int_a || int_b) return LowerIntegerBinary(n, int_a ? *int_a : *int_b, out_shape);
  Node node = MakeNode(OpKind::kAdd, n);
  const bool quantizable = n.op_type == "Add" || n.op_type == "Mul";
  auto quant_operand = [&](const std::string& name) -> std::optional<int> {
    if (IsQuant(name)) return syms_.at(name).value;
    if (IsQConst(name)) {
      const QConst& qc = qconsts_.at(name);
      if (qc.axis != -1 || qc.is_int32) return std::nullopt;
      Value v;
      v.name = name;
      v.dtype = DType::kI8;
      v.shape = qc.q.shape;
      v.elements = qc.q.elements();
      v.is_const = true;
      v.ci.assign(qc.q.i.begin(), qc.q.i.end());
      v.q = QParams{qc.scales[0], qc.zps[0]};
      return g_.AddValue(std::move(v));
    }
    return std::nullopt;
  };
  if (quantizable && (IsQuant(n.inputs[0]) || IsQuant(n.inputs[1]))) {
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail) {
      auto a = quant_operand(n.inputs[0]);
      auto b = quant_operand(n.inputs[1]);
      if (a && b) {
        node.kind = n.op_type == "Add" ? OpKind::kQAdd : OpKind::kQMul;
        node.in = {*a, *b};
        EDGE_TRY(FinishQuant(*tail, out_shape, node));
        return Ok();
      }
    }
  }
  node.kind = n.op_type == "Add"   ? OpKind::kAdd
              : n.op_type == "Mul" ? OpKind::kMul
              : n.op_type == "Sub" ? OpKind::kSub
                                   : OpKind::kDiv;
  EDGE_ASSIGN_OR_RETURN(int a, AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int b, AsFloat(n.inputs[1]));
  node.in = {a, b};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, out_shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

// Add/Sub/Mul/Div before opset 7: B broadcasts only with broadcast=1, its dimensions lined up
// with A's starting at `axis` (default: A's trailing dimensions). B is seen with A's rank
// (ones around its dimensions), after which numpy broadcasting means the same thing.
Status Lowerer::LowerLegacyBroadcast(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"broadcast", "axis"}));
  EDGE_ASSIGN_OR_RETURN(auto sa, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto sb, ShapeOfName(n.inputs[1]));
  OnnxNode aligned = n;
  if (n.Int("broadcast", 0) == 0) {
    if (sa != sb) return Fail(ErrorCode::kInvalidArgument, "operand shapes differ and broadcast is 0");
  } else {
    const int64_t ra = static_cast<int64_t>(sa.size()), rb = static_cast<int64_t>(sb.size());
    const int64_t axis = n.Find("axis") != nullptr ? n.Int("axis", 0) : ra - rb;
    if (rb > ra) return Fail(ErrorCode::kInvalidArgument, "B has more dimensions than A");
    if (axis < 0 || axis + rb > ra) {
      return Fail(ErrorCode::kInvalidArgument, "B's shape does not fit A's at axis " + std::to_string(axis));
    }
    std::vector<int64_t> shape(static_cast<size_t>(ra), 1);
    for (int64_t d = 0; d < rb; ++d) {
      if (sb[d] != sa[axis + d] && sb[d] != 1) {
        return Fail(ErrorCode::kInvalidArgument, "B's shape does not fit A's at axis " + std::to_string(axis));
      }
      shape[axis + d] = sb[d];
    }
    aligned.inputs[1] = FreshName(n.name + "#b_aligned");
    EDGE_TRY(BindReshaped(n.inputs[1], aligned.inputs[1], std::move(shape)));
  }
  aligned.attrs.clear();
  return LowerBinaryAt7(aligned);
}

const UnaryOp* FindUnaryOp(const std::string& op) {
  static const UnaryOp kOps[] = {
      {"Sigmoid", UnaryKind::kSigmoid},
      {"Tanh", UnaryKind::kTanh},
      {"HardSwish", UnaryKind::kHardSwish},
      {"LeakyRelu", UnaryKind::kLeakyRelu, "alpha", 0.01f},
      {"HardSigmoid", UnaryKind::kHardSigmoid, "alpha", 0.2f, "beta", 0.5f},
      {"Abs", UnaryKind::kAbs},
      {"Neg", UnaryKind::kNeg},
      {"Exp", UnaryKind::kExp},
      {"Log", UnaryKind::kLog},
      {"Sqrt", UnaryKind::kSqrt},
      {"Reciprocal", UnaryKind::kReciprocal},
      {"Floor", UnaryKind::kFloor},
      {"Ceil", UnaryKind::kCeil},
      {"Round", UnaryKind::kRound},
      {"Sign", UnaryKind::kSign},
      {"Erf", UnaryKind::kErf},
      {"Sin", UnaryKind::kSin},
      {"Cos", UnaryKind::kCos},
      {"Elu", UnaryKind::kElu, "alpha", 1.0f},
      {"Selu", UnaryKind::kSelu, "alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f},
      {"Celu", UnaryKind::kCelu, "alpha", 1.0f},
      {"Softplus", UnaryKind::kSoftplus},
      {"Softsign", UnaryKind::kSoftsign},
      {"ThresholdedRelu", UnaryKind::kThresholdedRelu, "alpha", 1.0f},
      {"Mish", UnaryKind::kMish},
  };
  for (const auto& u : kOps) {
    if (op == u.op) return &u;
  }
  return nullptr;
}


Status Lowerer::LowerUnary(const OnnxNode& n) {
  Node node = MakeNode(OpKind::kUnary, n);
  const std::string& op = n.op_type;
  if (op == "Relu") {
    EDGE_TRY(CheckAttrs(n, {}));
    node.unary = UnaryKind::kRelu;
    node.act_min = 0.0f;
  } else if (op == "Clip") {
    EDGE_TRY(onnx_.opset < 11 ? CheckAttrs(n, {"min", "max"}) : CheckAttrs(n, {}));
    if (auto type = ComputedIntegerType(n.inputs[0]); type && onnx_.opset >= 11) return LowerClipAsSteps(n, *type);
    if (onnx_.opset < 11 && n.inputs.size() != 1) {
      return Fail(ErrorCode::kInvalidArgument, "Clip before opset 11 takes one input");
    }
    node.unary = UnaryKind::kClip;
    auto bounds = ClipBounds(n);
    if (!bounds) return LowerClipAsSteps(n, DType::kF32);
    node.act_min = bounds->first;
    node.act_max = bounds->second;
  } else if (op == "Gelu") {
    EDGE_TRY(CheckAttrs(n, {"approximate"}));
    const std::string approximate = n.Str("approximate", "none");
    if (approximate != "none" && approximate != "tanh") {
      return Fail(ErrorCode::kInvalidArgument, "approximate must be 'none' or 'tanh', not '" + approximate + "'");
    }
    node.unary = approximate == "tanh" ? UnaryKind::kGeluTanh : UnaryKind::kGelu;
  } else {
    const UnaryOp* u = FindUnaryOp(op);
    if (u == nullptr) return Fail(ErrorCode::kInternal, "no element-wise function for " + op);
    if (u->beta != nullptr) {
      EDGE_TRY(CheckAttrs(n, {u->alpha, u->beta}));
    } else if (u->alpha != nullptr) {
      EDGE_TRY(CheckAttrs(n, {u->alpha}));
    } else {
      EDGE_TRY(CheckAttrs(n, {}));
    }
    node.unary = u->kind;
    if (u->alpha != nullptr) node.alpha = n.Float(u->alpha, u->alpha_default);
    if (u->beta != nullptr) node.beta = n.Float(u->beta, u->beta_default);
    if (u->kind == UnaryKind::kCelu && node.alpha == 0.0f) return Fail(ErrorCode::kInvalidArgument, "alpha must not be 0");
  }
  EDGE_ASSIGN_OR_RETURN(auto shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, OpKind::kQLut, shape));
  if (quantized) return Ok();
  return EmitFloat(n, std::move(node), shape);
}

Result<bool> Lowerer::TryConstOperandUnary(const OnnxNode& n, UnaryKind kind, const std::vector<int64_t>& shape) {
  auto c = FloatConst(n.inputs[1]);
  // bit for bit, so that one NaN for every element counts as one value
  const auto same = [&](float v) { return std::memcmp(&v, &c->f[0], sizeof v) == 0; };
  if (!c || c->f.empty() || !std::all_of(c->f.begin(), c->f.end(), same)) return false;
  Node node = MakeNode(OpKind::kUnary, n);
  node.unary = kind;
  node.alpha = c->f[0];
  EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, OpKind::kQLut, shape));
  if (!quantized) EDGE_TRY(EmitFloat(n, std::move(node), shape));
  return true;
}

// PRelu: x where x >= 0, slope * x below it, the slope broadcast to x's shape. One constant slope
// for every element is LeakyRelu (a float function; an int8 lookup between DQ and Q); constant
// slopes per channel between DQ and Q are one int8 lookup table per channel; other slopes
// (computed, per element, or per channel on float tensors) run as float steps:
// max(x, 0) + slope * min(x, 0) (constant ones must then be finite; a computed slope that is
// infinite or NaN gives NaN for x >= 0 too).
Status Lowerer::LowerPRelu(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 2 || n.inputs[1].empty()) return Fail(ErrorCode::kInvalidArgument, "expects two inputs");
  EDGE_ASSIGN_OR_RETURN(auto sx, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto ss, ShapeOfName(n.inputs[1]));
  if (onnx_.opset < 7 && ss.size() == 1 && sx.size() > 2 && ss[0] == sx[1] && ss[0] != 1) {
    // PRelu-6 predates numpy broadcasting: a slope per channel is [C] (PyTorch's exports of
    // PReLU(num_parameters=C)), read along axis 1. As [C, 1, ...] it broadcasts that way.
    OnnxNode per_channel = n;
    per_channel.inputs[1] = FreshName(n.inputs[1] + "#per_channel");
    std::vector<int64_t> shape(sx.size() - 1, 1);
    shape[0] = ss[0];
    EDGE_TRY(BindReshaped(n.inputs[1], per_channel.inputs[1], std::move(shape)));
    return LowerPRelu(per_channel);
  }
  if (auto out_shape = BroadcastShapes(sx, ss); !out_shape || *out_shape != sx) {
    return Fail(ErrorCode::kInvalidArgument, "the slope does not broadcast to the input's shape (" +
                                                 (out_shape ? std::string("it would widen it") : out_shape.error().message) + ")");
  }
  EDGE_ASSIGN_OR_RETURN(bool one_slope, TryConstOperandUnary(n, UnaryKind::kLeakyRelu, sx));
  if (one_slope) return Ok();
  // int8 x with a constant slope per channel (axis 1: the slope's shape right-aligned to x's
  // is [1, C, 1, ...]) and a QuantizeLinear after: one lookup table per channel.
  if (auto c = FloatConst(n.inputs[1]);
      c && IsQuant(n.inputs[0]) && sx.size() >= 2 && ss.size() <= sx.size() && sx.size() - ss.size() <= 1 &&
      ss[1 - (sx.size() - ss.size())] == sx[1] && static_cast<int64_t>(c->f.size()) == sx[1]) {
    Node node = MakeNode(OpKind::kUnary, n);
    node.unary = UnaryKind::kLeakyRelu;
    node.channel_alpha = c->f;
    EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, OpKind::kQLut, sx));
    if (quantized) return Ok();
  }
  // slope * min(x, 0) is NaN for x >= 0 when the slope is infinite or NaN, where PRelu gives x.
  if (auto c = FloatConst(n.inputs[1]); c && !std::all_of(c->f.begin(), c->f.end(), [](float v) { return std::isfinite(v); })) {
    return Fail(ErrorCode::kInvalidArgument,
                "slopes that differ must be finite (one is infinite or NaN, which would make x >= 0 NaN here); "
                "give finite slopes, or one slope for every element");
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int slope, AsFloat(n.inputs[1]));
  const int zero = ConstFloatValue(FreshName(n.name + "#0"), MakeFloatTensor({}, {0.0f}));
  EDGE_ASSIGN_OR_RETURN(int positive, AddFloatStep(MakeNode(OpKind::kMax, n), {x, zero}, FreshName(n.name + "#positive"), sx));
  EDGE_ASSIGN_OR_RETURN(int negative, AddFloatStep(MakeNode(OpKind::kMin, n), {x, zero}, FreshName(n.name + "#negative"), sx));
  EDGE_ASSIGN_OR_RETURN(int scaled, AddFloatStep(MakeNode(OpKind::kMul, n), {negative, slope}, FreshName(n.name + "#scaled"), sx));
  return AddFloatStep(MakeNode(OpKind::kAdd, n), {positive, scaled}, n.outputs[0], sx).transform([](int) {});
}

// Pow with one constant exponent for every element (LayerNorm's square, as exporters write it
// before opset 17) is an element-wise function of x: float, or an int8 lookup between DQ and Q.
// Any other exponent (computed, or varying by element) is a float broadcasting step. Integer
// tensors are refused by AsFloat, naming the op.
Status Lowerer::LowerPow(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "expects two inputs");
  EDGE_ASSIGN_OR_RETURN(auto sx, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto sy, ShapeOfName(n.inputs[1]));
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(sx, sy));
  if (out_shape == sx) {
    EDGE_ASSIGN_OR_RETURN(bool one_exponent, TryConstOperandUnary(n, UnaryKind::kPow, sx));
    if (one_exponent) return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int y, AsFloat(n.inputs[1]));
  EDGE_TRY(AddFloatStep(MakeNode(OpKind::kPow, n), {x, y}, n.outputs[0], out_shape));
  return Ok();
}

// BatchNormalization whose parameters are computed at run time (no folding possible):
// (x - mean) / sqrt(variance + epsilon) * scale + bias, each parameter seen as [C, 1, ...] so
// that it broadcasts over the channel axis.
Status Lowerer::LowerBatchNormOfComputed(const OnnxNode& n) {
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  const std::vector<int64_t> shape = ShapeOf(x);
  if (shape.size() < 2) return Fail(ErrorCode::kInvalidArgument, "input rank must be >= 2");
  std::vector<int64_t> per_channel(shape.size() - 1, 1);
  per_channel[0] = shape[1];
  std::vector<int> param;  // scale, bias, mean, variance
  for (size_t k = 1; k < 5; ++k) {
    EDGE_ASSIGN_OR_RETURN(auto p_shape, ShapeOfName(n.inputs[k]));
    if (p_shape != std::vector<int64_t>{shape[1]}) {
      return Fail(ErrorCode::kInvalidArgument, "parameter size differs from the channel count");
    }
    const std::string seen = FreshName(n.inputs[k] + "#per_channel");
    EDGE_TRY(BindReshaped(n.inputs[k], seen, per_channel));
    EDGE_ASSIGN_OR_RETURN(int v, AsFloat(seen));
    param.push_back(v);
  }
  const int eps = ConstFloatValue(FreshName(n.name + "#epsilon"), MakeFloatTensor({1}, {n.Float("epsilon", 1e-5f)}));
  auto step = [&](OpKind kind, std::vector<int> in, const std::vector<int64_t>& out_shape, const std::string& out) {
    return AddFloatStep(MakeNode(kind, n), std::move(in), out.empty() ? FreshName(n.name + "#bn") : out, out_shape);
  };
  EDGE_ASSIGN_OR_RETURN(int var_eps, step(OpKind::kAdd, {param[3], eps}, per_channel, ""));
  Node sqrt = MakeNode(OpKind::kUnary, n);
  sqrt.unary = UnaryKind::kSqrt;
  EDGE_ASSIGN_OR_RETURN(int stddev, AddFloatStep(std::move(sqrt), {var_eps}, FreshName(n.name + "#bn"), per_channel));
  EDGE_ASSIGN_OR_RETURN(int centered, step(OpKind::kSub, {x, param[2]}, shape, ""));
  EDGE_ASSIGN_OR_RETURN(int normalized, step(OpKind::kDiv, {centered, stddev}, shape, ""));
  EDGE_ASSIGN_OR_RETURN(int scaled, step(OpKind::kMul, {normalized, param[0]}, shape, ""));
  EDGE_TRY(step(OpKind::kAdd, {scaled, param[1]}, shape, n.outputs[0]));
  return Ok();
}

// LayerNormalization over the axes from `axis` on: mean and variance by ReduceMean steps, then
// (x - mean) * (1 / sqrt(variance + epsilon)) * scale + bias. The optional Mean and InvStdDev
// outputs are those intermediate steps.
Status Lowerer::LowerLayerNorm(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis", "epsilon", "stash_type"}));
  if (n.inputs.size() < 2 || n.inputs[1].empty()) return Fail(ErrorCode::kInvalidArgument, "needs X and Scale");
  if (n.Int("stash_type", 1) != 1) return Fail(ErrorCode::kInvalidArgument, "only stash_type 1 (float) is supported");
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  const std::vector<int64_t> shape = ShapeOf(x);
  const auto rank = static_cast<int64_t>(shape.size());
  EDGE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(n.Int("axis", -1), rank));
  Node reduce = MakeNode(OpKind::kReduceMean, n);
  std::vector<int64_t> stat_shape = shape;
  for (int64_t d = axis; d < rank; ++d) {
    reduce.axes.push_back(d);
    stat_shape[d] = 1;
  }
  // Mean and InvStdDev count where something reads them: named but unread (an exporter
  // listing every output) they do not keep the one-step form away
  auto wanted = [&](size_t k) {
    if (n.outputs.size() <= k || n.outputs[k].empty()) return false;
    const std::string& name = n.outputs[k];
    const auto readers = consumers_.find(name);
    return graph_outputs_.count(name) != 0 || (readers != consumers_.end() && !readers->second.empty());
  };
  auto output = [&](size_t k) { return wanted(k) ? n.outputs[k] : FreshName(n.name + "#ln"); };
  auto fresh = [&] { return FreshName(n.name + "#ln"); };
  const bool has_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
  // Scale and B have the normalized shape (X's dimensions from `axis` on), or broadcast to it.
  const std::vector<int64_t> norm_shape(shape.begin() + axis, shape.end());
  auto param = [&](size_t k) -> Result<int> {
    EDGE_ASSIGN_OR_RETURN(auto p_shape, ShapeOfName(n.inputs[k]));
    auto fits = BroadcastShapes(norm_shape, p_shape);
    if (!fits || *fits != norm_shape) {
      return Fail(ErrorCode::kInvalidArgument, std::string(k == 1 ? "Scale" : "B") +
                                                   " must have the normalized shape (X's dimensions from axis " +
                                                   std::to_string(axis) + " on)");
    }
    return AsFloat(n.inputs[k]);
  };
  const float epsilon = n.Float("epsilon", 1e-5f);
  if (!wanted(1) && !wanted(2)) {
    // one step per row block instead of nine passes over the tensor (kLayerNormRows), where
    // the scale holds every element of the normalized shape
    EDGE_ASSIGN_OR_RETURN(int scale, param(1));
    const auto row = static_cast<int64_t>(std::accumulate(norm_shape.begin(), norm_shape.end(), int64_t{1}, std::multiplies<>()));
    const auto scale_shape = ShapeOf(scale);
    if (std::accumulate(scale_shape.begin(), scale_shape.end(), int64_t{1}, std::multiplies<>()) == row) {
      Node rows = MakeNode(OpKind::kLayerNormRows, n);
      rows.axis = axis;
      rows.alpha = epsilon;
      EDGE_ASSIGN_OR_RETURN(int scaled, AddFloatStep(std::move(rows), {x, scale}, has_bias ? fresh() : n.outputs[0], shape));
      if (!has_bias) return Ok();
      EDGE_ASSIGN_OR_RETURN(int bias, param(2));
      EDGE_TRY(AddFloatStep(MakeNode(OpKind::kAdd, n), {scaled, bias}, n.outputs[0], shape));
      return Ok();
    }
  }
  EDGE_ASSIGN_OR_RETURN(int mean, AddFloatStep(reduce, {x}, output(1), stat_shape));
  EDGE_ASSIGN_OR_RETURN(int centered, AddFloatStep(MakeNode(OpKind::kSub, n), {x, mean}, fresh(), shape));
  EDGE_ASSIGN_OR_RETURN(int squared, AddFloatStep(MakeNode(OpKind::kMul, n), {centered, centered}, fresh(), shape));
  EDGE_ASSIGN_OR_RETURN(int var, AddFloatStep(reduce, {squared}, fresh(), stat_shape));
  const int eps = ConstFloatValue(fresh(), MakeFloatTensor({1}, {epsilon}));
  EDGE_ASSIGN_OR_RETURN(int var_eps, AddFloatStep(MakeNode(OpKind::kAdd, n), {var, eps}, fresh(), stat_shape));
  Node sqrt = MakeNode(OpKind::kUnary, n);
  sqrt.unary = UnaryKind::kSqrt;
  EDGE_ASSIGN_OR_RETURN(int stddev, AddFloatStep(sqrt, {var_eps}, fresh(), stat_shape));
  Node reciprocal = MakeNode(OpKind::kUnary, n);
  reciprocal.unary = UnaryKind::kReciprocal;
  EDGE_ASSIGN_OR_RETURN(int inv, AddFloatStep(reciprocal, {stddev}, output(2), stat_shape));
  EDGE_ASSIGN_OR_RETURN(int normalized, AddFloatStep(MakeNode(OpKind::kMul, n), {centered, inv}, fresh(), shape));
  for (size_t k = 1; k <= (has_bias ? 2u : 1u); ++k) {
    EDGE_ASSIGN_OR_RETURN(int p, param(k));
    const bool last = k == (has_bias ? 2u : 1u);
    EDGE_ASSIGN_OR_RETURN(normalized, AddFloatStep(MakeNode(k == 1 ? OpKind::kMul : OpKind::kAdd, n), {normalized, p},
                                                   last ? n.outputs[0] : fresh(), shape));
  }
  return Ok();
}

// InstanceNormalization (opset 6): per (n, c) the mean and variance over the spatial elements,
// then scale[c] * (x - mean) / sqrt(variance + epsilon) + B[c]. One kLayerNormRows step over the
// axes from 2 on, without a scale and with its statistics summed in double (planes are long:
// in-order float sums drifted ~1e-4 over 256 x 256), and between DequantizeLinear and
// QuantizeLinear one folded step; scale and B, float constants of C values, follow as
// per-channel Mul and Add where they are not 1 and 0 (PyTorch's GroupNorm export has 1 and 0
// and its own Mul and Add).
Status Lowerer::LowerInstanceNorm(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"epsilon"}));
  if (n.inputs.size() != 3 || n.inputs[1].empty() || n.inputs[2].empty()) {
    return Fail(ErrorCode::kInvalidArgument, "needs X, scale and B");
  }
  if (n.outputs.size() != 1) return Fail(ErrorCode::kInvalidArgument, "has one output, not " + std::to_string(n.outputs.size()));
  EDGE_ASSIGN_OR_RETURN(auto x_shape, ShapeOfName(n.inputs[0]));
  if (x_shape.size() < 3) {
    return Fail(ErrorCode::kInvalidArgument, "X must be [N, C, D1, ...] (rank 3 or more), is rank " +
                                                 std::to_string(x_shape.size()));
  }
  const int64_t channels = x_shape[1];
  std::vector<int64_t> per_channel(x_shape.size() - 1, 1);
  per_channel[0] = channels;
  std::vector<int> params;  // scale, B as [C, 1, ...]; -1 where they change nothing
  for (size_t k : {size_t{1}, size_t{2}}) {
    const char* role = k == 1 ? "scale" : "B";
    if (IsConst(n.inputs[k]) && !consts_.at(n.inputs[k]).is_float()) {
      return Fail(ErrorCode::kInvalidArgument, std::string(role) + " must be a float tensor");
    }
    auto c = FloatConst(n.inputs[k]);
    if (!c) return Fail(ErrorCode::kInvalidArgument, std::string(role) + " must be a constant (it is computed)");
    if (c->shape != std::vector<int64_t>{channels}) {
      return Fail(ErrorCode::kInvalidArgument, std::string(role) + " must hold C = " + std::to_string(channels) +
                                                   " values as a 1-D tensor");
    }
    const float identity = k == 1 ? 1.0f : 0.0f;
    const bool changes = std::any_of(c->f.begin(), c->f.end(), [&](float v) {
      return std::memcmp(&v, &identity, sizeof v) != 0;  // bits: -0 or NaN change the result
    });
    params.push_back(changes ? ConstFloatValue(FreshName(n.name + "#" + role), MakeFloatTensor(per_channel, c->f))
                             : -1);
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  Node rows = MakeNode(OpKind::kLayerNormRows, n);
  rows.axis = 2;
  rows.alpha = n.Float("epsilon", 1e-5f);
  rows.double_stats = true;
  const bool last_rows = params[0] < 0 && params[1] < 0;
  EDGE_ASSIGN_OR_RETURN(int y, AddFloatStep(std::move(rows), {x},
                                            last_rows ? n.outputs[0] : FreshName(n.name + "#in"), x_shape));
  for (size_t k = 0; k < 2; ++k) {
    if (params[k] < 0) continue;
    const bool last = k == 1 || params[1] < 0;
    EDGE_ASSIGN_OR_RETURN(y, AddFloatStep(MakeNode(k == 0 ? OpKind::kMul : OpKind::kAdd, n), {y, params[k]},
                                          last ? n.outputs[0] : FreshName(n.name + "#in"), x_shape));
  }
  return Ok();
}

// Clip(x, min, max) as steps, for bounds computed at run time or an integer x: Max(x, min) then
// Min(., max), each bound a scalar tensor broadcast over x, in x's own element type (kF32: float).
Status Lowerer::LowerClipAsSteps(const OnnxNode& n, DType type) {
  if (type == DType::kBool) return Fail(ErrorCode::kInvalidArgument, "Clip of bool tensors is not defined by ONNX");
  const bool is_float = type == DType::kF32;
  int y = 0;
  if (is_float) {
    EDGE_ASSIGN_OR_RETURN(y, AsFloat(n.inputs[0]));
  } else {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(n.inputs[0]));
    y = s.value;
  }
  const std::vector<int64_t> shape = ShapeOf(y);
  std::vector<size_t> bounds;
  for (size_t k : {size_t{1}, size_t{2}}) {
    if (n.inputs.size() > k && !n.inputs[k].empty()) bounds.push_back(k);
  }
  if (bounds.empty()) {  // no bounds: the same tensor
    syms_[n.outputs[0]] = Sym{is_float ? Sym::Kind::kFloat : Sym::Kind::kInt, y, false};
    return Ok();
  }
  for (size_t k : bounds) {
    EDGE_ASSIGN_OR_RETURN(auto bound_shape, ShapeOfName(n.inputs[k]));
    if (!bound_shape.empty() && (bound_shape.size() != 1 || bound_shape[0] != 1)) {
      return Fail(ErrorCode::kInvalidArgument, (k == 1 ? "min" : "max") + std::string(" must be a scalar"));
    }
    EDGE_ASSIGN_OR_RETURN(int bound, is_float ? AsFloat(n.inputs[k]) : AsInteger(n.inputs[k], type));
    const std::string name = k == bounds.back() ? n.outputs[0] : FreshName(n.name + "#lower_bounded");
    EDGE_ASSIGN_OR_RETURN(y, AddStep(MakeNode(k == 1 ? OpKind::kMax : OpKind::kMin, n), {y, bound}, name, type, shape));
  }
  return Ok();
}

Status Lowerer::LowerSoftmax(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis"}));
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  Node node = MakeNode(OpKind::kSoftmax, n);
  node.normalize = n.op_type == "LogSoftmax" ? Node::Normalize::kLogSoftmax
                   : n.op_type == "Hardmax"  ? Node::Normalize::kHardmax
                                             : Node::Normalize::kSoftmax;
  const std::vector<int64_t> shape = ShapeOf(x);
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (onnx_.opset >= 13) {
    EDGE_ASSIGN_OR_RETURN(node.axis, NormalizeAxis(n.Int("axis", -1), rank));
    return EmitFloat(n, std::move(node), shape);
  }
  // Softmax-1/11: the input is seen as 2-D, [d0 x ... x d(axis-1), d(axis) x ... x d(n-1)]
  // (axis 1 by default), and normalized along the second dimension.
  EDGE_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(n.Int("axis", 1), rank));
  if (axis == rank - 1) {
    node.axis = axis;
    return EmitFloat(n, std::move(node), shape);
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= shape[d];
  const std::string flat_in = FreshName(n.name + "#2d_in"), flat_out = FreshName(n.name + "#2d_out");
  EDGE_TRY(BindReshaped(n.inputs[0], flat_in, {outer, inner}));
  EDGE_ASSIGN_OR_RETURN(int flat, AsFloat(flat_in));
  node.axis = 1;
  EDGE_TRY(AddFloatStep(std::move(node), {flat}, flat_out, {outer, inner}));
  return BindReshaped(flat_out, n.outputs[0], shape);
}

Status Lowerer::LowerReduce(const OnnxNode& n) {
  static const std::pair<const char*, ReduceKind> kKinds[] = {
      {"ReduceMean", ReduceKind::kMean},   {"ReduceSum", ReduceKind::kSum},
      {"ReduceMax", ReduceKind::kMax},     {"ReduceMin", ReduceKind::kMin},
      {"ReduceProd", ReduceKind::kProd},   {"ReduceL1", ReduceKind::kL1},
      {"ReduceL2", ReduceKind::kL2},       {"ReduceLogSum", ReduceKind::kLogSum},
      {"ReduceLogSumExp", ReduceKind::kLogSumExp}, {"ReduceSumSquare", ReduceKind::kSumSquare}};
  ReduceKind kind = ReduceKind::kMean;
  for (const auto& [op, k] : kKinds) {
    if (n.op_type == op) kind = k;
  }
  EDGE_TRY(CheckAttrs(n, {"axes", "keepdims", "noop_with_empty_axes"}));
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  std::vector<int64_t> axes = n.Ints("axes");
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(n.inputs[1], "axes"));
    axes = t->i;
  }
  if (axes.empty()) {
    if (n.Int("noop_with_empty_axes", 0) != 0) return Fail(ErrorCode::kInvalidArgument, "noop_with_empty_axes is not supported");
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  Node node = MakeNode(OpKind::kReduceMean, n);
  node.reduce = kind;
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(a, rank));
    reduce[ax] = true;
  }
  const bool keepdims = n.Int("keepdims", 1) != 0;
  std::vector<int64_t> out_shape;
  node.axes.clear();
  for (int64_t d = 0; d < rank; ++d) {
    if (reduce[d]) {
      node.axes.push_back(d);
      if (keepdims) out_shape.push_back(1);
    } else {
      out_shape.push_back(in_shape[d]);
    }
  }
  if (kind == ReduceKind::kMean) {
    EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, OpKind::kQReduceMean, out_shape));
    if (quantized) return Ok();
  }
  return EmitFloat(n, std::move(node), out_shape);
}

Status Lowerer::LowerBatchNorm(const OnnxNode& n) {
  // BatchNormalization-6 has is_test and spatial, 7 spatial, 9 neither, 14 training_mode.
  EDGE_TRY(onnx_.opset < 7   ? CheckAttrs(n, {"epsilon", "momentum", "is_test", "spatial"})
           : onnx_.opset < 9 ? CheckAttrs(n, {"epsilon", "momentum", "spatial"})
                             : CheckAttrs(n, {"epsilon", "momentum", "training_mode"}));
  if (n.Int("spatial", 1) == 0) return Fail(ErrorCode::kInvalidArgument, "spatial=0 (per-element statistics) is not supported");
  if (n.Int("training_mode", 0) != 0) return Fail(ErrorCode::kInvalidArgument, "training mode is not supported");
  if (std::any_of(n.outputs.begin() + 1, n.outputs.end(), [](const std::string& o) { return !o.empty(); })) {
    return Fail(ErrorCode::kInvalidArgument, "the running-statistics outputs (training only) are not supported");
  }
  if (n.inputs.size() != 5) return Fail(ErrorCode::kInvalidArgument, "expects 5 inputs");
  std::vector<ConstTensor> p;
  for (size_t k = 1; k < 5; ++k) {
    auto c = FloatConst(n.inputs[k]);
    if (!c) return LowerBatchNormOfComputed(n);
    p.push_back(std::move(*c));
  }
  EDGE_ASSIGN_OR_RETURN(const std::vector<int64_t> shape, ShapeOfName(n.inputs[0]));
  if (shape.size() < 2) return Fail(ErrorCode::kInvalidArgument, "input rank must be >= 2");
  const int64_t channels = shape[1];
  for (const auto& t : p) {
    if (t.elements() != channels) return Fail(ErrorCode::kInvalidArgument, "parameter size differs from the channel count");
  }
  const float eps = n.Float("epsilon", 1e-5f);
  std::vector<float> mul(static_cast<size_t>(channels)), add(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    mul[c] = p[0].f[c] / std::sqrt(p[3].f[c] + eps);
    add[c] = p[1].f[c] - p[2].f[c] * mul[c];
  }
  // int8 x between the quantizer's QDQ pairs (a BatchNormalization after a ConvTranspose or a
  // Reshape, which no conv takes in): one lookup table per channel of the affine's float
  // operations and the output's rounding, as PRelu's slope per channel; the same bytes as the
  // DequantizeLinear, ChannelAffine and QuantizeLinear steps.
  if (IsQuant(n.inputs[0])) {
    Node lut = MakeNode(OpKind::kUnary, n);
    lut.unary = UnaryKind::kAffine;
    lut.channel_alpha = mul;
    lut.channel_beta = add;
    EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, lut, OpKind::kQLut, shape));
    if (quantized) return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  // Fold into the producing float Conv when nothing else reads the conv output.
  const int producer = g_.values[x].producer;
  if (!options_.keep_all_tensors && producer >= 0 && g_.nodes[producer].kind == OpKind::kConv &&
      g_.values[x].alias_of < 0 && g_.values[g_.nodes[producer].in[1]].is_const &&
      (g_.nodes[producer].in.size() < 3 || g_.values[g_.nodes[producer].in[2]].is_const)) {
    size_t consumer = 0;
    std::string conv_out;
    for (const auto& [name, s] : syms_) {
      if (s.kind == Sym::Kind::kFloat && s.value == x) conv_out = name;
    }
    Node& conv = g_.nodes[producer];
    if (!conv_out.empty() && SingleConsumer(conv_out, consumer)) {
      Value& w = g_.values[conv.in[1]];
      const int64_t per_out = w.elements / channels;
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t k = 0; k < per_out; ++k) w.cf[c * per_out + k] *= mul[c];
      }
      if (conv.in.size() < 3) {
        conv.in.push_back(ConstFloatValue(n.name + ".bias", MakeFloatTensor({channels}, std::vector<float>(channels, 0.0f))));
      }
      Value& b = g_.values[conv.in[2]];
      for (int64_t c = 0; c < channels; ++c) b.cf[c] = b.cf[c] * mul[c] + add[c];
      SetFloat(n.outputs[0], x);
      return Ok();
    }
  }
  Node node = MakeNode(OpKind::kChannelAffine, n);
  node.in = {x, ConstFloatValue(n.name + ".mul", MakeFloatTensor({channels}, mul)),
             ConstFloatValue(n.name + ".add", MakeFloatTensor({channels}, add))};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

}  // namespace edge::engine::lowering
