#include "agent/engine/lowerer.h"

#include <string_view>
#include <tuple>

namespace edge::engine::lowering {

int Lowerer::AddActivation(Value v) {
  auto count = CheckedElementCount(v.shape);
  v.elements = count ? *count : 0;
  return g_.AddValue(std::move(v));
}

int Lowerer::AddNode(Node n) {
  const int idx = static_cast<int>(g_.nodes.size());
  for (int o : n.out) g_.values[o].producer = idx;
  g_.nodes.push_back(std::move(n));
  return idx;
}

Node Lowerer::MakeNode(OpKind kind, const OnnxNode& src) {
  Node n;
  n.kind = kind;
  n.name = src.name;
  n.onnx_op = src.op_type;
  return n;
}

Result<Sym> Lowerer::Get(const std::string& name) {
  if (auto it = syms_.find(name); it != syms_.end()) return it->second;
  if (consts_.count(name) != 0) return Sym{Sym::Kind::kConst, -1, false};
  if (qconsts_.count(name) != 0) return Sym{Sym::Kind::kQConst, -1, false};
  return Fail(ErrorCode::kInvalidArgument, "tensor '" + name + "' is not available");
}

bool Lowerer::IsConst(const std::string& name) const {
  return syms_.count(name) == 0 && consts_.count(name) != 0;
}

bool Lowerer::IsQConst(const std::string& name) const {
  return syms_.count(name) == 0 && qconsts_.count(name) != 0;
}

Result<const ConstTensor*> Lowerer::Const(const std::string& name, const std::string& role) {
  if (!IsConst(name)) {
    return Fail(ErrorCode::kInvalidArgument, role + " '" + name + "' must be a constant");
  }
  return &consts_.at(name);
}

// The float constant behind a name (a plain constant or a dequantized one).
std::optional<ConstTensor> Lowerer::FloatConst(const std::string& name) {
  if (IsConst(name)) {
    ConstTensor t = consts_.at(name);
    if (!t.is_float()) {
      t.f.assign(t.i.begin(), t.i.end());
      t.i.clear();
      t.dtype = DType::kF32;
    }
    return t;
  }
  if (IsQConst(name)) return Dequantize(qconsts_.at(name));
  return std::nullopt;
}

int Lowerer::ConstFloatValue(const std::string& name, ConstTensor t) {
  Value v;
  v.name = name;
  v.dtype = DType::kF32;
  v.shape = t.shape;
  v.elements = t.elements();
  v.is_const = true;
  v.cf = std::move(t.f);
  return g_.AddValue(std::move(v));
}

// The float value for a tensor, inserting a DequantizeLinear step for int8 activations.
Result<int> Lowerer::AsFloat(const std::string& name) {
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(name));
  switch (s.kind) {
    case Sym::Kind::kFloat: return s.value;
    case Sym::Kind::kQuant: {
      if (auto it = dequantized_.find(s.value); it != dequantized_.end()) return it->second;
      // Copies, not references: NewValue may reallocate the value table.
      const QParams q = g_.values[s.value].q;
      EDGE_ASSIGN_OR_RETURN(int out, NewValue(name, DType::kF32, g_.values[s.value].shape));
      Node n;
      n.kind = OpKind::kDequantize;
      n.name = name;
      n.onnx_op = "DequantizeLinear";
      n.in = {s.value};
      n.out = {out};
      n.quant = q;
      AddNode(std::move(n));
      dequantized_[s.value] = out;
      return out;
    }
    case Sym::Kind::kConst:
    case Sym::Kind::kQConst: {
      if (auto it = const_values_.find(name); it != const_values_.end()) return it->second;
      const int v = ConstFloatValue(name, *FloatConst(name));
      const_values_[name] = v;
      return v;
    }
    case Sym::Kind::kInt8Raw:
      return Fail(ErrorCode::kInvalidArgument,
                  "int8 tensor '" + name + "' is used without a DequantizeLinear");
    case Sym::Kind::kInt:
      return Fail(ErrorCode::kInvalidArgument,
                  "input '" + name + "' is " + DTypeName(g_.values[s.value].dtype) +
                      ": this operator runs on float tensors only (integer tensors: Cast, Identity, Add, "
                      "Sub, Mul, Div, Clip, MaxPool, Transpose, Concat, Pad, the reshape family, QuantizeLinear, "
                      "DequantizeLinear)");
  }
  return Fail(ErrorCode::kInternal, "unreachable");
}

bool Lowerer::SingleConsumer(const std::string& name, size_t& consumer) const {
  if (graph_outputs_.count(name) != 0) return false;
  auto it = consumers_.find(name);
  if (it == consumers_.end() || it->second.size() != 1) return false;
  consumer = it->second[0];
  return true;
}

// Emits `node` on the float form of its first input; the output is float of `shape`.
Status Lowerer::EmitFloat(const OnnxNode& n, Node node, const std::vector<int64_t>& shape) {
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  EDGE_TRY(AddFloatStep(std::move(node), {x}, n.outputs[0], shape));
  return Ok();
}

std::string Lowerer::FreshName(const std::string& base) {
  for (;;) {
    std::string name = base + "#" + std::to_string(fresh_++);
    if (onnx_names_.count(name) == 0 && syms_.count(name) == 0 && consts_.count(name) == 0 &&
        qconsts_.count(name) == 0) {
      return name;
    }
  }
}

Result<int> Lowerer::AddFloatStep(Node node, std::vector<int> in, const std::string& out_name,
                                  std::vector<int64_t> shape) {
  return AddStep(std::move(node), std::move(in), out_name, DType::kF32, std::move(shape));
}

Result<int> Lowerer::AddStep(Node node, std::vector<int> in, const std::string& out_name, DType type,
                             std::vector<int64_t> shape) {
  node.in = std::move(in);
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(out_name, type, std::move(shape)));
  node.out = {out};
  AddNode(std::move(node));
  syms_[out_name] = Sym{type == DType::kF32 ? Sym::Kind::kFloat : Sym::Kind::kInt, out, false};
  return out;
}

namespace {

// The kind ONNX's operator schemas give each attribute any op here reads: a name has one kind
// in every op that has it, except where kOpAttrKinds says otherwise. The lookups (OnnxNode::Int and the rest) read an attribute of
// another kind as absent, i.e. as its default: a model that says pads="1" or group=2.0 would
// run as if it had not said it. ONNX's checker and ONNX Runtime refuse such a model; so do we.
constexpr std::pair<std::string_view, OnnxAttr::Kind> kAttrKinds[] = {
    {"activation_alpha", OnnxAttr::Kind::kFloats},
    {"activation_beta", OnnxAttr::Kind::kFloats},
    {"activations", OnnxAttr::Kind::kStrings},
    {"allowzero", OnnxAttr::Kind::kInt},
    {"alpha", OnnxAttr::Kind::kFloat},
    {"antialias", OnnxAttr::Kind::kInt},
    {"approximate", OnnxAttr::Kind::kString},
    {"auto_pad", OnnxAttr::Kind::kString},
    {"axes", OnnxAttr::Kind::kInts},
    {"axis", OnnxAttr::Kind::kInt},
    {"beta", OnnxAttr::Kind::kFloat},
    {"blocksize", OnnxAttr::Kind::kInt},
    {"broadcast", OnnxAttr::Kind::kInt},
    {"ceil_mode", OnnxAttr::Kind::kInt},
    {"clip", OnnxAttr::Kind::kFloat},
    {"coordinate_transformation_mode", OnnxAttr::Kind::kString},
    {"count_include_pad", OnnxAttr::Kind::kInt},
    {"cubic_coeff_a", OnnxAttr::Kind::kFloat},
    {"dilations", OnnxAttr::Kind::kInts},
    {"direction", OnnxAttr::Kind::kString},
    {"end", OnnxAttr::Kind::kInt},
    {"ends", OnnxAttr::Kind::kInts},
    {"epsilon", OnnxAttr::Kind::kFloat},
    {"exclude_outside", OnnxAttr::Kind::kInt},
    {"extrapolation_value", OnnxAttr::Kind::kFloat},
    {"gamma", OnnxAttr::Kind::kFloat},
    {"group", OnnxAttr::Kind::kInt},
    {"hidden_size", OnnxAttr::Kind::kInt},
    {"input_forget", OnnxAttr::Kind::kInt},
    {"is_test", OnnxAttr::Kind::kInt},
    {"keep_aspect_ratio_policy", OnnxAttr::Kind::kString},
    {"keepdims", OnnxAttr::Kind::kInt},
    {"kernel_shape", OnnxAttr::Kind::kInts},
    {"layout", OnnxAttr::Kind::kInt},
    {"linear_before_reset", OnnxAttr::Kind::kInt},
    {"max", OnnxAttr::Kind::kFloat},
    {"min", OnnxAttr::Kind::kFloat},
    {"mode", OnnxAttr::Kind::kString},
    {"momentum", OnnxAttr::Kind::kFloat},
    {"nearest_mode", OnnxAttr::Kind::kString},
    {"noop_with_empty_axes", OnnxAttr::Kind::kInt},
    {"num_outputs", OnnxAttr::Kind::kInt},
    {"output_padding", OnnxAttr::Kind::kInts},
    {"output_shape", OnnxAttr::Kind::kInts},
    {"pads", OnnxAttr::Kind::kInts},
    {"perm", OnnxAttr::Kind::kInts},
    {"ratio", OnnxAttr::Kind::kFloat},
    {"saturate", OnnxAttr::Kind::kInt},
    {"scales", OnnxAttr::Kind::kFloats},
    {"seed", OnnxAttr::Kind::kInt},
    {"spatial", OnnxAttr::Kind::kInt},
    {"split", OnnxAttr::Kind::kInts},
    {"start", OnnxAttr::Kind::kInt},
    {"starts", OnnxAttr::Kind::kInts},
    {"stash_type", OnnxAttr::Kind::kInt},
    {"storage_order", OnnxAttr::Kind::kInt},
    {"strides", OnnxAttr::Kind::kInts},
    {"to", OnnxAttr::Kind::kInt},
    {"training_mode", OnnxAttr::Kind::kInt},
    {"transA", OnnxAttr::Kind::kInt},
    {"transB", OnnxAttr::Kind::kInt},
    {"value", OnnxAttr::Kind::kTensor},
};

// Pad-2's constant is a float attribute; Constant's and ConstantOfShape's value is a tensor.
constexpr std::tuple<std::string_view, std::string_view, OnnxAttr::Kind> kOpAttrKinds[] = {
    {"Pad", "value", OnnxAttr::Kind::kFloat},
};

const char* AttrKindName(OnnxAttr::Kind k) {
  switch (k) {
    case OnnxAttr::Kind::kInt: return "an integer";
    case OnnxAttr::Kind::kFloat: return "a float";
    case OnnxAttr::Kind::kInts: return "a list of integers";
    case OnnxAttr::Kind::kFloats: return "a list of floats";
    case OnnxAttr::Kind::kString: return "a string";
    case OnnxAttr::Kind::kStrings: return "a list of strings";
    case OnnxAttr::Kind::kTensor: return "a tensor";
    case OnnxAttr::Kind::kOther: break;
  }
  return "of a kind the engine does not read (a graph, a sparse tensor or a list of those)";
}

std::optional<OnnxAttr::Kind> OnnxAttrKind(std::string_view op, std::string_view name) {
  for (const auto& [o, n, k] : kOpAttrKinds) {
    if (o == op && n == name) return k;
  }
  for (const auto& [n, k] : kAttrKinds) {
    if (n == name) return k;
  }
  return std::nullopt;
}

}  // namespace

Status Lowerer::CheckAttrs(const OnnxNode& n, std::initializer_list<const char*> known) {
  // every op's list is checked against the table whatever the model gives, so that the
  // conformance suite, which lowers every op, finds a name the table lacks
  for (const char* k : known) {
    if (!OnnxAttrKind(n.op_type, k)) return Fail(ErrorCode::kInternal, std::string("attribute '") + k + "' has no kind in the engine's table");
  }
  for (size_t i = 0; i < n.attrs.size(); ++i) {
    const auto& a = n.attrs[i];
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return a.name == k; })) {
      return Fail(ErrorCode::kInvalidArgument, "unsupported attribute '" + a.name + "'");
    }
    // the lookups take the first of a name: a second would be silently ignored (ONNX checkers
    // refuse the model)
    for (size_t j = 0; j < i; ++j) {
      if (n.attrs[j].name == a.name) return Fail(ErrorCode::kInvalidArgument, "attribute '" + a.name + "' is given twice");
    }
    const OnnxAttr::Kind want = *OnnxAttrKind(n.op_type, a.name);
    if (a.kind != want) {
      return Fail(ErrorCode::kInvalidArgument, "attribute '" + a.name + "' is " + AttrKindName(a.kind) + "; ONNX defines it as " +
                                                   AttrKindName(want));
    }
  }
  return Ok();
}

Result<std::vector<int64_t>> Lowerer::ShapeOfName(const std::string& name) {
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(name));
  if (s.kind == Sym::Kind::kConst) return consts_.at(name).shape;
  if (s.kind == Sym::Kind::kQConst) return qconsts_.at(name).q.shape;
  return g_.values[s.value].shape;
}

Status Lowerer::ParseWindow(const OnnxNode& n, size_t spatial, const std::vector<int64_t>& in_shape,
                            const std::vector<int64_t>& kernel, Node& node,
                            std::vector<int64_t>& out_shape, bool allow_ceil) {
  if (spatial < 1 || spatial > 3) {
    return Fail(ErrorCode::kInvalidArgument, "only 1-D, 2-D and 3-D windows are supported");
  }
  if (in_shape.size() != spatial + 2 || kernel.size() != spatial) {
    return Fail(ErrorCode::kInvalidArgument, "input rank does not match the kernel");
  }
  EDGE_ASSIGN_OR_RETURN(auto strides, n.IntsOr("strides", 1, spatial));
  EDGE_ASSIGN_OR_RETURN(auto dilations, n.IntsOr("dilations", 1, spatial));
  EDGE_ASSIGN_OR_RETURN(auto pads, n.IntsOr("pads", 0, 2 * spatial));
  const bool ceil_mode = n.Int("ceil_mode", 0) != 0;
  if (ceil_mode && !allow_ceil) return Fail(ErrorCode::kInvalidArgument, "ceil_mode is not supported");
  const std::string auto_pad = n.Str("auto_pad", "NOTSET");
  const size_t off = 2;
  for (size_t d = 0; d < spatial; ++d) {
    if (auto_pad == "VALID") {
      pads[d] = pads[d + spatial] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      if (strides[d] <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid stride");
      const int64_t in = in_shape[off + d];
      const int64_t out = (in + strides[d] - 1) / strides[d];
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[d] + dilations[d] * (kernel[d] - 1) + 1 - in);
      pads[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[d + spatial] = total - pads[d];
    } else if (auto_pad != "NOTSET") {
      return Fail(ErrorCode::kInvalidArgument, "unsupported auto_pad '" + auto_pad + "'");
    }
  }
  // A pool's window must see the input: padding as wide as the kernel would make windows of
  // padding alone (ONNX Runtime refuses those models too).
  if (allow_ceil) {
    for (size_t d = 0; d < spatial; ++d) {
      if (pads[d] >= kernel[d] || pads[d + spatial] >= kernel[d]) {
        return Fail(ErrorCode::kInvalidArgument, "pads must be smaller than the kernel (axis " + std::to_string(d) +
                                                     ": pads " + std::to_string(pads[d]) + ", " +
                                                     std::to_string(pads[d + spatial]) + ", kernel " +
                                                     std::to_string(kernel[d]) + ")");
      }
    }
  }
  out_shape = {in_shape[0], in_shape[1]};
  for (size_t d = 0; d < spatial; ++d) {
    auto o = WindowOutput(in_shape[off + d], kernel[d], strides[d], dilations[d], pads[d],
                          pads[d + spatial], ceil_mode);
    if (!o) return Fail(o.error());
    out_shape.push_back(*o);
  }
  // Internally 2-D: a 1-D window is a 1 x L window; a 3-D one keeps its depth axis apart.
  size_t first = 0;
  if (spatial == 3) {
    node.depth_kernel = kernel[0];
    node.depth_stride = strides[0];
    node.depth_dilation = dilations[0];
    node.depth_pad[0] = pads[0];
    node.depth_pad[1] = pads[spatial];
    first = 1;
  }
  const size_t b = spatial == 1 ? 1 : 0;
  for (size_t d = first; d < spatial; ++d) {
    node.kernel[b + d - first] = kernel[d];
    node.stride[b + d - first] = strides[d];
    node.dilation[b + d - first] = dilations[d];
    node.pad[b + d - first] = pads[d];
    node.pad[2 + b + d - first] = pads[d + spatial];
  }
  return Ok();
}

Status Lowerer::LowerConstantLike(const OnnxNode& n) {
  if (n.op_type == "Constant") {
    const OnnxAttr* a = n.Find("value");
    if (a == nullptr || a->kind != OnnxAttr::Kind::kTensor || n.attrs.size() != 1) {
      return Fail(ErrorCode::kInvalidArgument, "only the 'value' tensor form of Constant is supported");
    }
    consts_[n.outputs[0]] = a->t;
    return Ok();
  }
  if (n.inputs.empty()) return Fail(ErrorCode::kInvalidArgument, "missing input");
  if (n.op_type == "Dropout") {
    // Dropout-6 has is_test, 7-10 ratio, 12 and later ratio and training_mode as inputs.
    EDGE_TRY(onnx_.opset < 7 ? CheckAttrs(n, {"ratio", "is_test"}) : CheckAttrs(n, {"ratio", "seed"}));
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      // Training with a ratio > 0 drops random elements: no deterministic engine can match it,
      // and a training_mode known only at run time may turn it on.
      auto training = FloatConst(n.inputs[2]);
      if (!training || training->elements() != 1) {
        return Fail(ErrorCode::kInvalidArgument,
                    "training_mode is a graph input, and Dropout in training mode with ratio > 0 is random; not "
                    "supported (make training_mode a constant false)");
      }
      if (training->f[0] != 0.0f) {
        return Fail(ErrorCode::kInvalidArgument, "Dropout in training mode (ratio > 0 is random) is not supported");
      }
    }
    if (n.outputs.size() > 2) return Fail(ErrorCode::kInvalidArgument, "Dropout has at most two outputs");
    if (n.outputs.size() > 1 && !n.outputs[1].empty()) {
      EDGE_ASSIGN_OR_RETURN(auto shape, ShapeOfName(n.inputs[0]));
      EDGE_ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape));
      // In inference every element is kept: the mask is all true.
      consts_[n.outputs[1]] = MakeFloatTensor(shape, std::vector<float>(static_cast<size_t>(count), 1.0f));
    }
  } else if (n.op_type == "Identity") {
    EDGE_TRY(CheckAttrs(n, {}));
  }
  const std::string& in = n.inputs[0];
  // Identity / Dropout (inference): a new name for the same thing.
  if (IsConst(in)) {
    consts_[n.outputs[0]] = consts_.at(in);
  } else if (IsQConst(in)) {
    qconsts_[n.outputs[0]] = qconsts_.at(in);
  } else {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
    syms_[n.outputs[0]] = s;
  }
  return Ok();
}

}  // namespace edge::engine::lowering
