#include "controller/edgectl/bundle_quality.h"

#include <cmath>
#include <cstdio>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"
#include "agent/engine/quantizer/quantizer.h"
#include "common/crypto/sha256.h"

namespace edge::edgectl {

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

Result<MeasuredQuality> MeasureBundleQuality(const std::filesystem::path& model, const BundleQualityCheck& check) {
  const std::string ref_name = check.reference_model.string();
  for (const auto& [bar, what] : {std::pair{check.min_snr_db, "--min-snr"}, std::pair{check.min_top1_percent, "--min-top1"}}) {
    if (bar && !std::isfinite(*bar)) {
      return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be a finite number");
    }
  }
  // The figures say how far the bundle's model is from its fp32 original: the model itself, or
  // any quantized model, as the "reference" would record a perfect score that means nothing.
  std::error_code ec;
  if (std::filesystem::equivalent(check.reference_model, model, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                "--reference-model " + ref_name + " is the bundle's --model itself (" + model.string() +
                    "): give the fp32 model it was quantized from");
  }
  EDGE_ASSIGN_OR_RETURN(auto ref_quantization, engine::QuantizationOf(ref_name));
  if (ref_quantization) {
    return Fail(ErrorCode::kInvalidArgument,
                "--reference-model " + ref_name + " is already quantized (" + std::to_string(ref_quantization->nodes) +
                    " quantization node(s), the first " + ref_quantization->first_node +
                    "): the reference must be the fp32 model the bundle's model was quantized from");
  }
  EDGE_ASSIGN_OR_RETURN(auto reference, engine::Model::LoadFile(ref_name));
  EDGE_ASSIGN_OR_RETURN(auto candidate, engine::Model::LoadFile(model.string()));
  EDGE_ASSIGN_OR_RETURN(auto samples, engine::ReadNpy(check.eval_data.string()));
  if (reference->inputs().size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, ref_name + ": quality is measured for single-input models only");
  }
  const auto& ref_input = reference->inputs()[0];
  if (candidate->inputs().size() != 1 || candidate->inputs()[0].shape != ref_input.shape) {
    return Fail(ErrorCode::kInvalidArgument,
                "--reference-model " + ref_name + "'s input '" + ref_input.name + "' is " + ShapeText(ref_input.shape) +
                    " but --model " + model.string() + " has " +
                    (candidate->inputs().size() == 1 ? "input '" + candidate->inputs()[0].name + "' " +
                                                           ShapeText(candidate->inputs()[0].shape)
                                                     : std::to_string(candidate->inputs().size()) + " inputs") +
                    ": not the model it was quantized from");
  }
  auto valid = engine::ValidateSamples(ref_input, samples, "eval data " + check.eval_data.string(), false);
  if (!valid) return Fail(valid.error().Wrap("against --reference-model " + ref_name + "'s input"));
  auto quality = engine::MeasureQuality(reference, candidate, samples);
  if (!quality) return Fail(quality.error().Wrap("comparing " + model.string() + " with " + check.reference_model.string()));
  MeasuredQuality measured;
  EDGE_ASSIGN_OR_RETURN(measured.record.reference_digest, crypto::Sha256FileHex(check.reference_model));
  EDGE_ASSIGN_OR_RETURN(measured.record.eval_digest, crypto::Sha256FileHex(check.eval_data));
  measured.record.samples = static_cast<uint64_t>(quality->samples);
  for (const auto& o : quality->outputs) {
    bundle::OutputQualityFigures f;
    f.output = o.name;
    if (o.classification) f.top1_agreement = o.top1_agreement;
    f.cosine = o.cosine;
    if (std::isfinite(o.snr_db)) f.snr_db = o.snr_db;
    f.max_abs_error = o.max_abs_error;
    measured.record.outputs.push_back(std::move(f));
  }
  measured.below_bar = engine::MissedQualityBar(*quality, check.min_snr_db, check.min_top1_percent);
  return measured;
}

std::string DescribeQuality(const bundle::QualityRecord& record) {
  std::string text;
  char line[256];
  for (const auto& o : record.outputs) {
    std::string top1, snr = "exact";
    if (o.top1_agreement) {
      std::snprintf(line, sizeof line, "top-1 %.2f%%, ", 100.0 * *o.top1_agreement);
      top1 = line;
    }
    if (o.snr_db) {
      std::snprintf(line, sizeof line, "%.1f dB", *o.snr_db);
      snr = line;
    }
    std::snprintf(line, sizeof line, "%s: %scosine %.6f, SNR %s, max abs error %.4g (%llu samples)\n",
                  o.output.c_str(), top1.c_str(), o.cosine, snr.c_str(), o.max_abs_error,
                  static_cast<unsigned long long>(record.samples));
    text += line;
  }
  return text;
}

}  // namespace edge::edgectl
