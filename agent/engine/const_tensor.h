// Tensors known at load time (initializers, Constant nodes, folded results) and the element
// types the engine understands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/result.h"

namespace edge::engine {

// kBool is stored as one byte (0 or 1). kF16 and kF64 exist only at the graph's edges: such a
// tensor is carried as float32 inside the engine (a float16 value is exact in float32; a double
// is rounded to float32 by the caller, who passes floats).
enum class DType : uint8_t { kF32, kI8, kU8, kI32, kI64, kBool, kF16, kF64 };

// ONNX's name for the type, e.g. "uint8", "float16".
std::string DTypeName(DType type);
int64_t DTypeBytes(DType type);
// int8, uint8, int32, int64 and bool: values held exactly as integers.
bool IsIntegerType(DType type);

// Loader limits: a hostile file must fail cleanly instead of asking for absurd memory.
inline constexpr int kMaxRank = 6;
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 28;

// Checks rank and every dimension, and returns the element count without overflow.
Result<int64_t> CheckedElementCount(const std::vector<int64_t>& shape);

// Floats live in `f`, every integer type in `i` (values already range-checked for the type).
struct ConstTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<float> f;
  std::vector<int64_t> i;

  int64_t elements() const;
  bool is_float() const { return dtype == DType::kF32; }
  // Value of element k as double regardless of type.
  double At(int64_t k) const { return is_float() ? double(f[k]) : double(i[k]); }
  bool IsScalarLike() const { return elements() == 1; }
};

ConstTensor MakeFloatTensor(std::vector<int64_t> shape, std::vector<float> data);
ConstTensor MakeIntTensor(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> data);

}  // namespace edge::engine
