// Post-training static quantization: fp32 ONNX in, QDQ int8 ONNX out, runnable by this
// engine and by ONNX Runtime. Activations are asymmetric per tensor, weights symmetric per
// output channel, biases int32 in the accumulator scale.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/engine/npy_io.h"
#include "common/core/result.h"

namespace edge::engine {

enum class CalibrationMethod { kMinMax, kPercentile };

struct QuantizeOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;  // kPercentile: keep this share of values inside the range
};

struct QuantizeReport {
  int64_t samples = 0;
  int64_t quantized_nodes = 0;
  int64_t float_nodes = 0;        // nodes left in float (not quantizable, or unsafe to)
  double max_abs_error = 0.0;     // int8 vs fp32 over all outputs of all calibration samples
  double output_range = 0.0;      // max |fp32 output|, to read max_abs_error against
  bool classification = false;    // first output looks like class scores ([1, C], C > 1)
  double top1_agreement = 0.0;    // share of samples whose argmax agrees (classification only)
};

// Per-tensor ranges observed on calibration data.
struct TensorRange {
  float lo = 0.0f, hi = 0.0f;
};

// Runs the fp32 model on every sample (calibration's leading dimension) and returns the range
// of every float tensor, by ONNX name.
Result<std::vector<std::pair<std::string, TensorRange>>> CalibrateRanges(
    const std::string& model_path, const NpyArray& calibration, const QuantizeOptions& options);

Result<QuantizeReport> QuantizeModel(const std::string& in_path, const NpyArray& calibration,
                                     const std::string& out_path, const QuantizeOptions& options);

// Runs both models on the samples and compares their first outputs.
Result<QuantizeReport> CompareModels(const std::string& fp32_path, const std::string& int8_path,
                                     const NpyArray& samples);

}  // namespace edge::engine
