// Turns a parsed ONNX graph into the engine's Graph: constant folding (Constant, Identity,
// Cast of constants, BatchNormalization into Conv), QDQ fusion (DequantizeLinear -> op ->
// [Relu|Clip] -> QuantizeLinear becomes one int8 node), shape inference and validation.
// Every unsupported op, attribute, type or shape fails with the node name and op.
#pragma once

#include "agent/engine/graph.h"
#include "agent/engine/onnx_reader.h"
#include "common/core/result.h"

namespace edge::engine {

struct LowerOptions {
  bool keep_all_tensors = false;
  // The size that every symbolic leading (batch) dimension of the inputs takes in this plan.
  int64_t batch = 1;
};

Result<Graph> Lower(const OnnxGraph& onnx, const LowerOptions& options);

// One operator the engine runs: from which opset, and in which forms (for docs and tools).
struct OperatorSupport {
  std::string op;
  int since_opset = 0;
  std::string forms;
};
std::vector<OperatorSupport> SupportedOperators();

// Folds that need the whole lowered graph: Pad into Conv, Relu/Clip into float Conv/Gemm.
void FoldGraph(Graph& graph);

}  // namespace edge::engine
