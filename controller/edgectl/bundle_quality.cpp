#include "controller/edgectl/bundle_quality.h"

#include <cmath>
#include <cstdio>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"
#include "agent/engine/quantizer/quantizer.h"
#include "common/crypto/sha256.h"

namespace edge::edgectl {

Result<MeasuredQuality> MeasureBundleQuality(const std::filesystem::path& model, const BundleQualityCheck& check) {
  EDGE_ASSIGN_OR_RETURN(auto reference, engine::Model::LoadFile(check.reference_model.string()));
  EDGE_ASSIGN_OR_RETURN(auto candidate, engine::Model::LoadFile(model.string()));
  EDGE_ASSIGN_OR_RETURN(auto samples, engine::ReadNpy(check.eval_data.string()));
  if (reference->inputs().size() != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                check.reference_model.string() + ": quality is measured for single-input models only");
  }
  EDGE_TRY(engine::ValidateSamples(reference->inputs()[0], samples, "eval data " + check.eval_data.string(), false));
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
