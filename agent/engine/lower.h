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

// What the engine makes of an operator between DequantizeLinear and QuantizeLinear: the one
// source the quantizer (quantizer/qdq_rewriter.cpp) takes its quantizable operators from.
enum class QdqForm {
  kFloat,      // no int8 form: the engine dequantizes its input and runs the float step
  kInt8,       // int8 in, int8 out at the output's own parameters: an int8 kernel, a lookup, or
               // one step that computes in float inside (kQFloatOp, fold.cpp)
  kSameCodes,  // commutes with quantization: moves or compares codes, the output keeps the
               // input's parameters (data movement, max pooling)
};

// One operator the engine runs: from which opset, in which forms (for docs and tools), and its
// form between QDQ pairs.
struct OperatorSupport {
  std::string op;
  int since_opset = 0;
  std::string forms;
  QdqForm qdq = QdqForm::kFloat;
};
std::vector<OperatorSupport> SupportedOperators();

// Folds that need the whole lowered graph: Pad into Conv, Relu/Clip into float Conv/Gemm.
void FoldGraph(Graph& graph);

}  // namespace edge::engine
