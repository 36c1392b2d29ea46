// Shape arithmetic folded at load. Every plan has fixed shapes (one plan per batch size of a
// batch-dynamic model), so Shape, and what exporters compute from it to feed Reshape, Expand or
// Slice (PyTorch's x.view(x.size(0), -1) becomes Shape -> Gather -> Unsqueeze -> Concat ->
// Reshape), are constants by the time a plan is compiled. Gather, Slice and ConstantOfShape of
// constants fold here (Gather and Slice of computed tensors are steps: lower_movement.cpp,
// EmitSlice); Concat and Add/Sub/Mul/Div fold here when all their inputs are integer constants
// (float constants keep their usual lowering), and Transpose of integer constants and of float
// ones up to 65,536 elements.
#include <algorithm>
#include <cstdint>

#include "agent/engine/lowerer.h"
#include "agent/engine/ops/element_types.h"
#include "agent/engine/shape_rules.h"

namespace edge::engine::lowering {
namespace {

// Row-major strides of `shape`.
std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
  return s;
}

// The flat index in a tensor of `shape` (broadcast to `out_shape`) of output element `k`.
int64_t BroadcastIndex(int64_t k, const std::vector<int64_t>& out_shape, const std::vector<int64_t>& shape) {
  const auto out_strides = Strides(out_shape), strides = Strides(shape);
  const size_t offset = out_shape.size() - shape.size();
  int64_t index = 0;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    const int64_t coord = (k / out_strides[d]) % out_shape[d];
    if (d >= offset && shape[d - offset] != 1) index += coord * strides[d - offset];
  }
  return index;
}

// Constants computed at load may be larger than anything in the file (ConstantOfShape, a
// broadcast, a Concat of Concats, a Gather repeating indices): their total is bounded, so that a
// small hostile model cannot make the loader allocate gigabytes. Shape arithmetic needs a
// handful of elements; a mask or a table built this way a few million at most.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 22;

}  // namespace

Result<int64_t> Lowerer::CountFolded(const std::vector<int64_t>& shape) {
  EDGE_ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape));
  if (count > kMaxFoldedElements - folded_elements_) {
    return Fail(ErrorCode::kInvalidArgument, "the constant it computes at load (" + std::to_string(count) +
                                                 " elements) takes the model's constants computed at load over the limit of " +
                                                 std::to_string(kMaxFoldedElements) + " elements");
  }
  folded_elements_ += count;
  return count;
}

Status Lowerer::LowerShape(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"start", "end"}));
  EDGE_ASSIGN_OR_RETURN(auto shape, ShapeOfName(n.inputs[0]));
  const auto rank = static_cast<int64_t>(shape.size());
  // Shape-15's start/end: negative counts from the back, out of range clamps.
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  const int64_t start = clamp(n.Int("start", 0)), end = clamp(n.Int("end", rank));
  std::vector<int64_t> dims(shape.begin() + start, shape.begin() + std::max(start, end));
  const auto count = static_cast<int64_t>(dims.size());
  consts_[n.outputs[0]] = MakeIntTensor(DType::kI64, {count}, std::move(dims));
  return Ok();
}

Status Lowerer::LowerGather(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis"}));
  if (n.inputs.size() != 2 || n.outputs.size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "takes data and indices and gives one output");
  }
  if (!IsConst(n.inputs[1])) return LowerGatherOfIndices(n);
  if (!IsConst(n.inputs[0])) return LowerGatherOfComputed(n);
  const ConstTensor& data = consts_.at(n.inputs[0]);
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* indices, Const(n.inputs[1], "indices"));
  if (indices->is_float()) return Fail(ErrorCode::kInvalidArgument, "indices must be integers");
  const auto rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0) return Fail(ErrorCode::kInvalidArgument, "data must have rank 1 or more");
  EDGE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(n.Int("axis", 0), rank));
  const int64_t extent = data.shape[axis];
  std::vector<int64_t> out_shape(data.shape.begin(), data.shape.begin() + axis);
  out_shape.insert(out_shape.end(), indices->shape.begin(), indices->shape.end());
  out_shape.insert(out_shape.end(), data.shape.begin() + axis + 1, data.shape.end());
  EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(out_shape));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data.shape[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= data.shape[d];
  ConstTensor out;
  out.dtype = data.dtype;
  out.shape = out_shape;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < indices->elements(); ++j) {
      int64_t idx = indices->i[j];
      if (idx < -extent || idx >= extent) {
        return Fail(ErrorCode::kInvalidArgument, "index " + std::to_string(idx) + " is outside an axis of " +
                                                     std::to_string(extent));
      }
      if (idx < 0) idx += extent;
      for (int64_t k = 0; k < inner; ++k) {
        const int64_t src = (o * extent + idx) * inner + k;
        if (data.is_float()) {
          out.f.push_back(data.f[src]);
        } else {
          out.i.push_back(data.i[src]);
        }
      }
    }
  }
  if (out.elements() != count) return Fail(ErrorCode::kInternal, "gather size");
  consts_[n.outputs[0]] = std::move(out);
  return Ok();
}

Status Lowerer::LowerConstantOfShape(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"value"}));
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* shape, Const(n.inputs[0], "shape"));
  if (shape->is_float() || shape->shape.size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "shape must be a 1-D integer tensor");
  }
  EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(shape->i));
  ConstTensor out = MakeFloatTensor(shape->i, std::vector<float>(static_cast<size_t>(count), 0.0f));
  if (const OnnxAttr* value = n.Find("value")) {
    if (value->kind != OnnxAttr::Kind::kTensor || value->t.elements() != 1) {
      return Fail(ErrorCode::kInvalidArgument, "value must be a one-element tensor");
    }
    out.dtype = value->t.dtype;
    if (value->t.is_float()) {
      std::fill(out.f.begin(), out.f.end(), value->t.f[0]);
    } else {
      out.f.clear();
      out.i.assign(static_cast<size_t>(count), value->t.i[0]);
    }
  }
  consts_[n.outputs[0]] = std::move(out);
  return Ok();
}

Result<SliceWindow> Lowerer::SliceWindowOf(const OnnxNode& n, const std::vector<int64_t>& shape) {
  const auto rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (onnx_.opset < 10) {  // Slice-1: starts, ends, axes as attributes
    EDGE_TRY(CheckAttrs(n, {"starts", "ends", "axes"}));
    starts = n.Ints("starts");
    ends = n.Ints("ends");
    axes = n.Ints("axes");
  } else {
    EDGE_TRY(CheckAttrs(n, {}));
    auto operand = [&](size_t k, const char* role) -> Result<std::vector<int64_t>> {
      if (n.inputs.size() <= k || n.inputs[k].empty()) return std::vector<int64_t>{};
      EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(n.inputs[k], role));
      if (t->is_float()) return Fail(ErrorCode::kInvalidArgument, std::string(role) + " must be integers");
      return t->i;
    };
    EDGE_ASSIGN_OR_RETURN(starts, operand(1, "starts"));
    EDGE_ASSIGN_OR_RETURN(ends, operand(2, "ends"));
    EDGE_ASSIGN_OR_RETURN(axes, operand(3, "axes"));
    EDGE_ASSIGN_OR_RETURN(steps, operand(4, "steps"));
  }
  if (starts.size() != ends.size() || (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size())) {
    return Fail(ErrorCode::kInvalidArgument, "starts, ends, axes and steps differ in length");
  }
  // Per axis: first index, step and count, by the ONNX rules (clamping; negative steps walk back).
  SliceWindow w{std::vector<int64_t>(static_cast<size_t>(rank), 0), std::vector<int64_t>(static_cast<size_t>(rank), 1), shape};
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t k = 0; k < starts.size(); ++k) {
    EDGE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axes.empty() ? static_cast<int64_t>(k) : axes[k], rank));
    if (seen[axis]) return Fail(ErrorCode::kInvalidArgument, "an axis is sliced twice");
    seen[axis] = true;
    const int64_t dim = shape[axis], st = steps.empty() ? 1 : steps[k];
    if (st == 0) return Fail(ErrorCode::kInvalidArgument, "step 0");
    // ONNX's clamping: a positive step walks [0, dim], a negative one starts in [0, dim - 1] and
    // ends in [-1, dim - 1]. Counted without overflow for any step, INT64_MIN included.
    auto norm = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v < 0 ? (v < -dim ? lo : v + dim) : v, lo, hi); };
    const int64_t s = st > 0 ? norm(starts[k], 0, dim) : norm(starts[k], 0, dim - 1);
    const int64_t e = st > 0 ? norm(ends[k], 0, dim) : norm(ends[k], -1, dim - 1);
    const uint64_t span = st > 0 ? (e > s ? static_cast<uint64_t>(e - s) : 0) : (s > e ? static_cast<uint64_t>(s - e) : 0);
    const uint64_t stride = st > 0 ? static_cast<uint64_t>(st) : uint64_t{0} - static_cast<uint64_t>(st);
    const auto count = static_cast<int64_t>(span == 0 ? 0 : (span - 1) / stride + 1);
    if (count == 0) return Fail(ErrorCode::kInvalidArgument, "the slice is empty: tensors without elements are not supported");
    w.first[axis] = s;
    // A step past the axis takes one element: any step then reads the same, and 1 keeps the
    // step's stride arithmetic far from overflow.
    w.step[axis] = count == 1 ? 1 : st;
    w.shape[axis] = count;
  }
  return w;
}

Status Lowerer::LowerSlice(const OnnxNode& n) {
  if (!IsConst(n.inputs[0])) {
    EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
    EDGE_ASSIGN_OR_RETURN(SliceWindow w, SliceWindowOf(n, in_shape));
    return EmitSlice(n, w);
  }
  const ConstTensor& data = consts_.at(n.inputs[0]);
  const auto rank = static_cast<int64_t>(data.shape.size());
  EDGE_ASSIGN_OR_RETURN(SliceWindow w, SliceWindowOf(n, data.shape));
  const std::vector<int64_t>&first = w.first, &step = w.step, &out_shape = w.shape;
  EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(out_shape));
  const auto in_strides = Strides(data.shape), out_strides = Strides(out_shape);
  ConstTensor out;
  out.dtype = data.dtype;
  out.shape = out_shape;
  for (int64_t k = 0; k < count; ++k) {
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d) src += (first[d] + ((k / out_strides[d]) % out_shape[d]) * step[d]) * in_strides[d];
    if (data.is_float()) {
      out.f.push_back(data.f[src]);
    } else {
      out.i.push_back(data.i[src]);
    }
  }
  consts_[n.outputs[0]] = std::move(out);
  return Ok();
}

Result<bool> Lowerer::FoldTranspose(const OnnxNode& n, const std::vector<int64_t>& perm,
                                    const std::vector<int64_t>& out_shape) {
  const ConstTensor& data = consts_.at(n.inputs[0]);
  // A large float constant (a weight stored transposed) stays a run-time step, so that it does
  // not spend the bound shape arithmetic needs; integers always fold (the run-time step would
  // take them for floats), or fail with the bound's message.
  constexpr int64_t kLargestFloatFold = int64_t{1} << 16;
  if (data.is_float() && data.elements() > kLargestFloatFold) return false;
  const Result<int64_t> count = CountFolded(out_shape);
  if (!count.has_value()) {
    if (data.is_float()) return false;
    return Fail(count.error());
  }
  const auto in_strides = Strides(data.shape), out_strides = Strides(out_shape);
  ConstTensor out;
  out.dtype = data.dtype;
  out.shape = out_shape;
  for (int64_t k = 0; k < *count; ++k) {
    int64_t src = 0;
    for (size_t d = 0; d < out_shape.size(); ++d) src += ((k / out_strides[d]) % out_shape[d]) * in_strides[perm[d]];
    if (data.is_float()) {
      out.f.push_back(data.f[src]);
    } else {
      out.i.push_back(data.i[src]);
    }
  }
  consts_[n.outputs[0]] = std::move(out);
  return true;
}

Result<bool> Lowerer::FoldIntegerConstants(const OnnxNode& n) {
  // Only when every input is a named constant; anything else is the op's usual lowering's to judge.
  bool any_int = false;
  for (const auto& in : n.inputs) {
    if (in.empty() || !IsConst(in)) return false;
    any_int = any_int || !consts_.at(in).is_float();
  }
  if (!any_int) return false;
  const DType type = consts_.at(n.inputs[0]).dtype;
  for (const auto& in : n.inputs) {
    if (consts_.at(in).dtype != type) {
      return Fail(ErrorCode::kInvalidArgument, "inputs differ in element type (" + DTypeName(type) + " and " +
                                                   DTypeName(consts_.at(in).dtype) + ")");
    }
  }
  if (n.op_type == "Concat") {
    EDGE_TRY(CheckAttrs(n, {"axis"}));
    const ConstTensor& head = consts_.at(n.inputs[0]);
    const auto rank = static_cast<int64_t>(head.shape.size());
    EDGE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(n.Int("axis", 0), rank));
    std::vector<int64_t> out_shape = head.shape;
    out_shape[axis] = 0;
    for (const auto& in : n.inputs) {
      const ConstTensor& t = consts_.at(in);
      if (static_cast<int64_t>(t.shape.size()) != rank) return Fail(ErrorCode::kInvalidArgument, "inputs differ in rank");
      for (int64_t d = 0; d < rank; ++d) {
        if (d != axis && t.shape[d] != head.shape[d]) return Fail(ErrorCode::kInvalidArgument, "inputs differ off the axis");
      }
      out_shape[axis] += t.shape[axis];
    }
    EDGE_TRY(CountFolded(out_shape).transform([](int64_t) {}));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[d];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= out_shape[d];
    std::vector<int64_t> values;
    for (int64_t o = 0; o < outer; ++o) {
      for (const auto& in : n.inputs) {
        const ConstTensor& t = consts_.at(in);
        const int64_t block = t.shape[axis] * inner;
        values.insert(values.end(), t.i.begin() + o * block, t.i.begin() + (o + 1) * block);
      }
    }
    consts_[n.outputs[0]] = MakeIntTensor(head.dtype, std::move(out_shape), std::move(values));
    return true;
  }
  // Add, Sub, Mul, Div on integers, numpy broadcasting; Div truncates toward zero.
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "needs two inputs");
  const ConstTensor &a = consts_.at(n.inputs[0]), &b = consts_.at(n.inputs[1]);
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(a.shape, b.shape));
  EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(out_shape));
  // In the tensors' own type, as the op computes at run time (ops/element_types.h): wrapping,
  // division toward zero, x / 0 = 0.
  std::vector<int64_t> values(static_cast<size_t>(count));
  const std::string& op = n.op_type;
  VisitStorageType(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using E = ElementArith<T>;
    for (int64_t k = 0; k < count; ++k) {
      const T x = static_cast<T>(a.i[BroadcastIndex(k, out_shape, a.shape)]);
      const T y = static_cast<T>(b.i[BroadcastIndex(k, out_shape, b.shape)]);
      const T r = op == "Add" ? E::Add(x, y) : op == "Sub" ? E::Sub(x, y) : op == "Mul" ? E::Mul(x, y) : E::Div(x, y);
      values[k] = static_cast<int64_t>(r);
    }
  });
  consts_[n.outputs[0]] = MakeIntTensor(a.dtype, std::move(out_shape), std::move(values));
  return true;
}

// Equal and Where of constants (PyTorch's export of expand(-1, n, -1) computes its shape with
// them): folded at load, numpy broadcasting. Of computed tensors they are refused.
Status Lowerer::LowerEqual(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "needs two inputs");
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* a, Const(n.inputs[0], "A"));
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* b, Const(n.inputs[1], "B"));
  if (a->is_float() != b->is_float()) {
    return Fail(ErrorCode::kInvalidArgument, "inputs differ in element type (" + DTypeName(a->dtype) + " and " + DTypeName(b->dtype) + ")");
  }
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(a->shape, b->shape));
  EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(out_shape));
  std::vector<int64_t> values(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    const int64_t i = BroadcastIndex(k, out_shape, a->shape), j = BroadcastIndex(k, out_shape, b->shape);
    values[k] = a->is_float() ? a->f[i] == b->f[j] : a->i[i] == b->i[j];
  }
  consts_[n.outputs[0]] = MakeIntTensor(DType::kBool, std::move(out_shape), std::move(values));
  return Ok();
}

Status Lowerer::LowerWhere(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 3) return Fail(ErrorCode::kInvalidArgument, "needs three inputs");
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* c, Const(n.inputs[0], "condition"));
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* x, Const(n.inputs[1], "X"));
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* y, Const(n.inputs[2], "Y"));
  if (c->dtype != DType::kBool) return Fail(ErrorCode::kInvalidArgument, "condition must be bool");
  if (x->dtype != y->dtype) {
    return Fail(ErrorCode::kInvalidArgument, "X and Y differ in element type (" + DTypeName(x->dtype) + " and " + DTypeName(y->dtype) + ")");
  }
  EDGE_ASSIGN_OR_RETURN(auto xy_shape, BroadcastShapes(x->shape, y->shape));
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(c->shape, xy_shape));
  EDGE_ASSIGN_OR_RETURN(int64_t count, CountFolded(out_shape));
  ConstTensor out = x->is_float() ? MakeFloatTensor(out_shape, std::vector<float>(static_cast<size_t>(count)))
                                  : MakeIntTensor(x->dtype, out_shape, std::vector<int64_t>(static_cast<size_t>(count)));
  for (int64_t k = 0; k < count; ++k) {
    const bool take_x = c->i[BroadcastIndex(k, out_shape, c->shape)] != 0;
    const ConstTensor& from = take_x ? *x : *y;
    const int64_t at = BroadcastIndex(k, out_shape, from.shape);
    if (out.is_float()) {
      out.f[k] = from.f[at];
    } else {
      out.i[k] = from.i[at];
    }
  }
  consts_[n.outputs[0]] = std::move(out);
  return Ok();
}

}  // namespace edge::engine::lowering
