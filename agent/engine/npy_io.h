// NumPy .npy files of float32 in C order: how edge-model and the tests exchange tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/result.h"

namespace edge::engine {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

Result<NpyArray> ReadNpy(const std::string& path);
// Parses an in-memory .npy image (what ReadNpy does after reading the file).
Result<NpyArray> ParseNpy(const std::string& bytes, const std::string& what);
Status WriteNpy(const std::string& path, const NpyArray& array);

}  // namespace edge::engine
