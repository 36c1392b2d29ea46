// A lowered Graph turned into executable steps: arena offsets resolved, weights pre-packed,
// lookup tables built. Everything here is immutable after Compile and shared by all contexts.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/graph.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {

// What one Run gives each step: its context's arena and the chosen kernels.
struct ExecEnv {
  std::byte* arena = nullptr;
  const float* const* inputs = nullptr;  // the caller's input buffers (steps that read them in place)
  QGemmFn qgemm = &QGemmScalar;
  const ElementwiseKernels* elementwise = nullptr;
};

// A tensor a step reads: an arena slot, or a constant owned by the compiled graph.
struct Ref {
  int64_t offset = -1;
  const void* constant = nullptr;
  template <typename T>
  const T* Get(const ExecEnv& env) const {
    return constant != nullptr ? static_cast<const T*>(constant)
                               : reinterpret_cast<const T*>(env.arena + offset);
  }
  template <typename T>
  T* Mut(const ExecEnv& env) const {
    return reinterpret_cast<T*>(env.arena + offset);
  }
};

class Step {
 public:
  virtual ~Step() = default;
  virtual void Run(const ExecEnv& env) const = 0;
  std::string summary;
  std::string node;            // the ONNX node it came from (several steps may share one)
  // Computes in float: a float step that writes a float tensor (not an int8 one with a
  // dequantizing epilogue, nor a DequantizeLinear).
  bool computes_float = false;
};

// Storage of constants referenced through Ref (stable addresses).
struct ConstPool {
  std::deque<std::vector<float>> floats;
  std::deque<std::vector<int8_t>> bytes;
  int64_t total_bytes = 0;
};

struct BuildContext {
  const Graph& graph;
  const std::vector<int64_t>& offsets;  // per value, -1 for constants
  ConstPool& pool;
  int64_t scratch_offset = -1;          // this step's scratch, if it asked for one
  // Per value: the graph input index a step reads in place from the caller's buffer (not
  // copied into the arena), or -1. Only a QuantizeLinear that is an input's one reader does.
  const std::vector<int>* in_place_input = nullptr;
  int InPlaceInput(int value) const { return in_place_input != nullptr ? (*in_place_input)[value] : -1; }

  Ref RefOf(int value);
  int64_t Out(const Node& n, size_t k = 0) const { return offsets[n.out[k]]; }
  const Value& V(int value) const { return graph.values[value]; }
};

// Scratch bytes a node needs during its step (im2col buffers and packed activations).
int64_t ScratchBytes(const Node& node, const Graph& graph);
// A float Conv split into stride phases for its plane kernel (ops/float_conv.cpp).
int64_t FloatConvScratchBytes(const Node& node, const Graph& graph);
// An int8 MaxPool whose windows reach over the padding: one input plane with its padding (ops/layout_ops.cpp).
int64_t MaxPoolScratchBytes(const Node& node, const Graph& graph);
// Linear Resize: two rows of the output interpolated along the innermost axis.
int64_t ResizeLinearScratchBytes(const Node& node, const Graph& graph);
// A windowed int8 AveragePool: its window sums and padded plane (ops/quant_ops.cpp).
int64_t QAvgPoolScratchBytes(const Node& node, const Graph& graph);
// An int8 Concat: the inputs it requantizes in short parts, each requantized whole (ops/quant_ops.cpp).
int64_t QConcatScratchBytes(const Node& node, const Graph& graph);
// kQFloatOp: its int8 inputs and its result as floats (ops/float_ops.cpp).
int64_t QFloatOpScratchBytes(const Node& node, const Graph& graph);

// kRecurrent: the input projections of the whole sequence and one row's gates (ops/recurrent.cpp).
int64_t RecurrentScratchBytes(const Node& node);

Result<std::unique_ptr<Step>> BuildFloatStep(const Node& node, BuildContext& ctx);
Result<std::unique_ptr<Step>> BuildRecurrentStep(const Node& node, BuildContext& ctx);
Result<std::unique_ptr<Step>> BuildFloatConvStep(const Node& node, BuildContext& ctx);
Result<std::unique_ptr<Step>> BuildLayoutStep(const Node& node, BuildContext& ctx);
Result<std::unique_ptr<Step>> BuildQuantStep(const Node& node, BuildContext& ctx);
Result<std::unique_ptr<Step>> BuildQuantMatrixStep(const Node& node, BuildContext& ctx);
// int8 MatMul of two activations (ops/quant_matmul.cpp).
Result<std::unique_ptr<Step>> BuildQuantMatMulStep(const Node& node, BuildContext& ctx);
// kCast, kQuantizeTyped, kDequantizeTyped and the arithmetic nodes on exact integer tensors.
Result<std::unique_ptr<Step>> BuildTypedStep(const Node& node, BuildContext& ctx);
// A lookup node's input: its position in node.in for a kQLut (0: any activation table, one or
// one per channel), a gated kQMul (Node::gate) or a kQFloatOp that is a function of one int8
// input's codes, its other inputs single float constants; -1 for other nodes, dead ones and
// ones of several outputs (ops/float_ops.cpp).
int LookupInputOf(const Node& node, const Graph& graph);
// The table of such a kQFloatOp: out = table[(uint8_t)x], the op's float arithmetic on each
// code's value, quantized to value y's parameters as QuantizeLinear does (ops/float_ops.cpp).
void QFloatLookupTable(const Node& node, const Graph& graph, int y, int8_t (&table)[256]);
// A lookup node's table (a kQLut of one table, a gated kQMul, or a kQFloatOp LookupInputOf accepts) with
// the lookups fold.cpp chained after it (Node::epilogue, FoldLookupChains) applied in order:
// one table for the chain, the same bytes as the steps one after another (ops/quant_ops.cpp).
void LookupChainTable(const Node& node, const Graph& graph, int8_t (&table)[256]);
// The step list's name for the links of a lookup chain: " + Erf + Add" (a link's folded clamp
// too: " + Mul + Clip"), empty without a chain (ops/float_ops.cpp).
std::string LookupChainSummary(const Node& node);
// A kQFloatOp's folded Relu or Clip as the step list shows it (" + Relu", " + Clip" or "").
std::string ClampSuffix(const Node& n);
// An int8 lookup: out[i] = table[(uint8_t)x[i]] for i < count, by the tier's kernel (ops/quant_ops.cpp).
std::unique_ptr<Step> MakeLutStep(Ref x, int64_t count, const int8_t (&table)[256], int64_t out, std::string summary);

// Writes `value` (already in range, or wrapped as ONNX integer arithmetic does) as one element
// of the integer type `type` at `dst`.
void StoreInteger(DType type, int64_t value, void* dst);

struct ArenaPlan {
  std::vector<int64_t> offsets;          // per value (aliases resolved), -1 if none
  std::vector<int64_t> scratch_offsets;  // per node, -1 if none
  int64_t total_bytes = 0;
};

// Plans one arena from tensor lifetimes: a buffer may reuse the bytes of any buffer whose
// lifetime ended before it starts. keep_all gives every value its own bytes.
ArenaPlan PlanArena(const Graph& graph, const std::vector<int64_t>& scratch, bool keep_all);

// Zero-copy Concat: where each input is one contiguous part of the output (every dimension
// before the axis 1) and an input's bytes would only be copied (a produced activation, not a
// graph input, output, constant or alias, with the output's quantization), the input becomes an
// alias of its part of the output (Value::alias_offset), so its producer writes it there and
// the Concat step skips it.
void PlaceConcatInputs(Graph& graph);

// For a Concat step: in_place[i] where input i already lies at its part of the output (placed
// by PlaceConcatInputs; parts of chunk[i] bytes each, outer == 1), so the step skips it.
// Returns how many do.
inline int MarkInPlaceParts(const Ref* in, const int64_t* chunk, int inputs, int64_t outer, int64_t out,
                            bool* in_place) {
  int count = 0;
  int64_t at = out;
  for (int i = 0; i < inputs; ++i) {
    in_place[i] = outer == 1 && in[i].constant == nullptr && in[i].offset == at && chunk[i] > 0;
    count += in_place[i] ? 1 : 0;
    at += chunk[i];
  }
  return count;
}

class CompiledGraph {
 public:
  std::vector<std::unique_ptr<Step>> steps;
  std::vector<TensorInfo> inputs, outputs;
  std::vector<int64_t> input_offsets, output_offsets;  // input offset -1: read in place, not copied
  // For an output that is a constant (a folded subgraph, a Dropout mask): its data, and -1 as
  // its offset. Empty for every other output.
  std::vector<std::vector<float>> output_consts;
  int64_t arena_bytes = 0;
  ConstPool pool;
  bool quantized = false;
  std::map<std::string, std::pair<int64_t, int64_t>, std::less<>> float_tensors;  // offset, elements
};

Result<std::unique_ptr<CompiledGraph>> Compile(Graph graph, const LoadOptions& options);

}  // namespace edge::engine
