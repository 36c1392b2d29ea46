#include "agent/engine/lowerer.h"

namespace edge::engine::lowering {

Result<Graph> Lowerer::Run() {
  // Every op reads its first input (Constant excepted) and writes its first output, here and
  // where fusions look ahead at consumers: refuse a node without them before any is read.
  for (const auto& n : onnx_.nodes) {
    if (n.outputs.empty()) return Fail(ErrorCode::kInvalidArgument, n.Label() + ": no outputs");
    if (n.inputs.empty() && n.op_type != "Constant") return Fail(ErrorCode::kInvalidArgument, n.Label() + ": no inputs");
  }
  for (const auto& [name, t] : onnx_.initializers) consts_[name] = t;
  for (const auto& io : onnx_.inputs) EDGE_TRY(BindGraphInput(io));
  EDGE_ASSIGN_OR_RETURN(order_, TopologicalOrder());
  for (const auto& n : onnx_.nodes) {
    for (const auto& in : n.inputs) {
      if (!in.empty()) consumers_[in].push_back(&n - onnx_.nodes.data());
    }
  }
  for (const auto& out : onnx_.outputs) graph_outputs_.insert(out.name);
  for (const auto& n : onnx_.nodes) {
    onnx_names_.insert(n.inputs.begin(), n.inputs.end());
    onnx_names_.insert(n.outputs.begin(), n.outputs.end());
  }
  for (const auto& [name, t] : onnx_.initializers) onnx_names_.insert(name);
  for (const auto& io : onnx_.inputs) onnx_names_.insert(io.name);
  for (const auto& io : onnx_.outputs) onnx_names_.insert(io.name);
  for (size_t idx : order_) {
    if (consumed_.count(idx) != 0) continue;
    const OnnxNode& n = onnx_.nodes[idx];
    auto st = LowerNode(idx, n);
    if (!st) return Fail(st.error().Wrap(n.Label()));
  }
  for (const auto& out : onnx_.outputs) {
    auto got = Get(out.name);
    if (!got) return Fail(ErrorCode::kInvalidArgument, "graph output '" + out.name + "' is never produced");
    if (got->kind == Sym::Kind::kInt8Raw) {
      return Fail(ErrorCode::kInvalidArgument,
                  "graph output '" + out.name + "' is the raw int8 output of a QuantizeLinear with constant parameters; "
                  "not supported as a graph output");
    }
    DType type = DType::kF32;
    EDGE_ASSIGN_OR_RETURN(int v, GraphOutputValue(out, type));
    // A graph output must own its storage name; an alias of an input is fine since outputs are copied.
    // A value that is already a graph input or output (Identity, a whole-tensor Slice, two
    // outputs of one tensor) gets an alias of its own, so that every input and output keeps its name.
    const auto listed = [&](const std::vector<int>& vs) { return std::find(vs.begin(), vs.end(), v) != vs.end(); };
    if (listed(g_.inputs) || listed(g_.outputs)) {
      Value alias = g_.values[v];
      alias.alias_of = v;
      alias.alias_offset = 0;
      alias.producer = -1;
      alias.is_const = false;
      v = g_.AddValue(std::move(alias));
    }
    g_.values[v].name = out.name;
    g_.outputs.push_back(v);
    g_.output_types.push_back(type);
  }
  if (options_.keep_all_tensors) {
    for (const auto& [name, s] : syms_) {
      if (s.kind == Sym::Kind::kFloat && !g_.values[s.value].is_const) g_.float_tensors[name] = s.value;
    }
  }
  return std::move(g_);
}

Result<std::vector<size_t>> Lowerer::TopologicalOrder() {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < onnx_.nodes.size(); ++i) {
    for (const auto& out : onnx_.nodes[i].outputs) {
      if (out.empty()) continue;
      if (producer.count(out) != 0 || onnx_.initializers.count(out) != 0 ||
          std::any_of(onnx_.inputs.begin(), onnx_.inputs.end(),
                      [&](const OnnxIo& io) { return io.name == out; })) {
        return Fail(ErrorCode::kInvalidArgument,
                    onnx_.nodes[i].Label() + ": tensor '" + out + "' is defined twice");
      }
      producer[out] = i;
    }
  }
  std::vector<int> pending(onnx_.nodes.size(), 0);
  std::vector<std::vector<size_t>> users(onnx_.nodes.size());
  for (size_t i = 0; i < onnx_.nodes.size(); ++i) {
    for (const auto& in : onnx_.nodes[i].inputs) {
      if (in.empty()) continue;
      auto it = producer.find(in);
      if (it != producer.end()) {
        ++pending[i];
        users[it->second].push_back(i);
        continue;
      }
      if (onnx_.initializers.count(in) != 0) continue;
      if (std::any_of(onnx_.inputs.begin(), onnx_.inputs.end(),
                      [&](const OnnxIo& io) { return io.name == in; })) {
        continue;
      }
      return Fail(ErrorCode::kInvalidArgument,
                  onnx_.nodes[i].Label() + ": input '" + in +
                      "' is not produced by any node, initializer or graph input");
    }
  }
  std::vector<size_t> order;
  std::vector<size_t> ready;
  for (size_t i = onnx_.nodes.size(); i-- > 0;) {
    if (pending[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    const size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (size_t u : users[i]) {
      if (--pending[u] == 0) ready.push_back(u);
    }
  }
  if (order.size() != onnx_.nodes.size()) {
    for (size_t i = 0; i < onnx_.nodes.size(); ++i) {
      if (pending[i] != 0) {
        return Fail(ErrorCode::kInvalidArgument, "graph has a cycle through " + onnx_.nodes[i].Label());
      }
    }
  }
  return order;
}

const std::vector<Lowerer::Rule>& Lowerer::Rules() {
  // The operators the engine runs: the one list that dispatch, the opset checks, the
  // conformance test's selection and docs/engine.md's table come from. `since` is the oldest
  // opset at which the engine handles the operator's schema.
  static const std::vector<Rule> rules = {
      {"Constant", 1, &Lowerer::LowerConstantLike, "folded at load"},
      {"Identity", 1, &Lowerer::LowerConstantLike, "alias"},
      {"Cast", 6, &Lowerer::LowerCast, "float32, float16, double, int8, uint8, int32, int64, bool"},
      {"CastLike", 15, &Lowerer::LowerCastLike, "as Cast"},
      {"Dropout", 6, &Lowerer::LowerConstantLike, "inference: identity, mask all true"},
      {"QuantizeLinear", 10, &Lowerer::LowerQuantize, "int8/uint8, per tensor or axis; scale and zero point constant or computed"},
      {"DequantizeLinear", 10, &Lowerer::LowerDequantize, "int8/uint8/int32, per tensor or axis; of an integer tensor with computed scale and zero point"},
      {"Conv", 1, &Lowerer::LowerConv, "1-D/2-D/3-D, groups, dilations; float (weights constant or computed); QDQ int8 for 1-D/2-D, 3-D of one group", QdqForm::kInt8},
      {"Gemm", 6, &Lowerer::LowerGemmLike, "float (B, C constant or computed); QDQ int8 with constant B", QdqForm::kInt8},
      {"MatMul", 1, &Lowerer::LowerGemmLike, "float; QDQ int8 with constant B or of two int8 activations", QdqForm::kInt8},
      {"Add", 6, &Lowerer::LowerBinary, "broadcast; float, QDQ int8, integers (wrapping)", QdqForm::kInt8},
      {"Sub", 6, &Lowerer::LowerBinary, "broadcast; float, integers (wrapping); int8 between QDQ pairs (float inside, one pass)", QdqForm::kInt8},
      {"Mul", 6, &Lowerer::LowerBinary, "broadcast; float, QDQ int8, integers (wrapping)", QdqForm::kInt8},
      {"Div", 6, &Lowerer::LowerBinary, "broadcast; float, integers (toward zero); int8 between QDQ pairs (float inside, one pass)", QdqForm::kInt8},
      {"Pow", 7, &Lowerer::LowerPow, "broadcast; float; a constant exponent as an element-wise function (int8 lookup)", QdqForm::kInt8},
      {"Max", 8, &Lowerer::LowerVariadic, "float, any number of inputs, broadcast; int8 between QDQ pairs (float inside)", QdqForm::kInt8},
      {"Min", 8, &Lowerer::LowerVariadic, "float, any number of inputs, broadcast; int8 between QDQ pairs (float inside)", QdqForm::kInt8},
      {"Sum", 8, &Lowerer::LowerVariadic, "float, any number of inputs, broadcast"},
      {"Mean", 8, &Lowerer::LowerVariadic, "float, any number of inputs, broadcast"},
      {"Relu", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Clip", 6, &Lowerer::LowerUnary, "float and integers (bounds constant or computed); QDQ int8 with constant bounds", QdqForm::kInt8},
      {"Sigmoid", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Tanh", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"LeakyRelu", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"PRelu", 6, &Lowerer::LowerPRelu, "slope broadcast to x; one constant slope: float and int8 lookup (as LeakyRelu); a constant slope per channel: int8 lookup per channel; otherwise float steps", QdqForm::kInt8},
      {"HardSigmoid", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"HardSwish", 14, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Abs", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Neg", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Exp", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Log", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Sqrt", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Reciprocal", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Floor", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Ceil", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Round", 11, &Lowerer::LowerUnary, "float (halves to even) and int8 lookup", QdqForm::kInt8},
      {"Sign", 9, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Erf", 9, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Sin", 7, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Cos", 7, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Elu", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Selu", 6, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Celu", 12, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Softplus", 1, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Softsign", 1, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"ThresholdedRelu", 10, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Mish", 18, &Lowerer::LowerUnary, "float and int8 lookup", QdqForm::kInt8},
      {"Gelu", 20, &Lowerer::LowerUnary, "float (exact or tanh approximation) and int8 lookup", QdqForm::kInt8},
      {"MaxPool", 1, &Lowerer::LowerPool, "1-D/2-D/3-D (3-D as two 2-D pools); float, int8 and integers", QdqForm::kSameCodes},
      {"AveragePool", 1, &Lowerer::LowerPool, "1-D/2-D/3-D (3-D as two 2-D pools), dilations 1 only, float and QDQ int8", QdqForm::kInt8},
      {"GlobalAveragePool", 1, &Lowerer::LowerPool, "1-D/2-D/3-D, float and QDQ int8", QdqForm::kInt8},
      {"GlobalMaxPool", 1, &Lowerer::LowerPool, "1-D/2-D/3-D, as a MaxPool over the whole map; float, int8 and integers", QdqForm::kSameCodes},
      {"Reshape", 5, &Lowerer::LowerReshapeLike, "constant shape; alias", QdqForm::kSameCodes},
      {"Flatten", 1, &Lowerer::LowerReshapeLike, "alias", QdqForm::kSameCodes},
      {"Squeeze", 1, &Lowerer::LowerReshapeLike, "constant axes; alias", QdqForm::kSameCodes},
      {"Unsqueeze", 1, &Lowerer::LowerReshapeLike, "constant axes; alias", QdqForm::kSameCodes},
      {"Transpose", 1, &Lowerer::LowerTranspose, "float, int8 and integers", QdqForm::kSameCodes},
      {"DepthToSpace", 1, &Lowerer::LowerDepthSpace, "modes DCR and CRD; a Transpose step between aliases: float, int8 and integers", QdqForm::kSameCodes},
      {"SpaceToDepth", 1, &Lowerer::LowerDepthSpace, "a Transpose step between aliases: float, int8 and integers", QdqForm::kSameCodes},
      {"Expand", 8, &Lowerer::LowerExpand, "constant shape; a broadcast copy (one step): float, int8 and integers; of an integer constant: folded at load", QdqForm::kSameCodes},
      {"Concat", 4, &Lowerer::LowerConcat, "float, int8 and integers", QdqForm::kInt8},
      {"Split", 2, &Lowerer::LowerSplit, "constant sizes (attribute, input, or equal parts); one Slice per output", QdqForm::kSameCodes},
      {"ConvTranspose", 1, &Lowerer::LowerConvTranspose, "1-D/2-D, groups, dilations, output_padding, output_shape, auto_pad; int8 between DQ and Q (undilated: an int8 Conv of the stride phases and their interleave), else float (a direct loop)", QdqForm::kInt8},
      {"Resize", 10, &Lowerer::LowerResize, "modes nearest (every nearest_mode) and linear, every coordinate_transformation_mode; constant scales or sizes; nearest: float, int8 and integers; linear: float", QdqForm::kSameCodes},
      {"Upsample", 7, &Lowerer::LowerResize, "nearest: float, int8 and integers; linear: float", QdqForm::kSameCodes},
      {"Pad", 2, &Lowerer::LowerPad, "modes constant, edge, reflect; constant pads (attributes before opset 11); float (constant_value constant or computed), int8, integers", QdqForm::kSameCodes},
      {"Softmax", 1, &Lowerer::LowerSoftmax, "float; before opset 13 over the flattened trailing dimensions; int8 between QDQ pairs (float inside)", QdqForm::kInt8},
      {"LogSoftmax", 1, &Lowerer::LowerSoftmax, "float; before opset 13 over the flattened trailing dimensions; int8 between QDQ pairs (float inside)", QdqForm::kInt8},
      {"Hardmax", 1, &Lowerer::LowerSoftmax, "float; before opset 13 over the flattened trailing dimensions; int8 between QDQ pairs (float inside)", QdqForm::kInt8},
      {"ReduceMean", 1, &Lowerer::LowerReduce, "constant axes; float and QDQ int8", QdqForm::kInt8},
      {"ReduceSum", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"ReduceMax", 1, &Lowerer::LowerReduce, "constant axes; float (over trailing axes: the tier's plane extremes); int8 between QDQ pairs on the codes", QdqForm::kInt8},
      {"ReduceMin", 1, &Lowerer::LowerReduce, "constant axes; float (over trailing axes: the tier's plane extremes); int8 between QDQ pairs on the codes", QdqForm::kInt8},
      {"ReduceProd", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"ReduceL1", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"ReduceL2", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"ReduceLogSum", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"ReduceLogSumExp", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"ReduceSumSquare", 1, &Lowerer::LowerReduce, "constant axes; float"},
      {"BatchNormalization", 6, &Lowerer::LowerBatchNorm, "inference; constant parameters fold into Conv, int8 between QDQ pairs a lookup per channel, computed ones run as steps", QdqForm::kInt8},
      {"InstanceNormalization", 6, &Lowerer::LowerInstanceNorm, "float: per (n, c) over the spatial axes, constant scale and B of C values; between DequantizeLinear and QuantizeLinear one step (int8, float inside)", QdqForm::kInt8},
      {"LayerNormalization", 17, &Lowerer::LowerLayerNorm, "float, stash_type 1; Mean and InvStdDev outputs (without them, or with nothing reading them: one step per block of rows); int8 between QDQ pairs (float inside)", QdqForm::kInt8},
      {"RNN", 7, &Lowerer::LowerRecurrent, "float; forward, reverse, bidirectional; layout 0 and 1; constant W, R, B; sequence_lens and initial_h constant or computed"},
      {"GRU", 7, &Lowerer::LowerRecurrent, "float, as RNN; linear_before_reset 0 and 1"},
      {"LSTM", 7, &Lowerer::LowerRecurrent, "float, as RNN; initial_c, peepholes, input_forget"},
      {"Shape", 1, &Lowerer::LowerShape, "folded at load (shapes are fixed in each plan)"},
      {"Gather", 1, &Lowerer::LowerGather, "constant indices of a computed tensor: a Slice or one index-table step; computed int32/int64 indices: one step copying a row per index (zeros for an index out of range), data constant or computed; float, int8 and integers; all constant: folded at load", QdqForm::kSameCodes},
      {"Slice", 1, &Lowerer::LowerSlice, "constant starts, ends, axes, steps; of a computed tensor: float, int8 and integers; of a constant: folded at load", QdqForm::kSameCodes},
      {"ConstantOfShape", 9, &Lowerer::LowerConstantOfShape, "constant shape; folded at load"},
      {"Equal", 7, &Lowerer::LowerEqual, "constant inputs (shape arithmetic); folded at load"},
      {"Where", 9, &Lowerer::LowerWhere, "constant inputs (shape arithmetic); folded at load"},
  };
  return rules;
}

Status Lowerer::LowerNode(size_t, const OnnxNode& n) {
  for (const Rule& r : Rules()) {
    if (n.op_type != r.op) continue;
    // An omitted optional output ("") is only legal after the first (Dropout's mask), or
    // anywhere in a recurrent cell's (Y omitted, Y_h kept)
    const bool recurrent = r.lower == &Lowerer::LowerRecurrent;
    if (n.outputs[0].empty() && !recurrent) return Fail(ErrorCode::kInvalidArgument, "the first output has no name");
    if (n.op_type != "Cast" && n.op_type != "CastLike") {
      for (const auto& in : n.inputs) {
        if (auto it = other_floats_.find(in); it != other_floats_.end()) {
          return Fail(ErrorCode::kInvalidArgument,
                      "input '" + in + "' is " + DTypeName(it->second) +
                          ": the engine computes in float32, so float16 and double tensors may only be read by Cast");
        }
      }
    }
    if (onnx_.opset < r.since) {
      return Fail(ErrorCode::kInvalidArgument,
                  n.op_type + " at opset " + std::to_string(onnx_.opset) + " is not supported (the engine handles it from opset " +
                      std::to_string(r.since) + ")");
    }
    if (n.op_type == "Concat" || n.op_type == "Add" || n.op_type == "Sub" || n.op_type == "Mul" || n.op_type == "Div") {
      EDGE_ASSIGN_OR_RETURN(bool folded, FoldIntegerConstants(n));
      if (folded) return Ok();
    }
    return (this->*r.lower)(n);
  }
  return Fail(ErrorCode::kInvalidArgument, "unsupported operator " + n.op_type);
}

}  // namespace edge::engine::lowering

namespace edge::engine {

Result<Graph> Lower(const OnnxGraph& onnx, const LowerOptions& options) {
  lowering::Lowerer lowerer(onnx, options);
  EDGE_ASSIGN_OR_RETURN(Graph g, lowerer.Run());
  if (!options.keep_all_tensors) FoldGraph(g);
  return g;
}

std::vector<OperatorSupport> SupportedOperators() {
  std::vector<OperatorSupport> out;
  for (const auto& r : lowering::Lowerer::Rules()) out.push_back({r.op, r.since, r.forms, r.qdq});
  return out;
}

}  // namespace edge::engine
