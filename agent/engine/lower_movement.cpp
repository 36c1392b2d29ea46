// Data movement that PyTorch exports as operators of their own, lowered to the steps the engine
// already has, so every element type (float, int8 with its input's parameters, exact integers)
// and every tier's fast paths come with them:
//  * DepthToSpace / SpaceToDepth (PixelShuffle / PixelUnshuffle): ONNX defines them as a
//    Reshape to 6-D, a Transpose and a Reshape back; the reshapes are aliases and the Transpose
//    is the Transpose step (runs copied, int8 2-D slices through the tier's byte transpose).
//  * Expand (F.normalize's norm broadcast to the input): a nearest Resize step whose index
//    table along a broadcast axis is all zeros (the step fills a row from one element and copies
//    a row that reads the row before).
//  * Gather of a computed tensor with constant indices (x[:, :, -1], x[:, idx]): a Slice where
//    the indices step evenly (one index included), else the Resize step's index table along the
//    axis; the indices' shape is then an alias.
//  * Gather with computed indices (nn.Embedding: a table and int64 ids): one kGatherRows step
//    that copies, per index, the row of data's dimensions after the axis.
#include "agent/engine/lowerer.h"

namespace edge::engine::lowering {

Status Lowerer::LowerDepthSpace(const OnnxNode& n) {
  const bool to_space = n.op_type == "DepthToSpace";
  // DepthToSpace's mode came with opset 11 (before it, DCR only)
  EDGE_TRY(to_space && onnx_.opset >= 11 ? CheckAttrs(n, {"blocksize", "mode"}) : CheckAttrs(n, {"blocksize"}));
  const OnnxAttr* blocksize = n.Find("blocksize");
  if (blocksize == nullptr) return Fail(ErrorCode::kInvalidArgument, "the integer attribute blocksize is required");
  const int64_t b = blocksize->i;
  if (b < 1) return Fail(ErrorCode::kInvalidArgument, "blocksize must be 1 or more, not " + std::to_string(b));
  if (n.inputs.size() != 1 || n.outputs.size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "takes one input and gives one output");
  }
  const std::string mode = to_space ? n.Str("mode", "DCR") : "";
  if (to_space && mode != "DCR" && mode != "CRD") {
    return Fail(ErrorCode::kInvalidArgument, "mode must be DCR or CRD, not '" + mode + "'");
  }
  EDGE_ASSIGN_OR_RETURN(auto x, ShapeOfName(n.inputs[0]));
  if (x.size() != 4) {
    return Fail(ErrorCode::kInvalidArgument, "input must be 4-D [N, C, H, W], not of rank " + std::to_string(x.size()));
  }
  if (b == 1) return BindReshaped(n.inputs[0], n.outputs[0], std::move(x));  // every element stays
  const int64_t batch = x[0], c = x[1], h = x[2], w = x[3];
  std::vector<int64_t> blocks, perm, out_shape;
  if (to_space) {
    // b <= c first: b * b cannot overflow then (c is at most 2^28)
    if (b > c || c % (b * b) != 0) {
      return Fail(ErrorCode::kInvalidArgument, "the input's " + std::to_string(c) +
                                                   " channels are not a multiple of blocksize x blocksize (" +
                                                   std::to_string(b) + " x " + std::to_string(b) + ")");
    }
    const int64_t depth = c / (b * b);
    // DCR: channel (i * b + j) * depth + k; CRD: (k * b + i) * b + j. Either way the output's
    // (k, y * b + i, x * b + j).
    blocks =
        mode == "DCR" ? std::vector<int64_t>{batch, b, b, depth, h, w} : std::vector<int64_t>{batch, depth, b, b, h, w};
    perm = mode == "DCR" ? std::vector<int64_t>{0, 3, 4, 1, 5, 2} : std::vector<int64_t>{0, 1, 4, 2, 5, 3};
    out_shape = {batch, depth, h * b, w * b};
  } else {
    if (h % b != 0 || w % b != 0) {
      return Fail(ErrorCode::kInvalidArgument, "the input's height " + std::to_string(h) + " and width " +
                                                   std::to_string(w) + " must be multiples of blocksize " +
                                                   std::to_string(b));
    }
    blocks = {batch, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    out_shape = {batch, c * b * b, h / b, w / b};
  }
  const std::string split = FreshName(n.outputs[0] + ".blocks");
  EDGE_TRY(BindReshaped(n.inputs[0], split, std::move(blocks)));
  OnnxNode t;
  t.name = n.name;
  t.op_type = n.op_type;  // the step reads "DepthToSpace ..." in profiles
  t.inputs = {split};
  t.outputs = {FreshName(n.outputs[0] + ".moved")};
  OnnxAttr perm_attr;
  perm_attr.kind = OnnxAttr::Kind::kInts;
  perm_attr.name = "perm";
  perm_attr.ints = std::move(perm);
  t.attrs.push_back(std::move(perm_attr));
  EDGE_TRY(LowerTranspose(t));
  return BindReshaped(t.outputs[0], n.outputs[0], std::move(out_shape));
}

Status Lowerer::EmitIndexTables(const OnnxNode& n, const std::vector<std::vector<int64_t>>& tables) {
  Node node = MakeNode(OpKind::kResize, n);
  std::vector<int64_t> out_shape;
  for (const auto& table : tables) {
    if (static_cast<int64_t>(table.size()) > kMaxResizeAxis) {
      return Fail(ErrorCode::kResourceExhausted, "output axis " + std::to_string(out_shape.size()) + " would have " +
                                                     std::to_string(table.size()) + " elements, more than the " +
                                                     std::to_string(kMaxResizeAxis) + " its index tables take");
    }
    out_shape.push_back(static_cast<int64_t>(table.size()));
    Node::ResizeAxis axis;
    axis.lo = table;
    node.resize.push_back(std::move(axis));
  }
  EDGE_TRY(CheckedElementCount(out_shape).transform([](int64_t) {}));
  return EmitMovement(n, std::move(node), out_shape);
}

// Expand-8/13: the output shape is the input's and `shape` broadcast both ways (numpy rules, so
// a 1 in `shape` keeps the input's dimension). A constant integer input (shape arithmetic)
// folds; anything else is one step.
Status Lowerer::LowerExpand(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 2 || n.inputs[1].empty() || n.outputs.size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "takes input and shape and gives one output");
  }
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* shape, Const(n.inputs[1], "shape"));
  if (shape->dtype != DType::kI64 || shape->shape.size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "shape must be a 1-D int64 tensor");
  }
  for (int64_t d : shape->i) {
    if (d < 0) return Fail(ErrorCode::kInvalidArgument, "shape holds the negative dimension " + std::to_string(d));
  }
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(in_shape, shape->i));
  if (static_cast<int64_t>(out_shape.size()) > kMaxRank) {
    return Fail(ErrorCode::kInvalidArgument, "the output would have rank " + std::to_string(out_shape.size()) +
                                                 ", above the engine's " + std::to_string(kMaxRank));
  }
  for (int64_t d : out_shape) {
    if (d == 0)
      return Fail(ErrorCode::kInvalidArgument, "the output would be empty: tensors without elements are not supported");
  }
  // The input seen at the output's rank (leading 1s), then per axis 0 where it broadcasts.
  std::vector<int64_t> ranked(out_shape.size() - in_shape.size(), 1);
  ranked.insert(ranked.end(), in_shape.begin(), in_shape.end());
  std::vector<std::vector<int64_t>> tables;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    std::vector<int64_t> table(static_cast<size_t>(std::min(out_shape[d], kMaxResizeAxis + 1)), 0);
    if (ranked[d] != 1) {
      for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int64_t>(i);
    }
    tables.push_back(std::move(table));
  }
  if (IsConst(n.inputs[0]) && !consts_.at(n.inputs[0]).is_float()) {
    EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(out_shape));
    const ConstTensor& data = consts_.at(n.inputs[0]);
    std::vector<int64_t> values(static_cast<size_t>(count));
    std::vector<int64_t> idx(out_shape.size(), 0);
    for (int64_t k = 0; k < count; ++k) {
      int64_t src = 0;
      for (size_t d = 0; d < out_shape.size(); ++d) src = src * ranked[d] + tables[d][static_cast<size_t>(idx[d])];
      values[static_cast<size_t>(k)] = data.i[static_cast<size_t>(src)];
      for (size_t d = out_shape.size(); d-- > 0;) {
        if (++idx[d] < out_shape[d]) break;
        idx[d] = 0;
      }
    }
    consts_[n.outputs[0]] = MakeIntTensor(data.dtype, std::move(out_shape), std::move(values));
    return Ok();
  }
  if (ranked == out_shape) {  // nothing to broadcast: the same tensor at its own shape
    return BindReshaped(n.inputs[0], n.outputs[0], std::move(out_shape));
  }
  OnnxNode e = n;
  e.inputs = {FreshName(n.outputs[0] + ".ranked")};
  EDGE_TRY(BindReshaped(n.inputs[0], e.inputs[0], std::move(ranked)));
  return EmitIndexTables(e, tables);
}

// Gather(data, indices, axis) of a computed tensor, indices constant: output element
// (a..., i..., b...) is data[a..., indices[i...], b...], a negative index counting from the end.
Status Lowerer::LowerGatherOfComputed(const OnnxNode& n) {
  // (the engine plans every shape at load: computed indices would give the output's at run time)
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* indices_t, Const(n.inputs[1], "indices"));
  const ConstTensor& indices = *indices_t;
  if (indices.is_float()) return Fail(ErrorCode::kInvalidArgument, "indices must be integers");
  EDGE_ASSIGN_OR_RETURN(auto x, ShapeOfName(n.inputs[0]));
  const auto rank = static_cast<int64_t>(x.size());
  if (rank == 0) return Fail(ErrorCode::kInvalidArgument, "data must have rank 1 or more");
  EDGE_ASSIGN_OR_RETURN(const int64_t axis, NormalizeAxis(n.Int("axis", 0), rank));
  const int64_t extent = x[axis];
  std::vector<int64_t> picked;
  for (int64_t idx : indices.i) {
    if (idx < -extent || idx >= extent) {
      return Fail(ErrorCode::kInvalidArgument, "index " + std::to_string(idx) + " is outside axis " +
                                                   std::to_string(axis) + " of length " + std::to_string(extent));
    }
    picked.push_back(idx < 0 ? idx + extent : idx);
  }
  if (picked.empty())
    return Fail(ErrorCode::kInvalidArgument, "no indices: tensors without elements are not supported");
  std::vector<int64_t> out_shape(x.begin(), x.begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape.begin(), indices.shape.end());
  out_shape.insert(out_shape.end(), x.begin() + axis + 1, x.end());
  if (static_cast<int64_t>(out_shape.size()) > kMaxRank) {
    return Fail(ErrorCode::kInvalidArgument, "the output would have rank " + std::to_string(out_shape.size()) +
                                                 ", above the engine's " + std::to_string(kMaxRank));
  }
  // The picked slices along the axis, then the indices' own shape (an alias).
  OnnxNode g = n;
  g.outputs = {FreshName(n.outputs[0] + ".picked")};
  const int64_t step = picked.size() > 1 ? picked[1] - picked[0] : 1;
  bool even = step != 0;
  for (size_t k = 1; k < picked.size() && even; ++k) even = picked[k] - picked[k - 1] == step;
  if (even) {
    SliceWindow w{std::vector<int64_t>(x.size(), 0), std::vector<int64_t>(x.size(), 1), x};
    w.first[axis] = picked[0];
    w.step[axis] = step;
    w.shape[axis] = static_cast<int64_t>(picked.size());
    EDGE_TRY(EmitSlice(g, w));
  } else {
    std::vector<std::vector<int64_t>> tables;
    for (int64_t d = 0; d < rank; ++d) {
      std::vector<int64_t> table =
          d == axis ? picked : std::vector<int64_t>(static_cast<size_t>(std::min(x[d], kMaxResizeAxis + 1)));
      if (d != axis) {
        for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int64_t>(i);
      }
      tables.push_back(std::move(table));
    }
    EDGE_TRY(EmitIndexTables(g, tables));
  }
  return BindReshaped(g.outputs[0], n.outputs[0], std::move(out_shape));
}

// Gather(data, indices, axis) with computed indices, int32 or int64 (ONNX Gather-13 takes no
// others): out[a..., i..., b...] = data[a..., indices[i...], b...], data constant (a float table,
// an int8 one behind DequantizeLinear, exact integers) or computed, in its own element type:
// exact integers stay integers, an int8 activation or a per-tensor int8 table keeps its codes
// and parameters, anything else is float. The step checks every index at run time: one outside
// [-dim, dim) gives a row of zeros (graph.h, kGatherRows).
Status Lowerer::LowerGatherOfIndices(const OnnxNode& n) {
  const std::string& data = n.inputs[0];
  const std::string& indices = n.inputs[1];
  EDGE_ASSIGN_OR_RETURN(Sym ix, Get(indices));
  const auto index_type = ComputedIntegerType(indices);
  if (!index_type || (*index_type != DType::kI32 && *index_type != DType::kI64)) {
    const std::string what = index_type                      ? DTypeName(*index_type)
                             : ix.kind == Sym::Kind::kInt8Raw ? "the raw int8 output of a QuantizeLinear"
                                                              : "float";
    return Fail(ErrorCode::kInvalidArgument, "indices '" + indices + "' are " + what +
                                                 ": Gather takes int32 or int64 indices (a constant or computed)");
  }
  EDGE_ASSIGN_OR_RETURN(auto x, ShapeOfName(data));
  const auto rank = static_cast<int64_t>(x.size());
  if (rank == 0) return Fail(ErrorCode::kInvalidArgument, "data must have rank 1 or more");
  Node node = MakeNode(OpKind::kGatherRows, n);
  EDGE_ASSIGN_OR_RETURN(node.axis, NormalizeAxis(n.Int("axis", 0), rank));
  const std::vector<int64_t>& index_shape = g_.values[ix.value].shape;
  std::vector<int64_t> out_shape(x.begin(), x.begin() + node.axis);
  out_shape.insert(out_shape.end(), index_shape.begin(), index_shape.end());
  out_shape.insert(out_shape.end(), x.begin() + node.axis + 1, x.end());
  if (static_cast<int64_t>(out_shape.size()) > kMaxRank) {
    return Fail(ErrorCode::kInvalidArgument, "the output would have rank " + std::to_string(out_shape.size()) +
                                                 ", above the engine's " + std::to_string(kMaxRank));
  }
  const std::string& out = n.outputs[0];
  if (auto type = ComputedIntegerType(data)) {
    EDGE_TRY(AddStep(std::move(node), {syms_.at(data).value, ix.value}, out, *type, out_shape));
    return Ok();
  }
  if (IsConst(data) && !consts_.at(data).is_float()) {
    const DType type = consts_.at(data).dtype;
    EDGE_ASSIGN_OR_RETURN(int table, AsInteger(data, type));
    EDGE_TRY(AddStep(std::move(node), {table, ix.value}, out, type, out_shape));
    return Ok();
  }
  int table = -1;
  if (IsQuant(data)) {
    table = syms_.at(data).value;
  } else if (IsQConst(data) && qconsts_.at(data).axis < 0 && !qconsts_.at(data).is_int32) {
    // an int8 table behind DequantizeLinear, one scale: its codes, read with its parameters
    const QConst& qc = qconsts_.at(data);
    Value v;
    v.name = data;
    v.dtype = DType::kI8;
    v.shape = qc.q.shape;
    v.elements = qc.q.elements();
    v.q = QParams{qc.scales[0], qc.zps[0]};
    v.is_const = true;
    v.ci.assign(qc.q.i.begin(), qc.q.i.end());
    table = g_.AddValue(std::move(v));
  }
  if (table >= 0) {
    EDGE_ASSIGN_OR_RETURN(int y, NewValue(out, DType::kI8, out_shape, g_.values[table].q));
    node.in = {table, ix.value};
    node.out = {y};
    AddNode(std::move(node));
    SetQuant(out, y);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(table, AsFloat(data));
  EDGE_TRY(AddFloatStep(std::move(node), {table, ix.value}, out, out_shape));
  return Ok();
}

}  // namespace edge::engine::lowering
