// The lowering pass's internals (agent/engine/lower.h is the interface): what each ONNX tensor
// name stands for, and the Lowerer that turns the graph's nodes into engine ops. Members by file:
// lower.cpp (the graph walk), lower_values.cpp (values, constants, attributes, windows),
// lower_quant.cpp (QDQ matching, Quantize/DequantizeLinear), lower_conv_gemm.cpp,
// lower_elementwise.cpp and lower_layout.cpp (one family of operators each).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>

#include "agent/engine/lower.h"
#include "agent/engine/shape_rules.h"

namespace edge::engine::lowering {


// The longest output axis a nearest Resize step builds index tables for (8 to 48 bytes per
// output index of each axis).
inline constexpr int64_t kMaxResizeAxis = int64_t{1} << 22;

// What an ONNX tensor name stands for during lowering.
struct Sym {
  enum class Kind { kFloat, kQuant, kInt8Raw, kConst, kQConst, kInt } kind = Kind::kFloat;
  // kFloat, kQuant (float meaning of an int8 value), kInt8Raw, kInt (an exact integer or bool
  // tensor whose Value::dtype is its ONNX type)
  int value = -1;
  bool u8_domain = false;  // kInt8Raw produced by a uint8 QuantizeLinear
};

// DequantizeLinear of a constant: integers (uint8 already shifted to int8) and their scales.
struct QConst {
  ConstTensor q;
  std::vector<float> scales;
  std::vector<int32_t> zps;
  int64_t axis = -1;  // -1: per tensor
  bool is_int32 = false;
};

// What a Slice takes, per axis of its input: the first index, the step and the count (shape).
struct SliceWindow {
  std::vector<int64_t> first, step, shape;
};

// The QuantizeLinear (and optional Relu/Clip before it) that closes a fusable int8 op.
struct QuantTail {
  std::vector<size_t> consumed;
  std::string out_name;
  QParams q;
  bool u8 = false;
  int32_t qmin = -128, qmax = 127;
};

// The element-wise functions ApplyUnary computes (ops/unary_math.h), with their attributes:
// alpha and beta, and their defaults (lower_elementwise.cpp). Relu, Clip and Gelu's approximate
// are handled apart.
struct UnaryOp {
  const char* op;
  UnaryKind kind;
  const char* alpha = nullptr;
  float alpha_default = 0.0f;
  const char* beta = nullptr;
  float beta_default = 0.0f;
};
// The entry of the operator named `op` (ONNX's spelling), or null.
const UnaryOp* FindUnaryOp(const std::string& op);

class Lowerer {
 public:
  Lowerer(const OnnxGraph& onnx, const LowerOptions& options) : onnx_(onnx), options_(options) {}

  Result<Graph> Run();

  struct Rule {
    const char* op;
    int since;  // oldest opset handled
    Status (Lowerer::*lower)(const OnnxNode&);
    const char* forms;
    QdqForm qdq = QdqForm::kFloat;
  };
  static const std::vector<Rule>& Rules();

 private:
  // ---------------------------------------------------------------- graph structure
  Result<std::vector<size_t>> TopologicalOrder();

  int AddActivation(Value v);

  Result<int> NewValue(const std::string& name, DType dtype, std::vector<int64_t> shape,
                       QParams q = {}) {
    auto count = CheckedElementCount(shape);
    if (!count) return Fail(count.error().Wrap("output '" + name + "'"));
    Value v;
    v.name = name;
    v.dtype = dtype;
    v.shape = std::move(shape);
    v.elements = *count;
    v.q = q;
    return g_.AddValue(std::move(v));
  }

  int AddNode(Node n);

  Node MakeNode(OpKind kind, const OnnxNode& src);

  // ---------------------------------------------------------------- symbol access
  Result<Sym> Get(const std::string& name);

  bool IsConst(const std::string& name) const;
  bool IsQConst(const std::string& name) const;

  Result<const ConstTensor*> Const(const std::string& name, const std::string& role);

  static ConstTensor Dequantize(const QConst& qc);

  // The float constant behind a name (a plain constant or a dequantized one).
  std::optional<ConstTensor> FloatConst(const std::string& name);

  int ConstFloatValue(const std::string& name, ConstTensor t);

  // The float value for a tensor, inserting a DequantizeLinear step for int8 activations (once
  // per activation; the name still stands for the int8 value, which int8 readers take).
  Result<int> AsFloat(const std::string& name);

  bool IsQuant(const std::string& name);

  // ---------------------------------------------------------------- exact integer tensors
  // (lower_types.cpp)
  // The integer type of a computed integer tensor, or nullopt (floats, constants, int8 QDQ).
  std::optional<DType> ComputedIntegerType(const std::string& name);
  // The value of an integer operand of type `type`: a computed tensor of that type or an
  // integer constant (stored as that type).
  Result<int> AsInteger(const std::string& name, DType type);
  // A kCast node converting value `in` into a new value `out_name` of storage type `to`.
  Result<int> AddCast(const OnnxNode& src, int in, const std::string& out_name, DType to);
  // The graph's edges: an integer or bool input arrives as floats and is cast to its type; an
  // integer output is cast back to float.
  Status BindGraphInput(const OnnxIo& io);
  Result<int> GraphOutputValue(const OnnxIo& io, DType& type);
  Status LowerCast(const OnnxNode& n);
  Status LowerCastLike(const OnnxNode& n);
  // Cast of n.inputs[0] to `to`, written to n.outputs[0].
  Status EmitCast(const OnnxNode& n, DType to);
  Status LowerIntegerBinary(const OnnxNode& n, DType type, const std::vector<int64_t>& shape);
  // When n.inputs[0] is an integer tensor, emits `node` (a data-movement op or MaxPool, exact
  // on any type) on it with an output of the same type, and returns true.
  Result<bool> TryEmitInteger(const OnnxNode& n, Node& node, const std::vector<int64_t>& shape);
  Status LowerQuantizeTyped(const OnnxNode& n);
  Status LowerDequantizeTyped(const OnnxNode& n);

  void SetFloat(const std::string& name, int v) { syms_[name] = Sym{Sym::Kind::kFloat, v, false}; }
  void SetQuant(const std::string& name, int v) { syms_[name] = Sym{Sym::Kind::kQuant, v, false}; }

  // ---------------------------------------------------------------- QDQ fusion
  Result<std::optional<std::pair<QParams, bool>>> QuantizeParams(const OnnxNode& q);

  bool SingleConsumer(const std::string& name, size_t& consumer) const;

  // Finds DequantizeLinear-fed op output -> [Relu | Clip] -> QuantizeLinear.
  Result<std::optional<QuantTail>> MatchQuantTail(const std::string& out);

  std::optional<std::pair<float, float>> ClipBounds(const OnnxNode& n);

  Result<int> FinishQuant(const QuantTail& tail, const std::vector<int64_t>& shape, Node& node);

  // ---------------------------------------------------------------- per-op lowering
  // Emits `node` on the float form of its first input; the output is float of `shape`.
  Status EmitFloat(const OnnxNode& n, Node node, const std::vector<int64_t>& shape);
  // Emits `node` on the int8 value `x`; the output keeps x's quantization (layout ops and max,
  // which commute with dequantization).
  Status EmitQuantSameParams(const OnnxNode& n, Node node, int x, const std::vector<int64_t>& shape);
  // Bias element `i` in the int32 accumulator scale `acc_scale` (input scale x weight scale):
  // an int32 QDQ bias already in that scale is taken as is, anything else is requantized from
  // the float bias with round-half-to-even and saturation.
  static int32_t AccumulatorBias(const ConstTensor& bias, const QConst* bq, int64_t i, float acc_scale);
  // When the single input is int8 and a QuantizeLinear follows, emits `node` as the int8 op
  // `qkind` ending in that quantization and returns true; otherwise leaves `node` unchanged.
  Result<bool> TryQuantUnary(const OnnxNode& n, Node& node, OpKind qkind, const std::vector<int64_t>& shape);
  Status LowerNode(size_t idx, const OnnxNode& n);
  Status LowerConstantLike(const OnnxNode& n);
  Status LowerQuantize(const OnnxNode& n);
  Status LowerDequantize(const OnnxNode& n);
  Status LowerConv(const OnnxNode& n);
  Status LowerGemmLike(const OnnxNode& n);
  Status LowerBinary(const OnnxNode& n);
  Status LowerBinaryAt7(const OnnxNode& n);
  Status LowerVariadic(const OnnxNode& n);
  Status LowerClipAsSteps(const OnnxNode& n, DType type);
  Status LowerLegacyBroadcast(const OnnxNode& n);
  Status LowerUnary(const OnnxNode& n);
  Status LowerPow(const OnnxNode& n);
  Status LowerPRelu(const OnnxNode& n);
  // When n.inputs[1] is a float constant with one value for every element, emits n as the
  // element-wise function `kind` of n.inputs[0] with alpha = that value (an int8 lookup between
  // DQ and Q, else float) and returns true; otherwise emits nothing.
  Result<bool> TryConstOperandUnary(const OnnxNode& n, UnaryKind kind, const std::vector<int64_t>& shape);
  Status LowerPool(const OnnxNode& n);
  Status LowerPool3d(const OnnxNode& n, const std::vector<int64_t>& x_shape);
  // Emits the MaxPool `node` on n.inputs[0]: on its own integer type, int8 with its parameters,
  // or float.
  Status EmitMaxPool(const OnnxNode& n, Node node, const std::vector<int64_t>& out_shape);
  Status LowerReshapeLike(const OnnxNode& n);
  Status LowerTranspose(const OnnxNode& n);
  // Emits the data-movement `node` (Transpose, Slice, a nearest Resize's index tables) on
  // n.inputs[0] in its own element type: integers as they are, int8 with its parameters, else
  // float. The output is n.outputs[0] of `shape`.
  Status EmitMovement(const OnnxNode& n, Node node, const std::vector<int64_t>& shape);
  // Data movement composed of the steps above (lower_movement.cpp): DepthToSpace and
  // SpaceToDepth as Reshape -> Transpose -> Reshape, Expand and Gather of a computed tensor as
  // a nearest Resize's index tables (or a Slice).
  Status LowerDepthSpace(const OnnxNode& n);
  Status LowerExpand(const OnnxNode& n);
  Status LowerGatherOfComputed(const OnnxNode& n);
  // Gather whose indices are computed (an embedding lookup): one kGatherRows step on data in its
  // own element type, data constant or computed.
  Status LowerGatherOfIndices(const OnnxNode& n);
  // Output element (i0, ..., ir) of n.outputs[0] is input element (tables[0][i0], ...,
  // tables[r][ir]) of n.inputs[0]: one nearest Resize step (every index in range).
  Status EmitIndexTables(const OnnxNode& n, const std::vector<std::vector<int64_t>>& tables);
  Status LowerConcat(const OnnxNode& n);
  Status LowerSplit(const OnnxNode& n);
  // Emits the Slice `w` of n.inputs[0] (any element type) as n.outputs[0]; a box of the whole
  // tensor in order is the tensor itself (no step).
  Status EmitSlice(const OnnxNode& n, const SliceWindow& w);
  Status LowerPad(const OnnxNode& n);
  Status LowerResize(const OnnxNode& n);
  Status LowerConvTranspose(const OnnxNode& n);
  // The int8 form of ConvTranspose `n` (window fields in `ct`): an int8 Conv of its phases and
  // their interleave. False, emitting nothing, where it does not apply.
  Result<bool> TryQuantConvTranspose(const OnnxNode& n, const Node& ct, const std::vector<int64_t>& x_shape,
                                     const std::vector<int64_t>& out_shape, const std::string& b_name);
  // Conv and ConvTranspose in float: x, weights and the optional bias `b_name` as operands.
  Status EmitFloatWindowOp(const OnnxNode& n, Node node, const std::string& b_name, const std::vector<int64_t>& out_shape);
  // An int8 Conv's weights (w, with its per-channel scales; `channel_of` maps the new layout's
  // input-channel index to the ONNX weight's, for a Conv3d's depth taps as channels) and its
  // int32 biases into node.bias_q.
  Value QConvWeights(const std::string& w_name, const std::vector<int64_t>& shape, float sx, const std::string& b_name,
                     const std::function<int64_t(int64_t co, int64_t ci, int64_t tap)>& source, Node& node);
  // A Conv3d between QDQ pairs (group 1, closed by `tail`) as one int8 2-D Conv over a gather
  // of its depth windows.
  Status EmitQuantConv3d(const OnnxNode& n, Node node, const QuantTail& tail, const std::vector<int64_t>& x_shape,
                         const std::vector<int64_t>& w_shape, const std::vector<int64_t>& out_shape,
                         const std::string& b_name);
  Status LowerSoftmax(const OnnxNode& n);
  Status LowerReduce(const OnnxNode& n);
  Status LowerBatchNorm(const OnnxNode& n);
  Status LowerBatchNormOfComputed(const OnnxNode& n);
  Status LowerLayerNorm(const OnnxNode& n);
  Status LowerInstanceNorm(const OnnxNode& n);
  // RNN, GRU and LSTM: one kRecurrent step (lower_recurrent.cpp).
  Status LowerRecurrent(const OnnxNode& n);
  // Shape arithmetic folded at load (lower_shape.cpp).
  Status LowerShape(const OnnxNode& n);
  Status LowerGather(const OnnxNode& n);
  Status LowerConstantOfShape(const OnnxNode& n);
  Status LowerEqual(const OnnxNode& n);
  Status LowerWhere(const OnnxNode& n);
  Status LowerSlice(const OnnxNode& n);
  // The box a Slice node takes of a tensor of `shape` (starts, ends, axes, steps constant).
  Result<SliceWindow> SliceWindowOf(const OnnxNode& n, const std::vector<int64_t>& shape);
  // Concat, Add, Sub, Mul, Div whose inputs are all integer constants: folds them and returns
  // true; false leaves the node to its usual lowering.
  Result<bool> FoldIntegerConstants(const OnnxNode& n);
  // A Transpose of a constant (a PyTorch F.pad export's pads, a mask), permuted at load. False
  // for a float constant over 65,536 elements or past the bound on constants computed at load:
  // the Transpose then runs as a step.
  Result<bool> FoldTranspose(const OnnxNode& n, const std::vector<int64_t>& perm, const std::vector<int64_t>& out_shape);
  // The element count of a constant about to be computed at load, counted against the model's
  // bound on all of them (a small file must not make the loader allocate gigabytes).
  Result<int64_t> CountFolded(const std::vector<int64_t>& shape);
  // Gemm whose B or C is computed: Transpose, MatMul, Mul and Add steps.
  Status LowerGemmOfActivations(const OnnxNode& n, const Node& attrs);
  // Binds `out` to the tensor `in` seen with another shape of the same element count: a
  // reshaped constant, or an alias of the activation (no copy, no step).
  // A tensor name for a value the lowering adds: `base` plus a suffix, used by no ONNX tensor
  // and no earlier added value.
  std::string FreshName(const std::string& base);
  Status BindReshaped(const std::string& in, const std::string& out, std::vector<int64_t> shape);
  // Emits a float step `node` reading `in`, writing a new float value `out_name` of `shape`.
  Result<int> AddFloatStep(Node node, std::vector<int> in, const std::string& out_name, std::vector<int64_t> shape);
  // The same for any storage type: the output is a float or (integer `type`) a kInt tensor.
  Result<int> AddStep(Node node, std::vector<int> in, const std::string& out_name, DType type,
                      std::vector<int64_t> shape);

  Status CheckAttrs(const OnnxNode& n, std::initializer_list<const char*> known);

  const std::vector<int64_t>& ShapeOf(int v) const { return g_.values[v].shape; }
  Result<std::vector<int64_t>> ShapeOfName(const std::string& name);

  Status ParseWindow(const OnnxNode& n, size_t spatial, const std::vector<int64_t>& in_shape,
                     const std::vector<int64_t>& kernel, Node& node, std::vector<int64_t>& out_shape,
                     bool allow_ceil);

  const OnnxGraph& onnx_;
  LowerOptions options_;
  Graph g_;
  std::vector<size_t> order_;
  std::unordered_map<std::string, Sym> syms_;
  std::unordered_map<std::string, ConstTensor> consts_;
  std::unordered_map<std::string, QConst> qconsts_;
  std::unordered_map<std::string, int> const_values_;
  std::unordered_map<int, int> dequantized_;
  std::unordered_map<std::string, std::vector<size_t>> consumers_;
  std::set<std::string> graph_outputs_;
  std::set<std::string> onnx_names_;  // every tensor name of the ONNX graph
  // float16 and double tensors (graph inputs, Cast results), carried as float32: only
  // Cast and CastLike may read them, since any other op would compute in float32 what ONNX
  // computes in their type.
  std::unordered_map<std::string, DType> other_floats_;
  int fresh_ = 0;
  int64_t folded_elements_ = 0;
  std::set<size_t> consumed_;
};

}  // namespace edge::engine::lowering
