#include "agent/engine/lowerer.h"
#include "agent/engine/ops/element_types.h"

namespace edge::engine::lowering {

Status Lowerer::LowerPool(const OnnxNode& n) {
  EDGE_ASSIGN_OR_RETURN(auto x_shape, ShapeOfName(n.inputs[0]));
  Node node = MakeNode(OpKind::kMaxPool, n);
  std::vector<int64_t> out_shape;
  if (n.op_type == "GlobalMaxPool") {
    // A MaxPool whose window is the whole map, flattened to one row ([N, C, 1, D*H*W]; windows
    // of any length, unlike an ONNX MaxPool's): the same steps, int8 (the tier's plane maxima),
    // float and integers; then the input's rank back.
    EDGE_TRY(CheckAttrs(n, {}));
    if (x_shape.size() < 3 || x_shape.size() > 5) return Fail(ErrorCode::kInvalidArgument, "input must be 3-D, 4-D or 5-D");
    int64_t map = 1;
    for (size_t d = 2; d < x_shape.size(); ++d) map *= x_shape[d];
    OnnxNode flat = n;
    flat.inputs = {FreshName(n.outputs[0] + ".flat")};
    flat.outputs = {FreshName(n.outputs[0] + ".max")};
    EDGE_TRY(BindReshaped(n.inputs[0], flat.inputs[0], {x_shape[0], x_shape[1], 1, map}));
    node.kernel[1] = map;
    EDGE_TRY(EmitMaxPool(flat, std::move(node), {x_shape[0], x_shape[1], 1, 1}));
    std::vector<int64_t> out_shape_n = x_shape;
    for (size_t d = 2; d < out_shape_n.size(); ++d) out_shape_n[d] = 1;
    return BindReshaped(flat.outputs[0], n.outputs[0], std::move(out_shape_n));
  }
  if (n.op_type == "GlobalAveragePool") {
    EDGE_TRY(CheckAttrs(n, {}));
    if (x_shape.size() == 5) {
      // NCDHW: the same mean over the flattened [N, C, D*H*W], then the 5-D shape back.
      OnnxNode flat = n;
      flat.inputs = {FreshName(n.outputs[0] + ".flat")};
      flat.outputs = {FreshName(n.outputs[0] + ".mean")};
      EDGE_TRY(BindReshaped(n.inputs[0], flat.inputs[0], {x_shape[0], x_shape[1], x_shape[2] * x_shape[3] * x_shape[4]}));
      EDGE_TRY(LowerPool(flat));
      return BindReshaped(flat.outputs[0], n.outputs[0], {x_shape[0], x_shape[1], 1, 1, 1});
    }
    if (x_shape.size() < 3 || x_shape.size() > 4) {
      return Fail(ErrorCode::kInvalidArgument, "input must be 3-D, 4-D or 5-D");
    }
    out_shape = x_shape;
    for (size_t d = 2; d < out_shape.size(); ++d) out_shape[d] = 1;
    node.kind = OpKind::kGlobalAvgPool;
  } else {
    if (n.op_type == "MaxPool") {
      EDGE_TRY(CheckAttrs(n, {"kernel_shape", "strides", "pads", "dilations", "auto_pad", "ceil_mode", "storage_order"}));
      if (n.outputs.size() > 1 && !n.outputs[1].empty()) return Fail(ErrorCode::kInvalidArgument, "the Indices output is not supported");
    } else {
      // dilations came with opset 19; the engine's average pools take contiguous windows only
      EDGE_TRY(CheckAttrs(n, {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad", "dilations"}));
      if (const auto* d = n.Find("dilations")) {
        for (int64_t v : d->ints) {
          if (v != 1) return Fail(ErrorCode::kInvalidArgument, "dilations other than 1 are not supported for AveragePool");
        }
      }
      node.kind = OpKind::kAvgPool;
      node.count_include_pad = n.Int("count_include_pad", 0) != 0;
    }
    const auto kernel = n.Ints("kernel_shape");
    if (kernel.empty()) return Fail(ErrorCode::kInvalidArgument, "kernel_shape is required");
    if (kernel.size() == 3) return LowerPool3d(n, x_shape);
    EDGE_TRY(ParseWindow(n, kernel.size(), x_shape, kernel, node, out_shape, true));
  }
  if (node.kind == OpKind::kMaxPool) return EmitMaxPool(n, std::move(node), out_shape);
  const OpKind qkind = node.kind == OpKind::kAvgPool ? OpKind::kQAvgPool : OpKind::kQGlobalAvgPool;
  EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, qkind, out_shape));
  if (quantized) return Ok();
  return EmitFloat(n, std::move(node), out_shape);
}

Status Lowerer::EmitMaxPool(const OnnxNode& n, Node node, const std::vector<int64_t>& out_shape) {
  // max is exact on integers: the same kernel on the input's own type
  EDGE_ASSIGN_OR_RETURN(bool integer, TryEmitInteger(n, node, out_shape));
  if (integer) return Ok();
  if (IsQuant(n.inputs[0])) {
    // max commutes with dequantization: the int8 result keeps the input's parameters
    node.kind = OpKind::kQMaxPool;
    return EmitQuantSameParams(n, std::move(node), syms_.at(n.inputs[0]).value, out_shape);
  }
  return EmitFloat(n, std::move(node), out_shape);
}

namespace {

void SetInts(OnnxNode& n, const char* name, std::vector<int64_t> values) {
  std::erase_if(n.attrs, [&](const OnnxAttr& a) { return a.name == name; });
  OnnxAttr a;
  a.kind = OnnxAttr::Kind::kInts;
  a.name = name;
  a.ints = std::move(values);
  n.attrs.push_back(std::move(a));
}

}  // namespace

// Max and average pooling over a box are separable: the (H, W) pool of [N, C*D, H, W], then the
// depth pool, a 2-D pool of [N, C, D, OH*OW] with a depth x 1 window. Each axis keeps its own stride, padding, dilation,
// ceil_mode and auto_pad; an average's count (padding counted or not) is a product of per-axis
// counts, so averaging the averages is exact up to float rounding.
Status Lowerer::LowerPool3d(const OnnxNode& n, const std::vector<int64_t>& x_shape) {
  if (x_shape.size() != 5) return Fail(ErrorCode::kInvalidArgument, "input rank does not match the kernel");
  const auto kernel = n.Ints("kernel_shape");
  EDGE_ASSIGN_OR_RETURN(auto strides, n.IntsOr("strides", 1, 3));
  EDGE_ASSIGN_OR_RETURN(auto pads, n.IntsOr("pads", 0, 6));
  EDGE_ASSIGN_OR_RETURN(auto dilations, n.IntsOr("dilations", 1, 3));
  const int64_t batch = x_shape[0], channels = x_shape[1], depth = x_shape[2];
  // The 2-D pool of `in` over the 3-D window's axes `axes` ({1, 2}: H and W; {0}: depth, as a
  // window of depth x 1 whose width axis has kernel, stride and dilation 1 and no padding).
  auto sub_pool = [&](const std::string& in, std::vector<size_t> axes) -> Result<std::string> {
    const bool depth_only = axes.size() == 1;
    OnnxNode p = n;
    p.name = n.name + (depth_only ? " (D)" : " (H, W)");
    p.inputs = {in};
    p.outputs = {FreshName(n.outputs[0] + (depth_only ? ".d" : ".hw"))};
    std::vector<int64_t> k, s, b, e, dl;
    for (size_t a : axes) {
      k.push_back(kernel[a]), s.push_back(strides[a]), b.push_back(pads[a]), e.push_back(pads[a + 3]);
      dl.push_back(dilations[a]);
    }
    if (depth_only) k.push_back(1), s.push_back(1), b.push_back(0), e.push_back(0), dl.push_back(1);
    b.insert(b.end(), e.begin(), e.end());
    SetInts(p, "kernel_shape", std::move(k));
    SetInts(p, "strides", std::move(s));
    SetInts(p, "pads", std::move(b));
    if (n.Find("dilations") != nullptr) SetInts(p, "dilations", std::move(dl));
    EDGE_TRY(LowerPool(p));
    return p.outputs[0];
  };
  auto reshaped = [&](const std::string& in, std::vector<int64_t> shape) -> Result<std::string> {
    const std::string out = FreshName(n.outputs[0] + ".r");
    EDGE_TRY(BindReshaped(in, out, std::move(shape)));
    return out;
  };
  EDGE_ASSIGN_OR_RETURN(std::string planes, reshaped(n.inputs[0], {batch, channels * depth, x_shape[3], x_shape[4]}));
  EDGE_ASSIGN_OR_RETURN(std::string hw, sub_pool(planes, {1, 2}));
  EDGE_ASSIGN_OR_RETURN(auto hw_shape, ShapeOfName(hw));
  const int64_t oh = hw_shape[2], ow = hw_shape[3];
  // The depth pool as a 2-D pool of [N, C, D, OH*OW] whose window is kd x 1: each output plane
  // the maximum or sum of whole input planes, rows of OH*OW at a time (no transposes).
  EDGE_ASSIGN_OR_RETURN(std::string by_depth, reshaped(hw, {batch, channels, depth, oh * ow}));
  EDGE_ASSIGN_OR_RETURN(std::string pooled, sub_pool(by_depth, {0}));
  EDGE_ASSIGN_OR_RETURN(auto d_shape, ShapeOfName(pooled));
  return BindReshaped(pooled, n.outputs[0], {batch, channels, d_shape[2], oh, ow});
}

Status Lowerer::LowerReshapeLike(const OnnxNode& n) {
  const std::string& op = n.op_type;
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  int64_t count = 1;
  for (int64_t d : in_shape) count *= d;
  std::vector<int64_t> out_shape;
  auto axes_of = [&](const char* role) -> Result<std::vector<int64_t>> {
    if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
      EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(n.inputs[1], role));
      return t->i;
    }
    return n.Ints("axes");
  };
  if (op == "Reshape") {
    EDGE_TRY(CheckAttrs(n, {"allowzero"}));
    if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing shape");
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* target, Const(n.inputs[1], "shape"));
    if (target->dtype != DType::kI64) return Fail(ErrorCode::kInvalidArgument, "shape must be int64");
    const bool allowzero = n.Int("allowzero", 0) != 0;
    int64_t infer = -1, known = 1;
    for (size_t d = 0; d < target->i.size(); ++d) {
      int64_t v = target->i[d];
      if (v == 0 && !allowzero) {
        if (d >= in_shape.size()) return Fail(ErrorCode::kInvalidArgument, "0 in shape beyond input rank");
        v = in_shape[d];
      }
      if (v == -1) {
        if (infer >= 0) return Fail(ErrorCode::kInvalidArgument, "more than one -1 in shape");
        infer = static_cast<int64_t>(d);
        v = 1;
      } else if (v < 0) {
        return Fail(ErrorCode::kInvalidArgument, "negative dimension in shape");
      }
      if (v > kMaxTensorElements) return Fail(ErrorCode::kInvalidArgument, "dimension too large");
      known *= v;
      if (known > kMaxTensorElements) return Fail(ErrorCode::kInvalidArgument, "shape too large");
      out_shape.push_back(v);
    }
    if (infer >= 0) {
      if (known == 0 || count % known != 0) return Fail(ErrorCode::kInvalidArgument, "cannot infer -1");
      out_shape[infer] = count / known;
    }
  } else if (op == "Flatten") {
    EDGE_TRY(CheckAttrs(n, {"axis"}));
    const int64_t a = n.Int("axis", 1);
    if (a < -rank || a > rank) return Fail(ErrorCode::kInvalidArgument, "axis out of range");
    const int64_t axis = a < 0 ? a + rank : a;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= in_shape[d];
    out_shape = {outer, outer == 0 ? 0 : count / outer};
  } else if (op == "Squeeze") {
    EDGE_TRY(CheckAttrs(n, {"axes"}));
    EDGE_ASSIGN_OR_RETURN(auto axes, axes_of("axes"));
    std::vector<bool> drop(in_shape.size(), false);
    if (axes.empty()) {
      for (size_t d = 0; d < in_shape.size(); ++d) drop[d] = in_shape[d] == 1;
    }
    for (int64_t a : axes) {
      EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(a, rank));
      if (in_shape[ax] != 1) return Fail(ErrorCode::kInvalidArgument, "squeezed axis is not 1");
      drop[ax] = true;
    }
    for (size_t d = 0; d < in_shape.size(); ++d) {
      if (!drop[d]) out_shape.push_back(in_shape[d]);
    }
  } else {  // Unsqueeze
    EDGE_TRY(CheckAttrs(n, {"axes"}));
    EDGE_ASSIGN_OR_RETURN(auto axes, axes_of("axes"));
    const int64_t out_rank = rank + static_cast<int64_t>(axes.size());
    if (out_rank > kMaxRank) return Fail(ErrorCode::kInvalidArgument, "rank too large");
    std::vector<bool> add(static_cast<size_t>(out_rank), false);
    for (int64_t a : axes) {
      EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(a, out_rank));
      if (add[ax]) return Fail(ErrorCode::kInvalidArgument, "repeated axis");
      add[ax] = true;
    }
    size_t src = 0;
    for (int64_t d = 0; d < out_rank; ++d) out_shape.push_back(add[d] ? 1 : in_shape[src++]);
  }
  int64_t out_count = 1;
  for (int64_t d : out_shape) out_count *= d;
  if (out_count != count) {
    return Fail(ErrorCode::kInvalidArgument, "element count changes from " + std::to_string(count) +
                                                 " to " + std::to_string(out_count));
  }
  return BindReshaped(n.inputs[0], n.outputs[0], std::move(out_shape));
}

Status Lowerer::BindReshaped(const std::string& in, const std::string& out, std::vector<int64_t> shape) {
  if (IsConst(in)) {
    ConstTensor t = consts_.at(in);
    t.shape = std::move(shape);
    consts_[out] = std::move(t);
    return Ok();
  }
  if (IsQConst(in)) {
    QConst qc = qconsts_.at(in);
    if (qc.axis >= 0) return Fail(ErrorCode::kInvalidArgument, "reshape of a per-axis quantized constant");
    qc.q.shape = std::move(shape);
    qconsts_[out] = std::move(qc);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind == Sym::Kind::kInt8Raw) return Fail(ErrorCode::kInvalidArgument, "int8 input without DequantizeLinear");
  Value alias = g_.values[s.value];
  alias.name = out;
  alias.shape = std::move(shape);
  alias.alias_of = s.value;
  alias.producer = -1;
  alias.is_const = false;
  const int v = g_.AddValue(std::move(alias));
  syms_[out] = Sym{s.kind, v, false};
  return Ok();
}

Status Lowerer::LowerTranspose(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"perm"}));
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  Node node = MakeNode(OpKind::kTranspose, n);
  node.perm = n.Ints("perm");
  if (node.perm.empty()) {
    for (int64_t d = rank - 1; d >= 0; --d) node.perm.push_back(d);
  }
  if (static_cast<int64_t>(node.perm.size()) != rank) return Fail(ErrorCode::kInvalidArgument, "perm has the wrong length");
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  std::vector<int64_t> out_shape;
  for (int64_t p : node.perm) {
    if (p < 0 || p >= rank || seen[p]) return Fail(ErrorCode::kInvalidArgument, "perm is not a permutation");
    seen[p] = true;
    out_shape.push_back(in_shape[p]);
  }
  if (IsConst(n.inputs[0])) {
    EDGE_ASSIGN_OR_RETURN(bool folded, FoldTranspose(n, node.perm, out_shape));
    if (folded) return Ok();
  }
  return EmitMovement(n, std::move(node), out_shape);
}

Status Lowerer::EmitMovement(const OnnxNode& n, Node node, const std::vector<int64_t>& shape) {
  EDGE_ASSIGN_OR_RETURN(bool integer, TryEmitInteger(n, node, shape));
  if (integer) return Ok();
  if (IsQuant(n.inputs[0])) return EmitQuantSameParams(n, std::move(node), syms_.at(n.inputs[0]).value, shape);
  return EmitFloat(n, std::move(node), shape);
}

Status Lowerer::LowerConcat(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis"}));
  if (n.inputs.empty()) return Fail(ErrorCode::kInvalidArgument, "no inputs");
  EDGE_ASSIGN_OR_RETURN(auto first, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(first.size());
  Node node = MakeNode(OpKind::kConcat, n);
  EDGE_ASSIGN_OR_RETURN(node.axis, NormalizeAxis(n.Int("axis", 0), rank));
  std::vector<int64_t> out_shape = first;
  out_shape[node.axis] = 0;
  bool all_quant = true;
  for (const auto& in : n.inputs) {
    EDGE_ASSIGN_OR_RETURN(auto s, ShapeOfName(in));
    if (static_cast<int64_t>(s.size()) != rank) return Fail(ErrorCode::kInvalidArgument, "inputs differ in rank");
    for (int64_t d = 0; d < rank; ++d) {
      if (d != node.axis && s[d] != first[d]) return Fail(ErrorCode::kInvalidArgument, "inputs differ off the axis");
    }
    out_shape[node.axis] += s[node.axis];
    all_quant = all_quant && IsQuant(in);
  }
  if (all_quant) {
    std::vector<int> ins;
    bool same = true;
    for (const auto& in : n.inputs) {
      ins.push_back(syms_.at(in).value);
      same = same && g_.values[ins.back()].q == g_.values[ins[0]].q;
    }
    node.in = ins;
    if (same) {
      EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, out_shape, g_.values[ins[0]].q));
      node.out = {out};
      AddNode(std::move(node));
      SetQuant(n.outputs[0], out);
      return Ok();
    }
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail) {
      node.kind = OpKind::kQConcat;
      EDGE_TRY(FinishQuant(*tail, out_shape, node));
      return Ok();
    }
  }
  // Integer tensors (constants among them, of the same type) are copied as they are.
  std::optional<DType> type;
  for (const auto& in : n.inputs) type = type ? type : ComputedIntegerType(in);
  std::vector<int> ins;
  for (const auto& in : n.inputs) {
    EDGE_ASSIGN_OR_RETURN(int v, type ? AsInteger(in, *type) : AsFloat(in));
    ins.push_back(v);
  }
  EDGE_TRY(AddStep(std::move(node), std::move(ins), n.outputs[0], type.value_or(DType::kF32), out_shape));
  return Ok();
}

Status Lowerer::EmitSlice(const OnnxNode& n, const SliceWindow& w) {
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  if (w.shape == in_shape && std::all_of(w.step.begin(), w.step.end(), [](int64_t st) { return st == 1; })) {
    // every element, in order: the same tensor
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(n.inputs[0]));
    if (s.kind == Sym::Kind::kFloat || s.kind == Sym::Kind::kQuant || s.kind == Sym::Kind::kInt) {
      syms_[n.outputs[0]] = s;
      return Ok();
    }
  }
  Node node = MakeNode(OpKind::kSlice, n);
  node.starts = w.first;
  node.steps = w.step;
  return EmitMovement(n, std::move(node), w.shape);
}

// Split is one Slice per output along the axis: sizes from `split` (an attribute before opset
// 13, an input after), else equal parts (opset 18's num_outputs: the last may be smaller).
Status Lowerer::LowerSplit(const OnnxNode& n) {
  if (onnx_.opset < 13) {
    EDGE_TRY(CheckAttrs(n, {"axis", "split"}));
  } else if (onnx_.opset < 18) {
    EDGE_TRY(CheckAttrs(n, {"axis"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {"axis", "num_outputs"}));
  }
  if (n.inputs.empty() || n.inputs[0].empty()) return Fail(ErrorCode::kInvalidArgument, "no input");
  if (n.outputs.empty()) return Fail(ErrorCode::kInvalidArgument, "no outputs");
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(n.Int("axis", 0), static_cast<int64_t>(in_shape.size())));
  const int64_t dim = in_shape[axis], parts = static_cast<int64_t>(n.outputs.size());
  std::vector<int64_t> sizes;
  if (onnx_.opset < 13) {
    sizes = n.Ints("split");
  } else if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(n.inputs[1], "split"));
    if (t->is_float()) return Fail(ErrorCode::kInvalidArgument, "split must be integers");
    sizes = t->i;
  }
  if (!sizes.empty()) {
    if (n.Find("num_outputs") != nullptr) return Fail(ErrorCode::kInvalidArgument, "both split and num_outputs are given");
    if (static_cast<int64_t>(sizes.size()) != parts) {
      return Fail(ErrorCode::kInvalidArgument, "split has " + std::to_string(sizes.size()) + " sizes for " +
                                                   std::to_string(parts) + " outputs");
    }
    int64_t total = 0;
    for (int64_t size : sizes) {
      if (size < 0 || size > dim) return Fail(ErrorCode::kInvalidArgument, "split sizes must be between 0 and the axis' length");
      total += size;
    }
    if (total != dim) {
      return Fail(ErrorCode::kInvalidArgument, "split sizes add up to " + std::to_string(total) + ", not the axis' length " +
                                                   std::to_string(dim));
    }
  } else {
    if (onnx_.opset >= 18 && n.Find("num_outputs") == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, "Split from opset 18 needs the split input or the num_outputs attribute");
    }
    if (const OnnxAttr* a = n.Find("num_outputs"); a != nullptr && a->i != parts) {
      return Fail(ErrorCode::kInvalidArgument, "num_outputs is " + std::to_string(a->i) + " but the node has " +
                                                   std::to_string(parts) + " outputs");
    }
    if (onnx_.opset < 18 && dim % parts != 0) {
      return Fail(ErrorCode::kInvalidArgument, "the axis' length " + std::to_string(dim) + " does not split into " +
                                                   std::to_string(parts) + " equal parts");
    }
    const int64_t part = (dim + parts - 1) / parts;
    for (int64_t k = 0, left = dim; k < parts; ++k, left -= part) sizes.push_back(std::clamp<int64_t>(left, 0, part));
  }
  if (std::find(sizes.begin(), sizes.end(), 0) != sizes.end()) {
    return Fail(ErrorCode::kInvalidArgument, "an output would be empty: tensors without elements are not supported");
  }
  SliceWindow w{std::vector<int64_t>(in_shape.size(), 0), std::vector<int64_t>(in_shape.size(), 1), in_shape};
  for (int64_t k = 0; k < parts; ++k) {
    w.shape[axis] = sizes[k];
    if (!n.outputs[k].empty()) {  // an omitted optional output is not computed
      OnnxNode part = n;
      part.inputs = {n.inputs[0]};
      part.outputs = {n.outputs[k]};
      EDGE_TRY(EmitSlice(part, w));
    }
    w.first[axis] += sizes[k];
  }
  return Ok();
}

Status Lowerer::LowerPad(const OnnxNode& n) {
  // Pad-2 takes pads and value as attributes; Pad-11 and later as inputs.
  const bool attr_form = onnx_.opset < 11;
  if (attr_form) {
    EDGE_TRY(CheckAttrs(n, {"mode", "pads", "value"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {"mode"}));
  }
  Node node = MakeNode(OpKind::kPad, n);
  if (const std::string mode = n.Str("mode", "constant"); mode != "constant") {
    if (mode == "edge") {
      node.pad_mode = PadMode::kEdge;
    } else if (mode == "reflect") {
      node.pad_mode = PadMode::kReflect;
    } else {
      return Fail(ErrorCode::kInvalidArgument, "Pad mode '" + mode + "' is not supported (constant, edge, reflect are)");
    }
  }
  if (attr_form) {
    if (n.Find("pads") == nullptr) return Fail(ErrorCode::kInvalidArgument, "missing the pads attribute");
    if (n.inputs.size() != 1) return Fail(ErrorCode::kInvalidArgument, "Pad before opset 11 takes one input");
    node.pads = n.Ints("pads");
    node.pad_value = n.Float("value", 0.0f);
    node.pad_value_int = CastElement<int64_t>(node.pad_value);
  } else {
    if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing pads");
    if (n.inputs.size() > 3 && !n.inputs[3].empty()) return Fail(ErrorCode::kInvalidArgument, "the axes input is not supported");
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* pads, Const(n.inputs[1], "pads"));
    node.pads = pads->i;
  }
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const size_t rank = in_shape.size();
  if (node.pads.size() != 2 * rank) return Fail(ErrorCode::kInvalidArgument, "pads has the wrong length");
  std::vector<int64_t> out_shape = in_shape;
  for (size_t d = 0; d < rank; ++d) {
    if (node.pads[d] < 0 || node.pads[d + rank] < 0 || node.pads[d] > 4096 || node.pads[d + rank] > 4096) {
      return Fail(ErrorCode::kInvalidArgument, "pads must be between 0 and 4096");
    }
    out_shape[d] += node.pads[d] + node.pads[d + rank];
    // A reflection of more than the dimension minus its edge element would be a second one.
    if (node.pad_mode == PadMode::kReflect && std::max(node.pads[d], node.pads[d + rank]) >= in_shape[d]) {
      return Fail(ErrorCode::kInvalidArgument, "reflect pads must be smaller than the padded dimension");
    }
  }
  std::string computed_value;  // a constant_value known only at run time
  if (!attr_form && n.inputs.size() > 2 && !n.inputs[2].empty()) {
    if (IsConst(n.inputs[2]) && !consts_.at(n.inputs[2]).is_float()) {
      const ConstTensor& v = consts_.at(n.inputs[2]);
      if (v.elements() != 1) return Fail(ErrorCode::kInvalidArgument, "constant_value must be a scalar");
      node.pad_value_int = v.i[0];
      node.pad_value = static_cast<float>(v.i[0]);
    } else if (auto v = FloatConst(n.inputs[2])) {
      if (v->elements() != 1) return Fail(ErrorCode::kInvalidArgument, "constant_value must be a scalar");
      node.pad_value = v->f[0];
      node.pad_value_int = CastElement<int64_t>(v->f[0]);
    } else if (node.pad_mode == PadMode::kConstant) {
      computed_value = n.inputs[2];
    }
  }
  if (std::all_of(node.pads.begin(), node.pads.end(), [](int64_t p) { return p == 0; })) {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(n.inputs[0]));
    if (s.kind == Sym::Kind::kFloat || s.kind == Sym::Kind::kQuant || s.kind == Sym::Kind::kInt) {
      syms_[n.outputs[0]] = s;  // padding by nothing: the same tensor
      return Ok();
    }
  }
  if (!computed_value.empty()) {
    // Float only: the step reads the value from its second input on every run.
    if (ComputedIntegerType(n.inputs[0]) || IsQuant(n.inputs[0])) {
      return Fail(ErrorCode::kInvalidArgument, "a computed constant_value is supported for float tensors only");
    }
    EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
    EDGE_ASSIGN_OR_RETURN(int value, AsFloat(computed_value));
    if (g_.values[value].elements != 1) return Fail(ErrorCode::kInvalidArgument, "constant_value must be a scalar");
    return AddFloatStep(std::move(node), {x, value}, n.outputs[0], out_shape).transform([](int) {});
  }
  // The int8 step pads with the storage's zero point, which is 0 for an exact int8 tensor.
  if (ComputedIntegerType(n.inputs[0]) == DType::kI8 && node.pad_mode == PadMode::kConstant && node.pad_value != 0.0f) {
    return Fail(ErrorCode::kInvalidArgument, "constant_value other than 0 for an int8 tensor is not supported");
  }
  EDGE_ASSIGN_OR_RETURN(bool integer, TryEmitInteger(n, node, out_shape));
  if (integer) return Ok();
  if (IsQuant(n.inputs[0]) && node.pad_value == 0.0f) {
    // zero padding in the float domain is the zero point in the int8 domain
    const int x = syms_.at(n.inputs[0]).value;
    return EmitQuantSameParams(n, std::move(node), x, out_shape);
  }
  return EmitFloat(n, std::move(node), out_shape);
}

}  // namespace edge::engine::lowering

namespace edge::engine::lowering {
namespace {

// Resize's coordinate_transformation_mode and nearest_mode (ONNX Operators.md, Resize).
enum class ResizeCoord { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
// kLegacy: Resize-10 and Upsample, which have no nearest_mode: as ONNX Runtime rounds there
// (truncation when upsampling, the ceiling when downsampling).
enum class ResizeNearest { kLegacy, kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

Result<ResizeCoord> ParseResizeCoord(const std::string& s) {
  static const std::pair<const char*, ResizeCoord> kNames[] = {
      {"half_pixel", ResizeCoord::kHalfPixel}, {"half_pixel_symmetric", ResizeCoord::kHalfPixelSymmetric},
      {"pytorch_half_pixel", ResizeCoord::kPytorchHalfPixel}, {"align_corners", ResizeCoord::kAlignCorners},
      {"asymmetric", ResizeCoord::kAsymmetric}, {"tf_half_pixel_for_nn", ResizeCoord::kTfHalfPixelForNn},
      {"tf_crop_and_resize", ResizeCoord::kTfCropAndResize}};
  for (const auto& [name, c] : kNames) {
    if (s == name) return c;
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown coordinate_transformation_mode '" + s + "'");
}

Result<ResizeNearest> ParseResizeNearest(const std::string& s) {
  static const std::pair<const char*, ResizeNearest> kNames[] = {
      {"round_prefer_floor", ResizeNearest::kRoundPreferFloor}, {"round_prefer_ceil", ResizeNearest::kRoundPreferCeil},
      {"floor", ResizeNearest::kFloor}, {"ceil", ResizeNearest::kCeil}};
  for (const auto& [name, m] : kNames) {
    if (s == name) return m;
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown nearest_mode '" + s + "'");
}

// The input coordinate of output index `x` along one axis. `len_out` is the resized length as
// ONNX's reference takes it: scale x input length, not rounded down to the output's size
// (`out_size`, which only half_pixel_symmetric reads).
float OriginalCoordinate(ResizeCoord c, float x, float scale, float len_out, float out_size, float len_in,
                         float roi_start, float roi_end) {
  switch (c) {
    case ResizeCoord::kHalfPixel: return (x + 0.5f) / scale - 0.5f;
    case ResizeCoord::kHalfPixelSymmetric: {
      const float adjustment = out_size / len_out;
      const float center = len_in / 2;
      return center * (1 - adjustment) + (x + 0.5f) / scale - 0.5f;
    }
    case ResizeCoord::kPytorchHalfPixel: return len_out > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case ResizeCoord::kAlignCorners: return len_out == 1 ? 0.0f : x * (len_in - 1) / (len_out - 1);
    case ResizeCoord::kAsymmetric: return x / scale;
    case ResizeCoord::kTfHalfPixelForNn: return (x + 0.5f) / scale;
    case ResizeCoord::kTfCropAndResize:
      return len_out > 1 ? roi_start * (len_in - 1) + (x * (roi_end - roi_start) * (len_in - 1)) / (len_out - 1)
                         : 0.5f * (roi_start + roi_end) * (len_in - 1);
  }
  return 0.0f;
}

int64_t NearestIndex(ResizeNearest m, float x, bool downsampling) {
  x = std::isnan(x) ? 0.0f : std::clamp(x, -1e9f, 1e9f);  // an index either way, no overflow
  switch (m) {
    case ResizeNearest::kLegacy: return downsampling ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
    case ResizeNearest::kRoundPreferCeil: return static_cast<int64_t>(std::round(x));
    case ResizeNearest::kFloor: return static_cast<int64_t>(std::floor(x));
    case ResizeNearest::kCeil: return static_cast<int64_t>(std::ceil(x));
    case ResizeNearest::kRoundPreferFloor:
      if (x == static_cast<float>(static_cast<int64_t>(x)) + 0.5f) return static_cast<int64_t>(std::floor(x));
      return static_cast<int64_t>(std::round(x));
  }
  return 0;
}

}  // namespace

// Resize (opset 10 on) and Upsample (7-9): the output size from constant scales or sizes, then
// per axis the input index (nearest) or the two indices and weights (linear) of every output
// index. Nearest only moves elements, so it runs on every element type and on int8 with the
// input's parameters; linear runs in float.
Status Lowerer::LowerResize(const OnnxNode& n) {
  const bool upsample = n.op_type == "Upsample";
  const int64_t opset = onnx_.opset;
  if (upsample) {
    EDGE_TRY(opset < 9 ? CheckAttrs(n, {"mode", "scales"}) : CheckAttrs(n, {"mode"}));
  } else if (opset < 11) {
    EDGE_TRY(CheckAttrs(n, {"mode"}));
    if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "Resize before opset 11 takes two inputs (X, scales)");
  } else if (opset < 18) {
    EDGE_TRY(CheckAttrs(n, {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                            "exclude_outside", "extrapolation_value"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                            "exclude_outside", "extrapolation_value", "antialias", "axes",
                            "keep_aspect_ratio_policy"}));
  }
  const std::string mode = n.Str("mode", "nearest");
  const bool linear = mode == "linear" || (upsample && mode == "bilinear");
  if (!linear && mode != "nearest") {
    return Fail(ErrorCode::kInvalidArgument, n.op_type + " mode '" + mode + "' is not supported (nearest and linear are)");
  }
  const bool legacy = upsample || opset < 11;
  EDGE_ASSIGN_OR_RETURN(ResizeCoord coord, legacy ? Result<ResizeCoord>(ResizeCoord::kAsymmetric)
                                                  : ParseResizeCoord(n.Str("coordinate_transformation_mode", "half_pixel")));
  EDGE_ASSIGN_OR_RETURN(ResizeNearest nearest, legacy ? Result<ResizeNearest>(ResizeNearest::kLegacy)
                                                      : ParseResizeNearest(n.Str("nearest_mode", "round_prefer_floor")));
  if (n.Int("antialias", 0) != 0 && linear) {
    return Fail(ErrorCode::kInvalidArgument, "Resize with antialias is not supported");
  }
  if (n.Str("keep_aspect_ratio_policy", "stretch") != "stretch") {
    return Fail(ErrorCode::kInvalidArgument, "Resize keep_aspect_ratio_policy other than stretch is not supported");
  }

  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  if (rank == 0) return Fail(ErrorCode::kInvalidArgument, n.op_type + " of a scalar");
  // The axes the scales / sizes / roi are given for: all of them, or (opset 18) the attribute's.
  std::vector<int64_t> axes;
  if (const OnnxAttr* a = n.Find("axes"); a != nullptr) {
    for (int64_t axis : a->ints) {
      EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(axis, rank));
      if (std::find(axes.begin(), axes.end(), ax) != axes.end()) {
        return Fail(ErrorCode::kInvalidArgument, "axes repeats axis " + std::to_string(ax));
      }
      axes.push_back(ax);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  auto input = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : std::string(); };
  const std::string roi_name = legacy ? "" : input(1);
  const std::string scales_name = upsample ? (opset < 9 ? "" : input(1)) : (opset < 11 ? input(1) : input(2));
  const std::string sizes_name = legacy ? "" : input(3);
  // Given: a non-empty tensor (Resize-11 and 12 take an empty scales when sizes are given).
  auto given = [&](const std::string& name, const char* role) -> Result<const ConstTensor*> {
    if (name.empty()) return nullptr;
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(name, role));
    return t->elements() == 0 ? nullptr : t;
  };
  std::vector<float> scales(static_cast<size_t>(rank), 1.0f);
  std::vector<int64_t> out_shape = in_shape;
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* sizes_t, given(sizes_name, "sizes"));
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* scales_t, given(scales_name, "scales"));
  if (upsample && opset < 9) {
    const OnnxAttr* a = n.Find("scales");
    if (a == nullptr) return Fail(ErrorCode::kInvalidArgument, "Upsample needs the scales attribute");
    if (static_cast<int64_t>(a->floats.size()) != rank) {
      return Fail(ErrorCode::kInvalidArgument, "scales has " + std::to_string(a->floats.size()) +
                                                   " elements for an input of rank " + std::to_string(rank));
    }
    scales = a->floats;
  } else if ((sizes_t != nullptr) == (scales_t != nullptr)) {
    return Fail(ErrorCode::kInvalidArgument, sizes_t != nullptr ? "Resize takes scales or sizes, not both"
                                                                : n.op_type + " needs constant scales" + (legacy ? "" : " or sizes"));
  }
  const ConstTensor* given_t = sizes_t != nullptr ? sizes_t : scales_t;
  if (given_t != nullptr) {
    const char* role = sizes_t != nullptr ? "sizes" : "scales";
    if (given_t->elements() != static_cast<int64_t>(axes.size())) {
      return Fail(ErrorCode::kInvalidArgument, std::string(role) + " has " + std::to_string(given_t->elements()) +
                                                   " elements for " + std::to_string(axes.size()) + " axes");
    }
    for (size_t k = 0; k < axes.size(); ++k) {
      const size_t a = static_cast<size_t>(axes[k]);
      if (sizes_t != nullptr) {
        if (sizes_t->is_float() || sizes_t->i[k] < 0) return Fail(ErrorCode::kInvalidArgument, "sizes must be integers of 0 or more");
        out_shape[a] = sizes_t->i[k];
        scales[a] = in_shape[a] == 0 ? 1.0f : static_cast<float>(out_shape[a]) / static_cast<float>(in_shape[a]);
      } else {
        scales[a] = static_cast<float>(given_t->At(static_cast<int64_t>(k)));
      }
    }
  }
  for (int64_t d = 0; d < rank; ++d) {
    const float s = scales[static_cast<size_t>(d)];
    if (!std::isfinite(s) || s <= 0) {
      return Fail(ErrorCode::kInvalidArgument, "scales must be finite and above 0 (axis " + std::to_string(d) + ": " +
                                                   std::to_string(s) + ")");
    }
    if (sizes_t == nullptr) {
      // In float, as ONNX Runtime and ONNX's shape inference compute it (10 x 0.7 is 7, not 6),
      // so the size matches what an exporter wrote into the model.
      const float size = std::floor(static_cast<float>(in_shape[d]) * s);
      out_shape[d] = size > float(kMaxResizeAxis) ? kMaxResizeAxis + 1 : static_cast<int64_t>(size);
    }
    if (out_shape[d] == 0) {
      return Fail(ErrorCode::kInvalidArgument, "axis " + std::to_string(d) + " of the output would have size 0 (" +
                                                   std::to_string(in_shape[d]) + " resized): empty tensors are not supported");
    }
    // The index tables hold 8 to 48 bytes per output index of each axis.
    if (out_shape[d] > kMaxResizeAxis) {
      return Fail(ErrorCode::kResourceExhausted, "axis " + std::to_string(d) + " of the output would have more than " +
                                                     std::to_string(kMaxResizeAxis) + " elements, the most Resize takes per axis");
    }
  }
  EDGE_TRY(CheckedElementCount(out_shape).transform([](int64_t) {}));

  std::vector<float> roi(2 * static_cast<size_t>(rank), 0.0f);
  for (int64_t d = 0; d < rank; ++d) roi[static_cast<size_t>(rank + d)] = 1.0f;
  if (coord == ResizeCoord::kTfCropAndResize) {
    if (roi_name.empty()) return Fail(ErrorCode::kInvalidArgument, "tf_crop_and_resize needs the roi input");
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* r, Const(roi_name, "roi"));
    if (r->elements() != 2 * static_cast<int64_t>(axes.size())) {
      return Fail(ErrorCode::kInvalidArgument, "roi must have 2 elements per axis (starts, then ends)");
    }
    const size_t k_axes = axes.size();
    for (size_t k = 0; k < k_axes; ++k) {
      roi[static_cast<size_t>(axes[k])] = static_cast<float>(r->At(static_cast<int64_t>(k)));
      roi[static_cast<size_t>(rank + axes[k])] = static_cast<float>(r->At(static_cast<int64_t>(k_axes + k)));
    }
  }
  Node node = MakeNode(linear ? OpKind::kResizeLinear : OpKind::kResize, n);
  node.pad_value = n.Float("extrapolation_value", 0.0f);
  bool identity = true, extrapolates = false;
  for (int64_t d = 0; d < rank; ++d) {
    const size_t u = static_cast<size_t>(d);
    const int64_t len_in = in_shape[u], len_out = out_shape[u];
    identity = identity && len_out == len_in;
    // Given sizes: the size itself (scale x length would be it up to rounding).
    const float len_resized = sizes_t != nullptr ? static_cast<float>(len_out)
                                                 : static_cast<float>(double(scales[u]) * double(len_in));
    Node::ResizeAxis ax;
    for (int64_t i = 0; i < len_out; ++i) {
      const float x = OriginalCoordinate(coord, static_cast<float>(i), scales[u], len_resized, static_cast<float>(len_out),
                                         static_cast<float>(len_in), roi[u], roi[u + static_cast<size_t>(rank)]);
      const bool outside = coord == ResizeCoord::kTfCropAndResize && (x < 0 || x > static_cast<float>(len_in - 1));
      if (!linear) {
        const int64_t k = std::clamp<int64_t>(NearestIndex(nearest, x, scales[u] < 1.0f), 0, len_in - 1);
        ax.lo.push_back(outside ? -1 : k);
        continue;
      }
      // As ONNX Runtime: the coordinate clamped to the axis, its two neighbours weighted by the
      // distance to the other one; at the last index the one element (ORT: half of it twice).
      const float c = std::clamp(std::isnan(x) ? 0.0f : x, 0.0f, static_cast<float>(len_in - 1));
      const int64_t lo = std::min(static_cast<int64_t>(c), len_in - 1), hi = std::min(lo + 1, len_in - 1);
      float w_hi = std::abs(c - static_cast<float>(lo)), w_lo = std::abs(c - static_cast<float>(hi));
      if (lo == hi) w_lo = 1.0f, w_hi = 0.0f;
      ax.lo.push_back(outside ? -1 : lo);
      ax.hi.push_back(hi);
      ax.w_lo.push_back(w_lo);
      ax.w_hi.push_back(w_hi);
    }
    for (int64_t i = 0; i < len_out && identity; ++i) {
      const size_t k = static_cast<size_t>(i);
      identity = ax.lo[k] == i && (!linear || ax.w_lo[k] == 1.0f);
    }
    extrapolates = extrapolates || std::find(ax.lo.begin(), ax.lo.end(), -1) != ax.lo.end();
    node.resize.push_back(std::move(ax));
  }
  if (identity) {  // every element where it was: the same tensor
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(n.inputs[0]));
    if (s.kind == Sym::Kind::kFloat || s.kind == Sym::Kind::kQuant || s.kind == Sym::Kind::kInt) {
      syms_[n.outputs[0]] = s;
      return Ok();
    }
  }
  if (linear) {
    if (ComputedIntegerType(n.inputs[0])) {
      return Fail(ErrorCode::kInvalidArgument, "linear " + n.op_type + " of an integer tensor is not supported (nearest is)");
    }
    return EmitFloat(n, std::move(node), out_shape);
  }
  // The extrapolation value in the element type: integers as Cast converts a float; int8 with
  // the input's parameters only where that is the value exactly (else the Resize runs in float,
  // as DequantizeLinear -> Resize would, and writes the value itself).
  if (auto type = ComputedIntegerType(n.inputs[0])) {
    node.pad_value_int = VisitStorageType(*type, [&](auto tag) {
      return static_cast<int64_t>(CastElement<typename decltype(tag)::type>(node.pad_value));
    });
    EDGE_ASSIGN_OR_RETURN(bool integer, TryEmitInteger(n, node, out_shape));
    if (integer) return Ok();
  }
  if (IsQuant(n.inputs[0])) {
    const int x = syms_.at(n.inputs[0]).value;
    const QParams q = g_.values[x].q;
    const float code = std::nearbyint(node.pad_value / q.scale) + static_cast<float>(q.zero_point);
    const bool exact = std::isfinite(code) && code >= -128.0f && code <= 127.0f &&
                       q.Dequantize(static_cast<int32_t>(code)) == node.pad_value;
    if (!extrapolates || exact) {
      node.pad_value_int = extrapolates ? static_cast<int64_t>(code) : 0;
      return EmitQuantSameParams(n, std::move(node), x, out_shape);
    }
  }
  return EmitFloat(n, std::move(node), out_shape);
}

}  // namespace edge::engine::lowering
