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
  for (const auto& io : onnx_.inputs) {
    if (io.dtype != DType::kF32) {
      return Fail(ErrorCode::kInvalidArgument,
                  "input '" + io.name + "' is " + DTypeName(io.dtype) + "; only float32 inputs are supported");
    }
    Value v;
    v.name = io.name;
    v.dtype = DType::kF32;
    v.shape = io.shape;
    const int id = AddActivation(std::move(v));
    g_.inputs.push_back(id);
    syms_[io.name] = Sym{Sym::Kind::kFloat, id, false};
  }
  EDGE_ASSIGN_OR_RETURN(order_, TopologicalOrder());
  for (const auto& n : onnx_.nodes) {
    for (const auto& in : n.inputs) {
      if (!in.empty()) consumers_[in].push_back(&n - onnx_.nodes.data());
    }
  }
  for (const auto& out : onnx_.outputs) graph_outputs_.insert(out.name);
  for (size_t idx : order_) {
    if (consumed_.count(idx) != 0) continue;
    const OnnxNode& n = onnx_.nodes[idx];
    auto st = LowerNode(idx, n);
    if (!st) return Fail(st.error().Wrap(n.Label()));
  }
  for (const auto& out : onnx_.outputs) {
    auto it = syms_.find(out.name);
    if (it == syms_.end()) {
      return Fail(ErrorCode::kInvalidArgument, "graph output '" + out.name + "' is never produced");
    }
    if (it->second.kind == Sym::Kind::kConst || it->second.kind == Sym::Kind::kQConst ||
        it->second.kind == Sym::Kind::kInt8Raw) {
      return Fail(ErrorCode::kInvalidArgument,
                  "graph output '" + out.name + "' is a constant or an int8 tensor; only float32 outputs are supported");
    }
    EDGE_ASSIGN_OR_RETURN(int v, AsFloat(out.name));
    // A graph output must own its storage name; an alias of an input is fine since outputs are copied.
    g_.values[v].name = out.name;
    g_.outputs.push_back(v);
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

Status Lowerer::LowerNode(size_t, const OnnxNode& n) {
  const std::string& op = n.op_type;
  for (const auto& out : n.outputs) {
    if (out.empty()) return Fail(ErrorCode::kInvalidArgument, "empty output name");
  }
  if (op == "Constant" || op == "Identity" || op == "Cast" || op == "Dropout") return LowerConstantLike(n);
  if (op == "QuantizeLinear") return LowerQuantize(n);
  if (op == "DequantizeLinear") return LowerDequantize(n);
  if (op == "Conv") return LowerConv(n);
  if (op == "Gemm" || op == "MatMul") return LowerGemmLike(n);
  if (op == "Add" || op == "Mul" || op == "Sub" || op == "Div") return LowerBinary(n);
  if (op == "Relu" || op == "Clip" || op == "Sigmoid" || op == "Tanh" || op == "LeakyRelu" ||
      op == "HardSigmoid" || op == "HardSwish") {
    return LowerUnary(n);
  }
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") return LowerPool(n);
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") return LowerReshapeLike(n);
  if (op == "Transpose") return LowerTranspose(n);
  if (op == "Concat") return LowerConcat(n);
  if (op == "Pad") return LowerPad(n);
  if (op == "Softmax") return LowerSoftmax(n);
  if (op == "ReduceMean") return LowerReduceMean(n);
  if (op == "BatchNormalization") return LowerBatchNorm(n);
  return Fail(ErrorCode::kInvalidArgument, "unsupported operator " + op);
}

}  // namespace edge::engine::lowering

namespace edge::engine {

Result<Graph> Lower(const OnnxGraph& onnx, const LowerOptions& options) {
  lowering::Lowerer lowerer(onnx, options);
  EDGE_ASSIGN_OR_RETURN(Graph g, lowerer.Run());
  if (!options.keep_all_tensors) FoldGraph(g);
  return g;
}


}  // namespace edge::engine
