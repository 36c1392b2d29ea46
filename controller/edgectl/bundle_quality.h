// `edgectl bundle build --eval-data FILE --reference-model FP32.onnx`: the quantizer's quality
// check (agent/engine/quantizer) run on the model going into a bundle, so the figures travel in
// the signed manifest (bundle::QualityRecord) with the model they describe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/bundle/bundle.h"
#include "common/core/result.h"

namespace edge::edgectl {

struct BundleQualityCheck {
  std::filesystem::path reference_model;  // the fp32 model the bundle's model was made from
  std::filesystem::path eval_data;        // .npy held-out inputs, the quantizer's layout rules
  std::optional<double> min_snr_db;
  std::optional<double> min_top1_percent;
};

struct MeasuredQuality {
  bundle::QualityRecord record;
  std::string below_bar;  // non-empty: which bar was missed (the bundle must not be built)
};

// Runs `model` and the reference on every eval sample and compares their outputs. Errors name
// the file: a model or reference that does not load, eval data that does not fit the input,
// is not finite or is constant, models whose inputs or outputs differ.
Result<MeasuredQuality> MeasureBundleQuality(const std::filesystem::path& model, const BundleQualityCheck& check);

// One line per output, e.g. "logits: top-1 100.00%, cosine 0.999864, SNR 35.6 dB, max abs error 0.47".
std::string DescribeQuality(const bundle::QualityRecord& record);

}  // namespace edge::edgectl
