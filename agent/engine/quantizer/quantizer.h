// Post-training static quantization: fp32 ONNX in, QDQ int8 ONNX out, runnable by this
// engine and by ONNX Runtime. Activations are asymmetric per tensor, weights symmetric per
// output channel, biases int32 in the accumulator scale.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/engine/npy_io.h"
#include "common/core/result.h"

namespace edge::engine {

enum class CalibrationMethod { kMinMax, kPercentile };

struct QuantizeOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;  // kPercentile: keep this share of values inside the range
  // Quantize even a model that is already quantized (see QuantizationOf). Off by default: the
  // calibration would measure tensors that are already rounded to int8 grids, and the new
  // Q -> DQ pairs add a second rounding on top of the first.
  bool requantize = false;
};

// Why a model counts as already quantized: it has at least one node (in the main graph or any
// subgraph, any domain) whose op type is QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, ConvInteger, MatMulInteger, MatMulIntegerToFloat,
// DynamicQuantizeMatMul, QGemm, QAttention or starts with "QLinear" (QLinearConv,
// QLinearMatMul, QLinearAdd, ...): the QDQ form this quantizer writes and the operator-oriented
// form other tools write. Integer tensors alone (a uint8 image input cast to float) do not count.
struct Quantization {
  int64_t nodes = 0;         // quantization nodes found
  std::string first_node;    // the first of them, as "'<name>' (<op type>)"
  std::string op_types;      // their distinct op types, comma-separated
};

// Reads the ONNX file at `path`; nullopt when the model has no quantization node.
Result<std::optional<Quantization>> QuantizationOf(const std::string& path);

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

// Refuses (kFailedPrecondition, naming a quantization node) a model QuantizationOf finds
// quantized, unless options.requantize.
Result<QuantizeReport> QuantizeModel(const std::string& in_path, const NpyArray& calibration,
                                     const std::string& out_path, const QuantizeOptions& options);

// Runs both models on the samples and compares their first outputs.
Result<QuantizeReport> CompareModels(const std::string& fp32_path, const std::string& int8_path,
                                     const NpyArray& samples);

}  // namespace edge::engine
