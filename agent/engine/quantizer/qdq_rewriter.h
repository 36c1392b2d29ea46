// The QDQ rewrite behind QuantizeModel (quantizer.h), given calibrated activation ranges.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/engine/quantizer/quantizer.h"
#include "common/core/result.h"

namespace onnx {
class ModelProto;
class TensorProto;
}

namespace edge::engine {

// Rewrites `model` (constants already initializers) in place into QDQ form; see
// qdq_rewriter.cpp. Fills int8_nodes and float_nodes of the report; refuses
// (kFailedPrecondition) a graph in which no computing node can run in int8.
// The values of a float32 initializer (raw little-endian bytes or float_data).
Result<std::vector<float>> FloatsOf(const onnx::TensorProto& t);

Result<QuantizeReport> RewriteToQdq(onnx::ModelProto& model, const std::map<std::string, TensorRange>& ranges,
                                    const QuantizeOptions& options);

}  // namespace edge::engine
