// The quantizer's quality report (quantizer.h): int8 against fp32 on held-out samples, per
// output. SNR and cosine see every element; top-1 agreement is what a classifier's user sees.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "agent/engine/quantizer/quantizer.h"

namespace edge::engine {
namespace {

bool LooksLikeClassScores(const TensorInfo& out) {
  const auto& s = out.shape;
  return (s.size() == 2 && s[0] == 1 && s[1] > 1) || (s.size() == 1 && s[0] > 1);
}

// Sums over all samples of one output, turned into the report's figures at the end.
struct OutputSums {
  double fp32_sq = 0, int8_sq = 0, dot = 0, error_sq = 0;
  int64_t agree = 0;
};

std::string Fixed(double v, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

}  // namespace

Result<QualityReport> MeasureQuality(const std::shared_ptr<const Model>& fp32_model,
                                     const std::shared_ptr<const Model>& int8_model, const ModelSamples& samples) {
  const Model& fp32 = *fp32_model;
  const Model& int8 = *int8_model;
  EDGE_ASSIGN_OR_RETURN(const auto layouts, CheckSampleLayouts(fp32.inputs(), samples, "eval data"));
  const int64_t count = layouts.empty() ? 0 : layouts[0].count;
  const auto same_input = [](const TensorInfo& x, const TensorInfo& y) { return x.shape == y.shape; };
  if (!std::equal(int8.inputs().begin(), int8.inputs().end(), fp32.inputs().begin(), fp32.inputs().end(), same_input) ||
      int8.outputs().size() != fp32.outputs().size()) {
    return Fail(ErrorCode::kInvalidArgument, "the fp32 and int8 models have different inputs or outputs");
  }
  for (size_t o = 0; o < fp32.outputs().size(); ++o) {
    if (int8.outputs()[o].shape != fp32.outputs()[o].shape) {
      return Fail(ErrorCode::kInvalidArgument, "output '" + fp32.outputs()[o].name + "' differs in shape between the fp32 and int8 models");
    }
  }
  ExecutionContext a(fp32_model), b(int8_model);
  std::vector<std::vector<float>> oa, ob;
  std::vector<float*> pa, pb;
  for (const auto& o : fp32.outputs()) {
    oa.emplace_back(static_cast<size_t>(o.elements));
    ob.emplace_back(static_cast<size_t>(o.elements));
  }
  for (size_t o = 0; o < oa.size(); ++o) {
    pa.push_back(oa[o].data());
    pb.push_back(ob[o].data());
  }
  QualityReport report;
  report.samples = count;
  report.outputs.resize(oa.size());
  std::vector<OutputSums> sums(oa.size());
  std::vector<const float*> in(layouts.size());
  for (int64_t s = 0; s < count; ++s) {
    // Both models get sample s of every input.
    for (size_t i = 0; i < layouts.size(); ++i) in[i] = samples.inputs[i]->data.data() + s * layouts[i].per_sample;
    EDGE_TRY(a.Run(in, pa));
    EDGE_TRY(b.Run(in, pb));
    for (size_t o = 0; o < oa.size(); ++o) {
      auto& q = report.outputs[o];
      auto& sum = sums[o];
      for (size_t i = 0; i < oa[o].size(); ++i) {
        const double x = oa[o][i], y = ob[o][i];
        sum.fp32_sq += x * x;
        sum.int8_sq += y * y;
        sum.dot += x * y;
        sum.error_sq += (y - x) * (y - x);
        q.max_abs_error = std::max(q.max_abs_error, std::abs(y - x));
        q.max_abs_fp32 = std::max(q.max_abs_fp32, std::abs(x));
      }
      const auto argmax_a = std::max_element(oa[o].begin(), oa[o].end()) - oa[o].begin();
      const auto argmax_b = std::max_element(ob[o].begin(), ob[o].end()) - ob[o].begin();
      sum.agree += argmax_a == argmax_b ? 1 : 0;
    }
  }
  for (size_t o = 0; o < oa.size(); ++o) {
    auto& q = report.outputs[o];
    const auto& sum = sums[o];
    q.name = fp32.outputs()[o].name;
    q.classification = LooksLikeClassScores(fp32.outputs()[o]);
    q.top1_agreement = q.classification && count > 0 ? double(sum.agree) / double(count) : 0.0;
    const double norms = std::sqrt(sum.fp32_sq) * std::sqrt(sum.int8_sq);
    q.cosine = norms > 0 ? sum.dot / norms : (sum.fp32_sq == sum.int8_sq ? 1.0 : 0.0);
    q.snr_db = sum.error_sq == 0 ? INFINITY : 10.0 * std::log10(sum.fp32_sq / sum.error_sq);
  }
  return report;
}

Result<QualityReport> MeasureQuality(const std::string& fp32_path, const std::string& int8_path,
                                     const ModelSamples& samples) {
  EDGE_ASSIGN_OR_RETURN(auto fp32, Model::LoadFile(fp32_path));
  EDGE_ASSIGN_OR_RETURN(auto int8, Model::LoadFile(int8_path));
  return MeasureQuality(fp32, int8, samples);
}

std::string MissedQualityBar(const QualityReport& quality, std::optional<double> min_snr_db,
                             std::optional<double> min_top1_percent) {
  std::string missed;
  auto add = [&missed](const std::string& text) { missed += (missed.empty() ? "" : "; ") + text; };
  for (const auto& o : quality.outputs) {
    if (min_snr_db && !(o.snr_db >= *min_snr_db)) {
      add("output '" + o.name + "' SNR " + Fixed(o.snr_db, 1) + " dB < --min-snr " + Fixed(*min_snr_db, 1));
    }
    if (min_top1_percent && o.classification && !(100.0 * o.top1_agreement >= *min_top1_percent)) {
      add("output '" + o.name + "' top-1 agreement " + Fixed(100.0 * o.top1_agreement, 2) + "% < --min-top1 " +
          Fixed(*min_top1_percent, 2) + "%");
    }
  }
  const bool any_classifier =
      std::any_of(quality.outputs.begin(), quality.outputs.end(), [](const OutputQuality& o) { return o.classification; });
  if (min_top1_percent && !any_classifier) {
    add("--min-top1 cannot be checked: no output looks like class scores ([1, C] or [C])");
  }
  return missed;
}

}  // namespace edge::engine
