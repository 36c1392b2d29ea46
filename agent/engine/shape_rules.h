// Output-shape rules shared by the lowering and the kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/result.h"

namespace edge::engine {

// ONNX multidirectional (numpy) broadcasting.
Result<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                             const std::vector<int64_t>& b);

// Output extent of one spatial axis of a conv or pool; fails when the window does not fit.
Result<int64_t> WindowOutput(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                             int64_t pad_begin, int64_t pad_end, bool ceil_mode);

// Normalises a possibly negative axis against a rank.
Result<int64_t> NormalizeAxis(int64_t axis, int64_t rank);

// A shape as messages show it: "[2, 3, 5]".
std::string ShapeText(const std::vector<int64_t>& shape);

}  // namespace edge::engine
