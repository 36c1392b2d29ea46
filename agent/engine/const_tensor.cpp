#include "agent/engine/const_tensor.h"

namespace edge::engine {

std::string DTypeName(DType type) {
  switch (type) {
    case DType::kF32: return "float32";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kBool: return "bool";
    case DType::kF16: return "float16";
    case DType::kF64: return "double";
  }
  return "unknown";
}

int64_t DTypeBytes(DType type) {
  switch (type) {
    case DType::kF32: return 4;
    case DType::kI8: return 1;
    case DType::kU8: return 1;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kBool: return 1;
    case DType::kF16: return 2;
    case DType::kF64: return 8;
  }
  return 1;
}

bool IsIntegerType(DType type) {
  return type == DType::kI8 || type == DType::kU8 || type == DType::kI32 || type == DType::kI64 ||
         type == DType::kBool;
}

Result<int64_t> CheckedElementCount(const std::vector<int64_t>& shape) {
  if (shape.size() > static_cast<size_t>(kMaxRank)) {
    return Fail(ErrorCode::kInvalidArgument,
                "rank " + std::to_string(shape.size()) + " exceeds the supported " +
                    std::to_string(kMaxRank));
  }
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return Fail(ErrorCode::kInvalidArgument, "negative dimension " + std::to_string(d));
    if (d > kMaxTensorElements) {
      return Fail(ErrorCode::kResourceExhausted, "dimension " + std::to_string(d) + " too large");
    }
    count *= d;
    if (count > kMaxTensorElements) {
      return Fail(ErrorCode::kResourceExhausted,
                  "tensor of more than " + std::to_string(kMaxTensorElements) + " elements");
    }
  }
  return count;
}

int64_t ConstTensor::elements() const {
  return is_float() ? static_cast<int64_t>(f.size()) : static_cast<int64_t>(i.size());
}

ConstTensor MakeFloatTensor(std::vector<int64_t> shape, std::vector<float> data) {
  ConstTensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.f = std::move(data);
  return t;
}

ConstTensor MakeIntTensor(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> data) {
  ConstTensor t = MakeFloatTensor(std::move(shape), {});
  t.dtype = dtype;
  t.i = std::move(data);
  return t;
}

}  // namespace edge::engine
