// Checks on the sample data the quantizer is given (quantizer.h): the layout must be the
// model input's, every value finite, the data not one value, and no sample far outside the
// rest. Each of these, unchecked, gave a model that was ruined while the quantizer said all
// was well (issue 16): NaN ranges become scale 1, a constant calibrates every range to a point,
// transposed or foreign data calibrates on the wrong features, and one sample x1e4 widens a
// range so far that every real value rounds to the same int8 step.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <unordered_set>

#include "agent/engine/quantizer/quantizer.h"

namespace edge::engine {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape, bool leading_n = false) {
  std::string s = leading_n ? "[N" : "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i || leading_n ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ONNX convention for image and signal models: the rank says which layout the model expects.
std::string LayoutName(const std::vector<int64_t>& shape) {
  switch (shape.size()) {
    case 3: return " (NCW)";
    case 4: return " (NCHW)";
    case 5: return " (NCDHW)";
    default: return "";
  }
}

double Median(std::vector<double> v) {
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  return (upper + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid))) / 2.0;
}

Status CheckFinite(const NpyArray& data, SampleLayout layout, const std::string& what) {
  const auto first = std::find_if(data.data.begin(), data.data.end(), [](float v) { return !std::isfinite(v); });
  if (first == data.data.end()) return Ok();
  const auto bad = std::count_if(first, data.data.end(), [](float v) { return !std::isfinite(v); });
  const auto index = first - data.data.begin();
  const std::string kind = std::isnan(*first) ? "NaN" : (*first > 0 ? "+Inf" : "-Inf");
  return Fail(ErrorCode::kInvalidArgument,
              what + " is not finite: sample " + std::to_string(index / layout.per_sample) + " element " +
                  std::to_string(index % layout.per_sample) + " is " + kind + " (" + std::to_string(bad) + " of " +
                  std::to_string(data.data.size()) + " values are NaN or Inf); remove or repair those samples");
}

Status CheckNotConstant(const NpyArray& data, const std::string& what) {
  const auto [lo, hi] = std::minmax_element(data.data.begin(), data.data.end());
  if (*lo != *hi) return Ok();
  char value[32];
  std::snprintf(value, sizeof value, "%g", double(*lo));
  return Fail(ErrorCode::kInvalidArgument,
              what + " is constant: all " + std::to_string(data.data.size()) + " values are " + value +
                  ", so every range would be a single point; use real input samples");
}

// The engine casts each float of an integer input to its type, dropping any fraction: data
// that is not whole numbers is not what the model would be given (a float feature file passed
// for the ids, most likely).
Status CheckWholeNumbers(const TensorInfo& input, const NpyArray& data, SampleLayout layout, const std::string& what) {
  const auto first = std::find_if(data.data.begin(), data.data.end(), [](float v) { return v != std::trunc(v); });
  if (first == data.data.end()) return Ok();
  const auto index = first - data.data.begin();
  char value[32];
  std::snprintf(value, sizeof value, "%g", double(*first));
  return Fail(ErrorCode::kInvalidArgument,
              what + " is not whole numbers: sample " + std::to_string(index / layout.per_sample) + " element " +
                  std::to_string(index % layout.per_sample) + " is " + value + ", but input '" + input.name +
                  "' is " + DTypeName(input.dtype) + " (the engine casts each float to it, dropping the fraction); "
                  "give its integer values, stored as float32");
}

// ValidateSamples; an outlier refusal says to remove the samples from `remove_from`.
Result<SampleLayout> Validate(const TensorInfo& input, const NpyArray& data, const std::string& what,
                              bool check_outliers, const std::string& remove_from) {
  EDGE_ASSIGN_OR_RETURN(SampleLayout layout, CheckSampleLayout(input, data, what));
  EDGE_TRY(CheckFinite(data, layout, what));
  if (IsIntegerType(input.dtype)) EDGE_TRY(CheckWholeNumbers(input, data, layout, what));
  if (input.dtype == DType::kI32 || input.dtype == DType::kI64) return layout;  // ids and counts (quantizer.h)
  EDGE_TRY(CheckNotConstant(data, what));
  if (!check_outliers) return layout;
  const auto outliers = FindOutlierSamples(data, layout);
  if (outliers.empty()) return layout;
  std::string list;
  for (size_t i = 0; i < outliers.size() && i < 5; ++i) list += (i ? ", " : "") + std::to_string(outliers[i]);
  if (outliers.size() > 5) list += ", ...";
  return Fail(ErrorCode::kInvalidArgument,
              what + " has " + std::to_string(outliers.size()) + " outlier sample(s) (" + list +
                  "): peak |value| over " + std::to_string(static_cast<int>(kOutlierPeakRatio)) +
                  "x the median sample's, which would stretch every range and round real inputs to a few "
                  "int8 steps: remove those samples from the " + remove_from + " (or pass --allow-outliers to "
                  "calibrate on them anyway; the quality bar still applies)");
}

// What messages call input i's data: `what` alone for a single-input model (its messages are
// those of before several inputs were taken), else "<what> for input 'NAME' (FILE)".
std::string InputWhat(const std::vector<TensorInfo>& inputs, const ModelSamples& data, size_t i,
                      const std::string& what) {
  if (inputs.size() == 1) return what;
  std::string text = what + " for input '" + inputs[i].name + "'";
  if (i < data.files.size() && !data.files[i].empty()) text += " (" + data.files[i] + ")";
  return text;
}

}  // namespace

Result<std::vector<SampleLayout>> CheckSampleLayouts(const std::vector<TensorInfo>& inputs, const ModelSamples& data,
                                                     const std::string& what) {
  if (data.inputs.size() != inputs.size()) {
    std::string names;
    for (const auto& in : inputs) names += (names.empty() ? "" : ", ") + ("'" + in.name + "' " + ShapeText(in.shape));
    return Fail(ErrorCode::kInvalidArgument,
                what + " given for " + std::to_string(data.inputs.size()) + " input(s), but the model has " +
                    std::to_string(inputs.size()) + (inputs.empty() ? "" : ": " + names) +
                    "; give one file per input, in that order (the flag once per input)");
  }
  std::vector<SampleLayout> layouts;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string named = InputWhat(inputs, data, i, what);
    EDGE_ASSIGN_OR_RETURN(SampleLayout layout, CheckSampleLayout(inputs[i], *data.inputs[i], named));
    if (i > 0 && layout.count != layouts[0].count) {
      return Fail(ErrorCode::kInvalidArgument,
                  named + " has " + std::to_string(layout.count) + " samples but " +
                      InputWhat(inputs, data, 0, what) + " has " + std::to_string(layouts[0].count) +
                      ": every input's data must hold the same samples, in the same order");
    }
    layouts.push_back(layout);
  }
  return layouts;
}

Result<SampleLayout> CheckSampleLayout(const TensorInfo& input, const NpyArray& data, const std::string& what) {
  const auto& in = input.shape;
  const auto& d = data.shape;
  // Accepted: [N, in[1:]...] when in[0] == 1, and [N, in...] always.
  const bool drop_batch = !in.empty() && in[0] == 1;
  const std::vector<int64_t> per_sample(in.begin() + (drop_batch ? 1 : 0), in.end());
  const bool short_form = d.size() == per_sample.size() + 1 && std::equal(per_sample.begin(), per_sample.end(), d.begin() + 1);
  const bool full_form = d.size() == in.size() + 1 && std::equal(in.begin(), in.end(), d.begin() + 1);
  if ((short_form || full_form) && d[0] < 1) {
    return Fail(ErrorCode::kInvalidArgument, what + " is " + ShapeText(d) + ": it holds no samples");
  }
  if (!short_form && !full_form) {
    return Fail(ErrorCode::kInvalidArgument,
                what + " is " + ShapeText(d) + "; model input '" + input.name + "' is " + ShapeText(in) +
                    LayoutName(in) + ": expected " + ShapeText(per_sample, true) +
                    (d.size() >= 2 && d.size() == in.size() && d[0] != 1 && std::is_permutation(d.begin() + 1, d.end(), in.begin() + 1)
                         ? " (the data looks transposed)"
                         : ""));
  }
  SampleLayout layout;
  layout.count = d[0];
  layout.per_sample = input.elements;
  if (static_cast<int64_t>(data.data.size()) != layout.count * layout.per_sample) {
    return Fail(ErrorCode::kDataLoss, what + " holds " + std::to_string(data.data.size()) + " values, not the " +
                                          std::to_string(layout.count * layout.per_sample) + " its shape " +
                                          ShapeText(d) + " says");
  }
  return layout;
}

std::vector<int64_t> FindOutlierSamples(const NpyArray& data, SampleLayout layout) {
  std::vector<int64_t> outliers;
  if (layout.count < kOutlierMinSamples) return outliers;
  std::vector<double> peaks(static_cast<size_t>(layout.count), 0.0);
  for (int64_t s = 0; s < layout.count; ++s) {
    const float* p = data.data.data() + s * layout.per_sample;
    for (int64_t i = 0; i < layout.per_sample; ++i) peaks[s] = std::max(peaks[s], double(std::abs(p[i])));
  }
  // Median and MAD: a few corrupted samples move neither, unlike the mean and deviation.
  const double median = Median(peaks);
  std::vector<double> deviations;
  for (double p : peaks) deviations.push_back(std::abs(p - median));
  const double sigma = 1.4826 * Median(deviations);
  for (int64_t s = 0; s < layout.count; ++s) {
    if (peaks[s] > kOutlierPeakRatio * median && peaks[s] - median > kOutlierMads * sigma) outliers.push_back(s);
  }
  return outliers;
}

Result<SampleLayout> ValidateSamples(const TensorInfo& input, const NpyArray& data, const std::string& what,
                                     bool check_outliers) {
  return Validate(input, data, what, check_outliers, what);
}

Result<std::vector<SampleLayout>> ValidateSamples(const std::vector<TensorInfo>& inputs, const ModelSamples& data,
                                                  const std::string& what, bool check_outliers) {
  EDGE_ASSIGN_OR_RETURN(auto layouts, CheckSampleLayouts(inputs, data, what));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string named = InputWhat(inputs, data, i, what);
    const std::string remove_from =
        inputs.size() == 1 ? named : named + " and the same samples from every other input's data";
    EDGE_TRY(Validate(inputs[i], *data.inputs[i], named, check_outliers, remove_from));
  }
  return layouts;
}

int64_t SamplesAlsoIn(const NpyArray& eval, const NpyArray& calibration, int64_t per_sample) {
  const SampleLayout layout{0, per_sample};
  return SamplesAlsoIn(ModelSamples(eval), ModelSamples(calibration), {&layout, 1});
}

int64_t SamplesAlsoIn(const ModelSamples& eval, const ModelSamples& calibration,
                      std::span<const SampleLayout> layouts) {
  // Samples compared as bytes (NaN-free data, so equal bytes is equal values and vice versa
  // up to -0.0, which is fine for "the same sample"): one key per sample, the bytes of its part
  // of every input one after the other.
  const auto keys = [layouts](const ModelSamples& d) {
    std::vector<std::string> out;
    for (size_t i = 0; i < d.inputs.size() && i < layouts.size(); ++i) {
      const auto bytes = static_cast<size_t>(layouts[i].per_sample) * sizeof(float);
      const auto* p = reinterpret_cast<const char*>(d.inputs[i]->data.data());
      const size_t count = bytes == 0 ? 0 : d.inputs[i]->data.size() * sizeof(float) / bytes;
      if (i == 0) out.resize(count);
      for (size_t s = 0; s < count && s < out.size(); ++s) out[s].append(p + s * bytes, bytes);
    }
    return out;
  };
  const auto calibration_keys = keys(calibration);
  const std::unordered_set<std::string_view> seen(calibration_keys.begin(), calibration_keys.end());
  int64_t shared = 0;
  for (const auto& key : keys(eval)) shared += seen.count(key) != 0 ? 1 : 0;
  return shared;
}

Result<HoldOutSplit> SplitHeldOut(const NpyArray& data, SampleLayout layout) {
  const int64_t held = std::max(kMinHeldOut, layout.count / 5);
  if (layout.count - held < kMinCalibrationSamples) {
    return Fail(ErrorCode::kInvalidArgument,
                "calibration data has " + std::to_string(layout.count) +
                    " samples; without --eval the last max(10, 20%) are held out to measure quality and at "
                    "least 10 must remain for calibration: give --eval FILE or at least 20 samples");
  }
  HoldOutSplit split;
  const auto cut = data.data.begin() + (layout.count - held) * layout.per_sample;
  split.calibration.data.assign(data.data.begin(), cut);
  split.held_out.data.assign(cut, data.data.end());
  split.calibration.shape = split.held_out.shape = data.shape;
  split.calibration.shape[0] = layout.count - held;
  split.held_out.shape[0] = held;
  return split;
}

Result<std::vector<HoldOutSplit>> SplitHeldOut(const ModelSamples& data, std::span<const SampleLayout> layouts) {
  if (data.inputs.size() != layouts.size()) {
    return Fail(ErrorCode::kInvalidArgument, "SplitHeldOut: " + std::to_string(data.inputs.size()) + " arrays, " +
                                                 std::to_string(layouts.size()) + " layouts");
  }
  std::vector<HoldOutSplit> splits;
  for (size_t i = 0; i < layouts.size(); ++i) {
    // The split is by count alone, so equal counts hold out the same samples of every input.
    if (layouts[i].count != layouts[0].count) {
      return Fail(ErrorCode::kInvalidArgument, "input " + std::to_string(i) + "'s data has " +
                                                   std::to_string(layouts[i].count) + " samples, input 0's " +
                                                   std::to_string(layouts[0].count) +
                                                   ": the same samples cannot be held out of both");
    }
    EDGE_ASSIGN_OR_RETURN(HoldOutSplit split, SplitHeldOut(*data.inputs[i], layouts[i]));
    splits.push_back(std::move(split));
  }
  return splits;
}

}  // namespace edge::engine
