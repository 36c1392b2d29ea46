// The public face of the inference engine: load an ONNX model once, run it from many threads,
// each through its own ExecutionContext.
//
// Contract: a loaded Model is immutable and may be shared freely. An ExecutionContext owns the
// arena for one inference at a time; Run() performs no heap allocation. Inputs and outputs are
// float32 buffers, C order, with the shapes reported by inputs()/outputs(), whatever the
// model's element types: TensorInfo::dtype says what the floats stand for.
//
// Dynamic batch: an input whose leading dimension is symbolic in the ONNX file (how exporters
// write a batch axis) makes the model batch-dynamic. inputs()/outputs() then describe batch 1;
// RunBatch(n, ...) runs n samples in one call on a plan compiled for batch n the first time it
// is asked for and cached in the model (at most LoadOptions::max_batch_plans sizes, the least
// recently used dropped first). Only that first call of a size, or a context's first call of a
// size larger than any it ran before, allocates.
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
  // An input whose leading dimension is the model's symbolic batch (see the contract above).
  bool batched = false;
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
  // A model (or a batch size of one) whose run needs more multiply-adds than this fails to load
  // instead of running for hours: about a minute of work on a gateway's scalar float path.
  int64_t max_work = int64_t{1} << 36;
  // Batch-dynamic models: the largest batch RunBatch accepts, and how many batch sizes keep a
  // compiled plan (each holds its own packed weights and plans its own arena).
  int64_t max_batch = 256;
  int max_batch_plans = 4;
};

// Inputs and outputs of one batch size of a model.
struct BatchShapes {
  std::vector<TensorInfo> inputs, outputs;
};

struct RunTiming {
  int64_t total_ns = 0;
  // Optional, caller-owned: when set, Run adds each step's nanoseconds to step_ns[i]
  // (StepSummary().size() entries; StepSummaryFor(n) for RunBatch(n)), for profiling without
  // allocation.
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
  // The steps of the plan for `batch` (see ShapesFor).
  Result<std::vector<std::string>> StepSummaryFor(int64_t batch) const;
  bool is_quantized() const;
  // True when an input has a symbolic leading dimension (see the contract above).
  bool dynamic_batch() const;
  int64_t max_batch() const;
  // The shapes of a RunBatch(batch, ...) call; plans (and caches) that batch size. kInvalidArgument
  // for a batch outside 1..max_batch() or for any batch but 1 of a model with fixed shapes.
  Result<BatchShapes> ShapesFor(int64_t batch) const;
  // Names of the float tensors readable through FindFloatTensor (LoadOptions::keep_all_tensors).
  std::vector<std::string> KeptTensorNames() const;

  explicit Model(std::shared_ptr<const CompiledGraph> graph);
  ~Model();
  // The plan of batch 1 (or of the model's fixed shapes).
  const CompiledGraph& graph() const { return *graph_; }
  // The plan for `batch`: graph() for 1, else compiled on first use and cached (see ShapesFor).
  Result<std::shared_ptr<const CompiledGraph>> PlanFor(int64_t batch) const;

 private:
  struct BatchPlans;
  std::shared_ptr<const CompiledGraph> graph_;
  std::unique_ptr<BatchPlans> batch_plans_;  // null for a model with fixed shapes
};

class ExecutionContext {
 public:
  // tier kAuto picks the best tier the CPU supports; an explicit tier the CPU lacks runs the
  // CPU's best instead (see EffectiveTier: below it, or above it for avxvnni on a CPU with
  // AVX-512 VNNI and no AVX-VNNI).
  explicit ExecutionContext(std::shared_ptr<const Model> model, KernelTier tier = KernelTier::kAuto);
  ~ExecutionContext();
  ExecutionContext(const ExecutionContext&) = delete;
  ExecutionContext& operator=(const ExecutionContext&) = delete;

  // inputs[i] points at inputs()[i].elements floats; outputs[i] at outputs()[i].elements.
  Status Run(std::span<const float* const> inputs, std::span<float* const> outputs,
             RunTiming* timing = nullptr);
  // `batch` samples in one call: buffers as Model::ShapesFor(batch) gives (samples along the
  // leading dimension). RunBatch(1, ...) is Run(...).
  Status RunBatch(int64_t batch, std::span<const float* const> inputs, std::span<float* const> outputs,
                  RunTiming* timing = nullptr);

  // Lets go of the plan of the last RunBatch and shrinks the arena back to batch 1's size, so
  // that a pooled context idle after a large batch holds neither (the next RunBatch of a size
  // allocates again). FindFloatTensor is empty until the next run.
  void ReleaseBatchPlan();

  KernelTier tier() const { return tier_; }
  const Model& model() const { return *model_; }
  // After Run: the float tensor of that ONNX name, if the model kept it (LoadOptions).
  std::span<const float> FindFloatTensor(std::string_view name) const;

 private:
  Status RunPlan(const CompiledGraph& g, std::span<const float* const> inputs, std::span<float* const> outputs,
                 RunTiming* timing);
  bool Reserve(int64_t arena_bytes);

  std::shared_ptr<const Model> model_;
  KernelTier tier_;
  std::byte* arena_ = nullptr;
  size_t arena_capacity_ = 0;
  // The plan of the last RunBatch, held so that a repeated batch size takes no lock, and so that
  // FindFloatTensor reads the plan that last ran.
  std::shared_ptr<const CompiledGraph> plan_;
  int64_t plan_batch_ = 1;
  const CompiledGraph* last_plan_ = nullptr;
};

}  // namespace edge::engine
