// Post-training static quantization: fp32 ONNX in, QDQ int8 ONNX out, runnable by this
// engine and by ONNX Runtime. Activations are asymmetric per tensor, weights symmetric per
// output channel, biases int32 in the accumulator scale. Graph outputs stay float by default.
//
// The quantizer refuses data that would ruin the model (sample_data.cpp), measures the result
// on samples the calibration never saw (evaluation.cpp), and writes its output only when it
// succeeded, atomically, never over its input.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"
#include "common/core/result.h"

namespace edge::engine {

enum class CalibrationMethod { kMinMax, kPercentile };

// Sample data for every input of a model, in the model's input order: inputs[i] is the data of
// the model's input i, each laid out as CheckSampleLayout takes it, all with the same sample
// count N (sample s of every input together make one sample of the model). files[i], when set,
// is the file inputs[i] came from: messages about a model with several inputs name it, and
// QuantizeModel's --out is never one of them. The arrays are the caller's and must outlive the
// object. One array converts to it: the data of a single-input model.
struct ModelSamples {
  std::vector<const NpyArray*> inputs;
  std::vector<std::string> files;

  ModelSamples() = default;
  // Implicit, so that single-input callers pass an NpyArray (or `options.eval = &eval`) as before.
  ModelSamples(const NpyArray& one) : inputs{&one} {}
  ModelSamples(const NpyArray* one) {  // null: no data
    if (one != nullptr) inputs.push_back(one);
  }
  ModelSamples(std::vector<const NpyArray*> arrays, std::vector<std::string> paths = {})
      : inputs(std::move(arrays)), files(std::move(paths)) {}
  bool empty() const { return inputs.empty(); }
};

// The default --min-snr: the fp32 zoo models quantize to 35-54 dB; below 20 dB (an error a
// tenth of the signal's amplitude) the outputs no longer mean what the fp32 model's did.
inline constexpr double kDefaultMinSnrDb = 20.0;

struct QuantizeOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;  // kPercentile: keep this share of values inside the range
  // Quantize even a model that is already quantized (see QuantizationOf). Off by default: the
  // calibration would measure tensors that are already rounded to int8 grids, and the new
  // Q -> DQ pairs add a second rounding on top of the first.
  bool requantize = false;
  // Replace an existing output file. The input model itself is never replaced.
  bool force = false;
  // Calibrate on samples whose peak magnitude is far beyond the others (see
  // FindOutlierSamples) instead of refusing them.
  bool allow_outliers = false;
  // Put Q -> DQ on the graph's outputs too. Off by default: the int8 output would be clipped
  // to the calibration range and rounded to 1/255 of it (docs/engine.md has the numbers).
  bool quantize_outputs = false;
  // Node names or op types left in float (`--keep-float Div,/enc/Pow`): for an op whose int8
  // form costs more accuracy than the model can give (a GroupNorm written out op by op). Each
  // entry must name a node or an op type of the model.
  std::vector<std::string> keep_float;
  // Held-out samples for the quality report, one array per model input (`options.eval = &eval`
  // for a single-input model); empty: the last part of the calibration data (HoldOutSplit) is
  // held out and never used for ranges.
  ModelSamples eval;
  // The files the data came from, when known: --out is never one of them (nor one of the
  // ModelSamples::files of the calibration or eval data).
  std::string calibration_path, eval_path;
  // Bars: when the held-out quality is below one, nothing is written and nothing is removed
  // (QuantizeReport::below_bar). The SNR bar is on by default (kDefaultMinSnrDb): a model whose
  // held-out SNR is that low has lost its function, and nothing else would catch it.
  std::optional<double> min_snr_db = kDefaultMinSnrDb;  // the lowest SNR over all outputs
  std::optional<double> min_top1_percent;  // the lowest top-1 agreement over classifier outputs
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

// ------------------------------------------------------------------ sample data
// How an .npy of samples lines up with a model input: `count` samples of `per_sample` floats.
struct SampleLayout {
  int64_t count = 0;
  int64_t per_sample = 0;
};

// The npy must be [N, <input shape without its leading 1>] or, when the input's first
// dimension is 1, [N, <full input shape>]; anything else is refused naming both shapes and the
// expected one. `what` names the data in messages ("calibration data").
Result<SampleLayout> CheckSampleLayout(const TensorInfo& input, const NpyArray& data, const std::string& what);

// CheckSampleLayout for each input of a model: one array per input (refused otherwise, naming
// the inputs), each of its input's layout, all with the same sample count (refused naming both
// counts). With several inputs `what` is followed by "for input 'NAME' (FILE)" in messages.
Result<std::vector<SampleLayout>> CheckSampleLayouts(const std::vector<TensorInfo>& inputs, const ModelSamples& data,
                                                     const std::string& what);

// Samples whose peak |value| is far beyond the others': peak > kOutlierPeakRatio x the median
// peak and more than kOutlierMads robust deviations (1.4826 x MAD of the peaks) above it.
// Checked only from kOutlierMinSamples samples on. Returns their indices.
inline constexpr double kOutlierPeakRatio = 10.0;
inline constexpr double kOutlierMads = 10.0;
inline constexpr int64_t kOutlierMinSamples = 8;
std::vector<int64_t> FindOutlierSamples(const NpyArray& data, SampleLayout layout);

// CheckSampleLayout, then: every value finite (the first NaN/Inf is named by sample and
// element), for an integer input (int8, uint8, int32, int64, bool: the engine takes its values
// as floats and casts them) every value a whole number (the first that is not is named), and
// unless the input is int32 or int64: not one value throughout, and (check_outliers) no
// outlier sample. int32/int64 inputs are ids, indices or counts, not magnitudes: a large id is
// no outlier, one id throughout can be real data, and they are never quantized.
Result<SampleLayout> ValidateSamples(const TensorInfo& input, const NpyArray& data, const std::string& what,
                                     bool check_outliers);
// ValidateSamples of every input's data after CheckSampleLayouts. An outlier sample of one
// input is a sample of every input: the message says to remove it from each file.
Result<std::vector<SampleLayout>> ValidateSamples(const std::vector<TensorInfo>& inputs, const ModelSamples& data,
                                                  const std::string& what, bool check_outliers);

// How many of the eval samples are byte-for-byte one of the calibration samples. QuantizeModel
// refuses --eval data made only of calibration samples (the report could not see the damage)
// and says how many were shared otherwise.
int64_t SamplesAlsoIn(const NpyArray& eval, const NpyArray& calibration, int64_t per_sample);
// With several inputs an eval sample is a calibration sample when every input's part of it is
// that calibration sample's (layouts: the inputs' per_sample, as CheckSampleLayouts gives).
int64_t SamplesAlsoIn(const ModelSamples& eval, const ModelSamples& calibration, std::span<const SampleLayout> layouts);

// Without --eval: the last max(kMinHeldOut, count / 5) samples are held out, and at least
// kMinCalibrationSamples must remain for calibration, or the split is refused.
inline constexpr int64_t kMinHeldOut = 10;
inline constexpr int64_t kMinCalibrationSamples = 10;
struct HoldOutSplit {
  NpyArray calibration, held_out;
};
Result<HoldOutSplit> SplitHeldOut(const NpyArray& data, SampleLayout layout);
// The same split of every input's data (layouts as CheckSampleLayouts gives them, one count):
// the same samples are held out of each. Element i is input i's split.
Result<std::vector<HoldOutSplit>> SplitHeldOut(const ModelSamples& data, std::span<const SampleLayout> layouts);

// ------------------------------------------------------------------ calibration
// A tensor whose calibrated range is not zero but whose peak |value| is below this is refused:
// its int8 scale would be a denormal and its int32 bias scale would underflow to zero.
inline constexpr float kMinQuantizableMagnitude = 1e-30f;

// Per-tensor ranges observed on calibration data.
struct TensorRange {
  float lo = 0.0f, hi = 0.0f;
};

// Runs the fp32 model on every sample (the leading dimension of every input's data, laid out
// as CheckSampleLayouts takes it) and returns the range of every float tensor, by ONNX name.
// Integer tensors (an int64 input, its Gather indices) have none: they are no activations.
Result<std::vector<std::pair<std::string, TensorRange>>> CalibrateRanges(
    const std::string& model_path, const ModelSamples& calibration, const QuantizeOptions& options);
// The same for a model in memory (serialized ONNX).
Result<std::vector<std::pair<std::string, TensorRange>>> CalibrateRanges(
    std::span<const uint8_t> model_bytes, const ModelSamples& calibration, const QuantizeOptions& options);

// ------------------------------------------------------------------ quality
// int8 against fp32 on one output, over every held-out sample.
struct OutputQuality {
  std::string name;
  bool classification = false;  // shape [1, C] or [C] with C > 1: argmax is meaningful
  double top1_agreement = 0.0;  // share of samples whose argmax agrees (classification only)
  double cosine = 0.0;          // of all fp32 values against all int8 values, as one vector
  double snr_db = 0.0;          // 10 log10(sum fp32^2 / sum (int8 - fp32)^2); +inf when equal
  double max_abs_error = 0.0;
  double max_abs_fp32 = 0.0;    // to read max_abs_error against
};

struct QualityReport {
  int64_t samples = 0;
  std::string source;  // where the samples came from, e.g. "eval.npy" or "last 10 of 32 ..."
  std::vector<OutputQuality> outputs;
};

// Runs both models on every sample (sample s of every input, as CheckSampleLayouts takes the
// data) and compares each output. The models must have the same inputs and output shapes.
Result<QualityReport> MeasureQuality(const std::shared_ptr<const Model>& fp32_model,
                                     const std::shared_ptr<const Model>& int8_model, const ModelSamples& samples);
// Loads both files first.
Result<QualityReport> MeasureQuality(const std::string& fp32_path, const std::string& int8_path,
                                     const ModelSamples& samples);

// Empty when `quality` meets both bars; otherwise which bar was missed, by how much, on what.
// A top-1 bar without any classifier output is missed too (it cannot be checked).
std::string MissedQualityBar(const QualityReport& quality, std::optional<double> min_snr_db,
                             std::optional<double> min_top1_percent);

// ------------------------------------------------------------------ quantize
// A node the quantized model runs in int8.
struct Int8Node {
  std::string name, op_type;
};
// A node the quantized model runs in float, and why.
struct FloatNode {
  std::string name, op_type, reason;
};

struct QuantizeReport {
  int64_t samples = 0;             // calibration samples the ranges came from
  // QuantizeModel reports the nodes as the engine runs the written model: a node put between
  // QDQ pairs whose step still computes in float (a Concat with a constant input) is a float
  // node, its reason naming the step. RewriteToQdq's report is what it chose.
  std::vector<Int8Node> int8_nodes;
  std::vector<FloatNode> float_nodes;
  // int32 biases clamped to the int32 range (input scale x weight scale too small for the
  // bias): "'<name>' channel <c> (...)", one per channel. The quality bar usually catches them.
  std::vector<std::string> saturated_biases;
  QualityReport quality;           // on held-out samples
  // Non-empty when a --min-* bar was missed: the message, and no output was written.
  std::string below_bar;
};

// The options and output path as a caller gave them, before any file is read: a percentile in
// [50, 100], finite quality bars, a non-empty output path. kInvalidArgument names the flag
// (the CLI reports it as a usage error). QuantizeModel checks them too.
Status ValidateQuantizeOptions(const QuantizeOptions& options, const std::string& out_path);

// `calibration` (and options.eval) hold one array per model input, in the model's input order.
// Refuses (kFailedPrecondition, naming a quantization node) a model QuantizationOf finds
// quantized, unless options.requantize; refuses bad sample data (ValidateSamples), an output
// path that is empty, a directory, the input model or the calibration/eval file (by filesystem
// identity) or that exists without options.force, and a model in which no node can run in
// int8. The output is written atomically, only on success; without options.force a file that
// appears at out_path meanwhile is not replaced (refused).
Result<QuantizeReport> QuantizeModel(const std::string& in_path, const ModelSamples& calibration,
                                     const std::string& out_path, const QuantizeOptions& options);

}  // namespace edge::engine
