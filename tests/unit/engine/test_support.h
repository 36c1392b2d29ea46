// Helpers shared by the engine tests: zoo paths and running a model on .npy samples.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"

namespace edge::engine::testing {

std::string ZooPath(const std::string& file);
std::vector<std::string> ZooModels();  // names of the torch-built zoo models plus op_mix

std::shared_ptr<const Model> LoadOrDie(const std::string& path);
std::string FileBytes(const std::string& path);
// Whether a step of `m`'s summary (Model::StepSummary) contains `needle`.
bool HasStep(const Model& m, const std::string& needle);
// The number of elements of a tensor of `shape`.
int64_t Elements(const std::vector<int64_t>& shape);
// The zoo model `zoo_file` with its batch dimension made symbolic (tests/support/batch_dynamic.h).
std::shared_ptr<const Model> LoadBatchDynamicOrDie(const std::string& zoo_file, const LoadOptions& options = {});
NpyArray ReadOrDie(const std::string& path);

// Runs a model with one input (none when x is empty) and one output; REQUIREs success.
std::vector<float> RunOne(const std::shared_ptr<const Model>& model, const std::vector<float>& x);

// Runs `model` on every row of `inputs` (leading dimension = samples), returns [samples, out].
std::vector<float> RunSamples(ExecutionContext& ctx, const NpyArray& inputs, int64_t* out_per_sample);

// `bytes` writable bytes whose last byte (at_end) or first touches an inaccessible page, with
// a copy of `src` in them if given: code that reads or writes past the buffer's end (before its
// start) faults.
class GuardedBuffer {
 public:
  GuardedBuffer(size_t bytes, bool at_end, const void* src = nullptr);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* map_ = nullptr;
  size_t len_ = 0;
  void* data_ = nullptr;
};

}  // namespace edge::engine::testing
