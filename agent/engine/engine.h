// The public face of the inference engine: load an ONNX model once, run it from many threads,
// each through its own ExecutionContext.
//
// Contract: a loaded Model is immutable and may be shared freely. An ExecutionContext owns the
// arena for one inference at a time; Run() performs no heap allocation. Inputs and outputs are
// float32 buffers, C order, with the shapes reported by inputs()/outputs(), whatever the
// model's element types: TensorInfo::dtype says what the floats stand for.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/engine/const_tensor.h"
#include "agent/engine/kernels/cpu_features.h"
#include "common/core/result.h"

namespace edge::engine {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t elements = 0;
  // For an output that is a dequantized int8 tensor: one quantization step (its scale), else 0.
  float quant_step = 0.0f;
  // The model's element type for this tensor. The caller still passes and receives floats:
  // - integer (int8, uint8, int32, int64) and bool inputs: each float is converted to the type
  //   as ONNX's Cast does (truncated toward zero, saturated to the type's range, NaN -> 0;
  //   bool: nonzero -> true), so whole numbers in range arrive exactly;
  // - integer and bool outputs: converted to float, exact for int8/uint8/int32/bool and for
  //   int64 values up to 2^24 in magnitude (larger ones round to the nearest float);
  // - float16 and double: computed in float32 inside the engine (a float16 result is a float16
  //   value, exact in float32; a double input is the float the caller passes).
  DType dtype = DType::kF32;
};

struct LoadOptions {
  // For calibration: skip the folds that remove ONNX tensors and give every tensor its own
  // arena slot, so ExecutionContext::FindFloatTensor can read any of them after a run.
  bool keep_all_tensors = false;
  // A model whose planned arena exceeds this fails to load instead of allocating it.
  int64_t max_arena_bytes = int64_t{1} << 30;
};

struct RunTiming {
  int64_t total_ns = 0;
  // Optional, caller-owned: when set, Run adds each step's nanoseconds to step_ns[i]
  // (StepSummary().size() entries), for profiling without allocation.
  int64_t* step_ns = nullptr;
};

class CompiledGraph;  // defined in compile.h

class Model {
 public:
  static Result<std::shared_ptr<const Model>> LoadFile(const std::string& path,
                                                       const LoadOptions& options = {});
  static Result<std::shared_ptr<const Model>> LoadMemory(std::span<const uint8_t> bytes,
                                                         const LoadOptions& options = {});

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  // Bytes of the activation arena one ExecutionContext allocates (planned from lifetimes).
  int64_t arena_bytes() const;
  // Bytes of constant, pre-packed weights shared by every context.
  int64_t weight_bytes() const;
  // One line per executed step, e.g. "QConv conv1 (3x3, 16->32, int8)".
  std::vector<std::string> StepSummary() const;
  bool is_quantized() const;
  // Names of the float tensors readable through FindFloatTensor (LoadOptions::keep_all_tensors).
  std::vector<std::string> KeptTensorNames() const;

  explicit Model(std::unique_ptr<CompiledGraph> graph);
  ~Model();
  const CompiledGraph& graph() const { return *graph_; }

 private:
  std::unique_ptr<CompiledGraph> graph_;
};

class ExecutionContext {
 public:
  // tier kAuto picks the best tier the CPU supports; an explicit tier the CPU lacks falls back
  // to the best supported one below it (see EffectiveTier).
  explicit ExecutionContext(std::shared_ptr<const Model> model, KernelTier tier = KernelTier::kAuto);
  ~ExecutionContext();
  ExecutionContext(const ExecutionContext&) = delete;
  ExecutionContext& operator=(const ExecutionContext&) = delete;

  // inputs[i] points at inputs()[i].elements floats; outputs[i] at outputs()[i].elements.
  Status Run(std::span<const float* const> inputs, std::span<float* const> outputs,
             RunTiming* timing = nullptr);

  KernelTier tier() const { return tier_; }
  const Model& model() const { return *model_; }
  // After Run: the float tensor of that ONNX name, if the model kept it (LoadOptions).
  std::span<const float> FindFloatTensor(std::string_view name) const;

 private:
  std::shared_ptr<const Model> model_;
  KernelTier tier_;
  std::byte* arena_ = nullptr;
};

}  // namespace edge::engine
