#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "agent/engine/compile.h"
#include "agent/engine/engine.h"
#include "agent/engine/lower.h"
#include "agent/engine/onnx_reader.h"

namespace edge::engine {

Model::Model(std::unique_ptr<CompiledGraph> graph) : graph_(std::move(graph)) {}
Model::~Model() = default;

Result<std::shared_ptr<const Model>> Model::LoadMemory(std::span<const uint8_t> bytes,
                                                       const LoadOptions& options) {
  EDGE_ASSIGN_OR_RETURN(OnnxGraph onnx, ReadOnnx(bytes));
  LowerOptions lower;
  lower.keep_all_tensors = options.keep_all_tensors;
  EDGE_ASSIGN_OR_RETURN(Graph graph, Lower(onnx, lower));
  EDGE_ASSIGN_OR_RETURN(auto compiled, Compile(std::move(graph), options));
  return std::shared_ptr<const Model>(std::make_shared<Model>(std::move(compiled)));
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

std::vector<std::string> Model::KeptTensorNames() const {
  std::vector<std::string> names;
  for (const auto& [name, slot] : graph_->float_tensors) names.push_back(name);
  return names;
}

std::vector<std::string> Model::StepSummary() const {
  std::vector<std::string> lines;
  for (const auto& s : graph_->steps) lines.push_back(s->summary);
  return lines;
}

ExecutionContext::ExecutionContext(std::shared_ptr<const Model> model, KernelTier tier)
    : model_(std::move(model)), tier_(EffectiveTier(tier)) {
  // 64 bytes of slack: vector loads may read (never use) a few bytes past the last tensor.
  const size_t bytes = static_cast<size_t>((model_->arena_bytes() + 63) / 64 * 64 + 64);
  arena_ = static_cast<std::byte*>(std::aligned_alloc(64, bytes));
  if (arena_ != nullptr) std::memset(arena_, 0, bytes);
}

ExecutionContext::~ExecutionContext() { std::free(arena_); }

Status ExecutionContext::Run(std::span<const float* const> inputs, std::span<float* const> outputs,
                             RunTiming* timing) {
  const auto start = std::chrono::steady_clock::now();
  const CompiledGraph& g = model_->graph();
  if (arena_ == nullptr) return Fail(ErrorCode::kResourceExhausted, "arena allocation failed");
  if (inputs.size() != g.inputs.size() || outputs.size() != g.outputs.size()) {
    return Fail(ErrorCode::kInvalidArgument, "wrong number of input or output buffers");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::memcpy(arena_ + g.input_offsets[i], inputs[i],
                static_cast<size_t>(g.inputs[i].elements) * sizeof(float));
  }
  ExecEnv env;
  env.arena = arena_;
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
  const auto& tensors = model_->graph().float_tensors;
  auto it = tensors.find(name);
  if (it == tensors.end()) return {};
  return {reinterpret_cast<const float*>(arena_ + it->second.first),
          static_cast<size_t>(it->second.second)};
}

}  // namespace edge::engine
