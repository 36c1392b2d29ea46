#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <list>
#include <map>
#include <mutex>

#include "agent/engine/compile.h"
#include "agent/engine/engine.h"
#include "agent/engine/lower.h"
#include "agent/engine/onnx_reader.h"

namespace edge::engine {

// The ONNX graph a batch-dynamic model is planned from, and the plans of batch sizes above 1,
// most recently used first.
struct Model::BatchPlans {
  OnnxGraph onnx;
  LoadOptions options;
  std::mutex mutex;
  std::list<std::pair<int64_t, std::shared_ptr<const CompiledGraph>>> plans;
  // Sizes that failed to plan, with why: planning is deterministic, so a request for one of
  // them is answered without planning again (at most max_batch entries).
  std::map<int64_t, Error> failed;
};

Model::Model(std::shared_ptr<const CompiledGraph> graph) : graph_(std::move(graph)) {}
Model::~Model() = default;

namespace {

Result<std::shared_ptr<const CompiledGraph>> Plan(const OnnxGraph& onnx, const LoadOptions& options, int64_t batch) {
  LowerOptions lower;
  lower.keep_all_tensors = options.keep_all_tensors;
  lower.batch = batch;
  EDGE_ASSIGN_OR_RETURN(Graph graph, Lower(onnx, lower));
  EDGE_ASSIGN_OR_RETURN(auto compiled, Compile(std::move(graph), options));
  for (size_t i = 0; i < onnx.inputs.size(); ++i) compiled->inputs[i].batched = onnx.inputs[i].batched();
  return std::shared_ptr<const CompiledGraph>(std::move(compiled));
}

// A batch-dynamic model runs each sample of a batch independently, which a recurrent cell whose
// sequence axis is the symbolic leading dimension would break (a sequence-first X [N, batch,
// input]: a "batch" of N would be one sequence of N steps). Lowered at batches 1 and 2, such a
// cell's sequence length changes with the batch: refused. A cell whose batch axis follows it
// (batch first, or after PyTorch's transpose) is what dynamic batch means.
Status CheckRecurrentBatch(const OnnxGraph& onnx) {
  const bool recurrent = std::any_of(onnx.nodes.begin(), onnx.nodes.end(), [](const OnnxNode& n) {
    return n.op_type == "RNN" || n.op_type == "GRU" || n.op_type == "LSTM";
  });
  if (!recurrent) return Ok();
  LowerOptions one, two;
  two.batch = 2;
  auto a = Lower(onnx, one);
  auto b = Lower(onnx, two);
  if (!a || !b) return Ok();  // a failing plan reports itself where it is used
  std::map<std::string, int64_t> seq;
  for (const Node& n : a->nodes) {
    if (n.recurrent != nullptr) seq[n.name] = n.recurrent->seq;
  }
  for (const Node& n : b->nodes) {
    if (n.recurrent == nullptr || seq.count(n.name) == 0 || seq[n.name] == n.recurrent->seq) continue;
    return Fail(ErrorCode::kInvalidArgument,
                "node '" + n.name + "' (" + n.onnx_op + "): its sequence axis is the inputs' symbolic leading dimension, which " +
                    "the engine takes as a batch of independent samples; export the model with a fixed sequence length");
  }
  return Ok();
}

}  // namespace

Result<std::shared_ptr<const Model>> Model::LoadMemory(std::span<const uint8_t> bytes,
                                                       const LoadOptions& options) {
  EDGE_ASSIGN_OR_RETURN(OnnxGraph onnx, ReadOnnx(bytes));
  EDGE_ASSIGN_OR_RETURN(auto compiled, Plan(onnx, options, 1));
  auto model = std::make_shared<Model>(std::move(compiled));
  if (onnx.dynamic_batch()) {
    if (options.max_batch < 1 || options.max_batch_plans < 1) {
      return Fail(ErrorCode::kInvalidArgument, "max_batch and max_batch_plans must be at least 1");
    }
    EDGE_TRY(CheckRecurrentBatch(onnx));
    model->batch_plans_ = std::make_unique<BatchPlans>();
    model->batch_plans_->onnx = std::move(onnx);
    model->batch_plans_->options = options;
  }
  return std::shared_ptr<const Model>(std::move(model));
}

Result<std::shared_ptr<const Model>> Model::LoadFile(const std::string& path,
                                                     const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot open model file " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto model = LoadMemory(bytes, options);
  if (!model) return Fail(model.error().Wrap("loading " + path));
  return model;
}

const std::vector<TensorInfo>& Model::inputs() const { return graph_->inputs; }
const std::vector<TensorInfo>& Model::outputs() const { return graph_->outputs; }
int64_t Model::arena_bytes() const { return graph_->arena_bytes; }
int64_t Model::weight_bytes() const { return graph_->pool.total_bytes; }
bool Model::is_quantized() const { return graph_->quantized; }
bool Model::dynamic_batch() const { return batch_plans_ != nullptr; }
int64_t Model::max_batch() const { return batch_plans_ ? batch_plans_->options.max_batch : 1; }

Result<std::shared_ptr<const CompiledGraph>> Model::PlanFor(int64_t batch) const {
  if (batch == 1) return graph_;
  if (!batch_plans_) {
    return Fail(ErrorCode::kInvalidArgument, "batch " + std::to_string(batch) +
                                                 ": the model has fixed input shapes (no symbolic batch dimension)");
  }
  BatchPlans& bp = *batch_plans_;
  if (batch < 1 || batch > bp.options.max_batch) {
    return Fail(ErrorCode::kInvalidArgument, "batch " + std::to_string(batch) + " is outside 1.." +
                                                 std::to_string(bp.options.max_batch) + " (the model's maximum batch)");
  }
  {
    std::lock_guard lock(bp.mutex);
    if (auto f = bp.failed.find(batch); f != bp.failed.end()) return Fail(f->second);
    for (auto it = bp.plans.begin(); it != bp.plans.end(); ++it) {
      if (it->first != batch) continue;
      bp.plans.splice(bp.plans.begin(), bp.plans, it);
      return bp.plans.front().second;
    }
  }
  // Planned outside the lock: other sizes keep running meanwhile. Two callers may plan the same
  // size at once; the first to finish is kept.
  auto planned = Plan(bp.onnx, bp.options, batch);
  std::lock_guard lock(bp.mutex);
  if (!planned) {
    Error why = planned.error().Wrap("planning batch " + std::to_string(batch));
    bp.failed.emplace(batch, why);
    return Fail(std::move(why));
  }
  for (const auto& [size, plan] : bp.plans) {
    if (size == batch) return plan;
  }
  bp.plans.emplace_front(batch, std::move(*planned));
  if (bp.plans.size() > static_cast<size_t>(bp.options.max_batch_plans)) bp.plans.pop_back();
  return bp.plans.front().second;
}

Result<BatchShapes> Model::ShapesFor(int64_t batch) const {
  EDGE_ASSIGN_OR_RETURN(auto plan, PlanFor(batch));
  return BatchShapes{plan->inputs, plan->outputs};
}

std::vector<std::string> Model::KeptTensorNames() const {
  std::vector<std::string> names;
  for (const auto& [name, slot] : graph_->float_tensors) names.push_back(name);
  return names;
}

std::vector<std::string> Model::StepSummary() const { return *StepSummaryFor(1); }

Result<std::vector<std::string>> Model::StepSummaryFor(int64_t batch) const {
  EDGE_ASSIGN_OR_RETURN(auto plan, PlanFor(batch));
  std::vector<std::string> lines;
  for (const auto& s : plan->steps) lines.push_back(s->summary);
  return lines;
}

ExecutionContext::ExecutionContext(std::shared_ptr<const Model> model, KernelTier tier)
    : model_(std::move(model)), tier_(EffectiveTier(tier)) {
  Reserve(model_->arena_bytes());
}

ExecutionContext::~ExecutionContext() { std::free(arena_); }

bool ExecutionContext::Reserve(int64_t arena_bytes) {
  // 64 bytes of slack: vector loads may read (never use) a few bytes past the last tensor.
  const size_t bytes = static_cast<size_t>((arena_bytes + 63) / 64 * 64 + 64);
  if (arena_ != nullptr && bytes <= arena_capacity_) return true;
  std::free(arena_);
  arena_ = static_cast<std::byte*>(std::aligned_alloc(64, bytes));
  arena_capacity_ = arena_ != nullptr ? bytes : 0;
  if (arena_ != nullptr) std::memset(arena_, 0, bytes);
  return arena_ != nullptr;
}

void ExecutionContext::ReleaseBatchPlan() {
  plan_.reset();
  plan_batch_ = 1;
  last_plan_ = nullptr;
  const size_t needed = static_cast<size_t>((model_->arena_bytes() + 63) / 64 * 64 + 64);
  if (arena_capacity_ > needed) {
    std::free(arena_);
    arena_ = nullptr;
    arena_capacity_ = 0;
    Reserve(model_->arena_bytes());
  }
}

Status ExecutionContext::Run(std::span<const float* const> inputs, std::span<float* const> outputs,
                             RunTiming* timing) {
  return RunPlan(model_->graph(), inputs, outputs, timing);
}

Status ExecutionContext::RunBatch(int64_t batch, std::span<const float* const> inputs,
                                  std::span<float* const> outputs, RunTiming* timing) {
  if (batch == 1) return Run(inputs, outputs, timing);
  if (!plan_ || plan_batch_ != batch) {
    EDGE_ASSIGN_OR_RETURN(plan_, model_->PlanFor(batch));
    plan_batch_ = batch;
  }
  return RunPlan(*plan_, inputs, outputs, timing);
}

Status ExecutionContext::RunPlan(const CompiledGraph& g, std::span<const float* const> inputs,
                                 std::span<float* const> outputs, RunTiming* timing) {
  const auto start = std::chrono::steady_clock::now();
  last_plan_ = nullptr;  // nothing readable until this run has its arena and its buffers
  if (!Reserve(g.arena_bytes)) return Fail(ErrorCode::kResourceExhausted, "arena allocation failed");
  if (inputs.size() != g.inputs.size() || outputs.size() != g.outputs.size()) {
    return Fail(ErrorCode::kInvalidArgument, "wrong number of input or output buffers");
  }
  last_plan_ = &g;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (g.input_offsets[i] < 0) continue;  // read in place by its QuantizeLinear
    std::memcpy(arena_ + g.input_offsets[i], inputs[i],
                static_cast<size_t>(g.inputs[i].elements) * sizeof(float));
  }
  ExecEnv env;
  env.arena = arena_;
  env.inputs = inputs.data();
  env.qgemm = QGemmForTier(tier_);
  env.elementwise = &ElementwiseForTier(tier_);
  if (timing != nullptr && timing->step_ns != nullptr) {
    for (size_t i = 0; i < g.steps.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      g.steps[i]->Run(env);
      timing->step_ns[i] += std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - t0)
                                .count();
    }
  } else {
    for (const auto& step : g.steps) step->Run(env);
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (g.outputs[i].elements == 0) continue;  // (an empty output's buffer may be null: memcpy's UB)
    const void* src = g.output_offsets[i] >= 0 ? static_cast<const void*>(arena_ + g.output_offsets[i])
                                               : g.output_consts[i].data();
    std::memcpy(outputs[i], src, static_cast<size_t>(g.outputs[i].elements) * sizeof(float));
  }
  if (timing != nullptr) {
    timing->total_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
  }
  return Ok();
}

std::span<const float> ExecutionContext::FindFloatTensor(std::string_view name) const {
  if (arena_ == nullptr || last_plan_ == nullptr) return {};  // no successful run to read
  const auto& tensors = last_plan_->float_tensors;
  auto it = tensors.find(name);
  if (it == tensors.end()) return {};
  return {reinterpret_cast<const float*>(arena_ + it->second.first),
          static_cast<size_t>(it->second.second)};
}

}  // namespace edge::engine
