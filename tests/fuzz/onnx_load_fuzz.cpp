// The ONNX loader: protobuf parse, lowering (op and attribute checks, constant folding),
// shape rules, arena planning and weight packing, on the bytes of a model file. A model that
// loads and is small runs once, so a shape the loader got wrong shows up as an out-of-bounds
// access in a kernel. Seeds are the zoo models (tests/models/zoo) that fit -max_len.
#include <google/protobuf/stubs/logging.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "agent/engine/engine.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::engine;

namespace {

// Inference on what the loader accepted, bounded so a hostile but valid model cannot turn the
// run into a timeout: small arena, small weights, small inputs.
constexpr int64_t kMaxRunArenaBytes = 4 << 20;
constexpr int64_t kMaxRunWeightBytes = 1 << 20;
constexpr int64_t kMaxRunInputElements = 1 << 16;

void RunOnce(const std::shared_ptr<const Model>& model, KernelTier tier) {
  if (model->arena_bytes() > kMaxRunArenaBytes || model->weight_bytes() > kMaxRunWeightBytes) return;
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<float>> outputs;
  for (const auto& info : model->inputs()) {
    if (info.elements < 0 || info.elements > kMaxRunInputElements) return;
    std::vector<float> v(static_cast<size_t>(info.elements));
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i));
    inputs.push_back(std::move(v));
  }
  for (const auto& info : model->outputs()) {
    if (info.elements < 0) fuzz::Die("a loaded model reports a negative output size");
    outputs.emplace_back(static_cast<size_t>(info.elements));
  }
  std::vector<const float*> in_ptrs;
  std::vector<float*> out_ptrs;
  for (const auto& v : inputs) in_ptrs.push_back(v.data());
  for (auto& v : outputs) out_ptrs.push_back(v.data());
  ExecutionContext context(model, tier);
  (void)context.Run(in_ptrs, out_ptrs);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every malformed message at ERROR; the loader's own error is what counts.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  LoadOptions options;
  options.max_arena_bytes = int64_t{64} << 20;
  // Calibration loads keep every tensor and skip the folds: a second code path through lower.
  options.keep_all_tensors = size % 7 == 0;
  auto model = Model::LoadMemory(std::span<const uint8_t>(data, size), options);
  if (!model) {
    if ((*model.error().message.c_str()) == '\0') fuzz::Die("a load failed with an empty message");
    return 0;
  }
  (void)(*model)->StepSummary();
  // Half the runs on the scalar reference kernels: the SIMD kernel files are built without
  // ASan and UBSan (tests/fuzz/CMakeLists.txt), the reference ones with.
  RunOnce(*model, size % 2 == 0 ? KernelTier::kScalar : KernelTier::kAuto);
  return 0;
}
