// Rewrites an ONNX model's batch axis as a symbolic dimension, as exporters write it
// (torch.onnx.export(..., dynamic_axes={...: {0: "N"}})): dimension 0 of every graph input and
// output becomes dim_param `name`, and value_info (shapes recorded at batch 1) is dropped.
// For tests and benchmarks that need batch-dynamic versions of the zoo's fixed-shape models.
#pragma once

#include <string>

#include "common/core/result.h"

namespace edge::testing {

Result<std::string> MakeBatchDynamic(const std::string& onnx_bytes, const std::string& name = "N");
// Reads `in`, writes the rewritten model to `out`.
Status MakeBatchDynamicFile(const std::string& in, const std::string& out, const std::string& name = "N");

}  // namespace edge::testing
