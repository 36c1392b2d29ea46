// Reads an ONNX ModelProto into plain structs, validating everything a hostile file could use
// against us: sizes, types, external data, foreign domains. No graph semantics here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "agent/engine/const_tensor.h"
#include "common/core/result.h"

namespace edge::engine {

struct OnnxAttr {
  enum class Kind { kInt, kFloat, kInts, kFloats, kString, kStrings, kTensor, kOther } kind = Kind::kOther;
  std::string name;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string s;
  std::vector<std::string> strings;
  ConstTensor t;
};

struct OnnxNode {
  std::string name;  // never empty: the reader names anonymous nodes after their first named output
  std::string op_type;
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::vector<OnnxAttr> attrs;

  const OnnxAttr* Find(const std::string& attr) const;
  int64_t Int(const std::string& attr, int64_t fallback) const;
  float Float(const std::string& attr, float fallback) const;
  std::string Str(const std::string& attr, const std::string& fallback) const;
  std::vector<int64_t> Ints(const std::string& attr) const;
  std::vector<float> Floats(const std::string& attr) const;
  std::vector<std::string> Strings(const std::string& attr) const;
  // A per-axis attribute of `count` values, `fill` for each when absent; another length fails.
  Result<std::vector<int64_t>> IntsOr(const std::string& attr, int64_t fill, size_t count) const;
  std::string Label() const { return "node '" + name + "' (" + op_type + ")"; }
};

// An input's symbolic leading dimension (a dynamic batch), bound to a size when the model is
// planned for one (LowerOptions::batch).
inline constexpr int64_t kBatchDim = -1;

struct OnnxIo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // shape[0] == kBatchDim: a symbolic batch dimension
  std::string batch_param;     // its name in the model ("" when unnamed)
  bool batched() const { return !shape.empty() && shape[0] == kBatchDim; }
};

// The newest ONNX operator set whose operator versions the engine knows. A newer opset may
// change an operator's meaning, so a model importing one is refused rather than guessed at.
inline constexpr int64_t kNewestOpset = 21;

struct OnnxGraph {
  int64_t opset = 0;  // of the default (ai.onnx) domain
  std::vector<OnnxNode> nodes;
  std::map<std::string, ConstTensor> initializers;
  std::vector<OnnxIo> inputs;  // graph inputs that are not initializers
  std::vector<OnnxIo> outputs;
  bool dynamic_batch() const {
    return std::any_of(inputs.begin(), inputs.end(), [](const OnnxIo& io) { return io.batched(); });
  }
};

Result<OnnxGraph> ReadOnnx(std::span<const uint8_t> bytes);

// The engine's type for an ONNX TensorProto element type (Cast's `to`, a tensor's data_type).
// `at_edge` admits float16 and double, which the engine carries as float32; an unsupported
// type fails naming it, with `what` in front.
Result<DType> DTypeOfOnnx(int32_t elem_type, const std::string& what, bool at_edge);

}  // namespace edge::engine
