// Range collection for the quantizer: min-max, or a percentile of a histogram per tensor.
#include <algorithm>
#include <cmath>
#include <map>

#include "agent/engine/engine.h"
#include "agent/engine/quantizer/quantizer.h"

namespace edge::engine {
namespace {

constexpr int kBins = 2048;

Result<std::vector<std::pair<std::string, TensorRange>>> RangesOf(const std::shared_ptr<const Model>& model,
                                                                  const ModelSamples& calibration,
                                                                  const QuantizeOptions& options) {
  EDGE_ASSIGN_OR_RETURN(const auto layouts, CheckSampleLayouts(model->inputs(), calibration, "calibration data"));
  const int64_t count = layouts.empty() ? 0 : layouts[0].count;
  ExecutionContext ctx(model, KernelTier::kAuto);
  const auto names = model->KeptTensorNames();
  std::map<std::string, TensorRange, std::less<>> ranges;
  std::map<std::string, std::vector<int64_t>, std::less<>> hist;
  std::vector<std::vector<float>> outputs;
  for (const auto& o : model->outputs()) outputs.emplace_back(static_cast<size_t>(o.elements));
  std::vector<float*> out_ptrs;
  for (auto& o : outputs) out_ptrs.push_back(o.data());
  // Sample s of every input: the engine takes floats for integer inputs too (engine.h).
  std::vector<const float*> in(layouts.size());
  auto run = [&](int64_t s) -> Status {
    for (size_t i = 0; i < layouts.size(); ++i) in[i] = calibration.inputs[i]->data.data() + s * layouts[i].per_sample;
    return ctx.Run(in, out_ptrs);
  };
  for (int64_t s = 0; s < count; ++s) {
    EDGE_TRY(run(s));
    for (const auto& name : names) {
      const auto values = ctx.FindFloatTensor(name);
      auto [it, fresh] = ranges.try_emplace(name, TensorRange{INFINITY, -INFINITY});
      for (float v : values) {
        if (!std::isfinite(v)) continue;
        it->second.lo = std::min(it->second.lo, v);
        it->second.hi = std::max(it->second.hi, v);
      }
    }
  }
  if (options.method == CalibrationMethod::kPercentile) {
    // Second pass: a histogram over each tensor's min-max range, then trim both tails.
    for (int64_t s = 0; s < count; ++s) {
      EDGE_TRY(run(s));
      for (const auto& [name, r] : ranges) {
        auto& h = hist[name];
        if (h.empty()) h.assign(kBins, 0);
        const float width = r.hi - r.lo;
        if (!(width > 0.0f)) continue;
        for (float v : ctx.FindFloatTensor(name)) {
          if (!std::isfinite(v)) continue;
          const int bin = std::clamp(static_cast<int>((v - r.lo) / width * kBins), 0, kBins - 1);
          ++h[bin];
        }
      }
    }
    const double keep = std::clamp(options.percentile, 50.0, 100.0) / 100.0;
    for (auto& [name, r] : ranges) {
      const auto& h = hist[name];
      int64_t total = 0;
      for (int64_t c : h) total += c;
      if (total == 0) continue;
      const double tail = (1.0 - keep) * static_cast<double>(total);
      int lo_bin = 0, hi_bin = kBins - 1;
      double acc = 0;
      while (lo_bin < kBins - 1 && acc + static_cast<double>(h[lo_bin]) <= tail) acc += static_cast<double>(h[lo_bin++]);
      acc = 0;
      while (hi_bin > 0 && acc + static_cast<double>(h[hi_bin]) <= tail) acc += static_cast<double>(h[hi_bin--]);
      const float width = (r.hi - r.lo) / kBins;
      const float lo = r.lo + width * static_cast<float>(lo_bin);
      const float hi = r.lo + width * static_cast<float>(hi_bin + 1);
      if (lo < hi) r = TensorRange{lo, hi};
    }
  }
  std::vector<std::pair<std::string, TensorRange>> result;
  for (auto& [name, r] : ranges) {
    if (!std::isfinite(r.lo) || !std::isfinite(r.hi)) r = TensorRange{0.0f, 0.0f};
    result.emplace_back(name, r);
  }
  return result;
}

LoadOptions KeepAllTensors() {
  LoadOptions load;
  load.keep_all_tensors = true;
  return load;
}

}  // namespace

Result<std::vector<std::pair<std::string, TensorRange>>> CalibrateRanges(
    const std::string& model_path, const ModelSamples& calibration, const QuantizeOptions& options) {
  EDGE_ASSIGN_OR_RETURN(auto model, Model::LoadFile(model_path, KeepAllTensors()));
  return RangesOf(model, calibration, options);
}

Result<std::vector<std::pair<std::string, TensorRange>>> CalibrateRanges(
    std::span<const uint8_t> model_bytes, const ModelSamples& calibration, const QuantizeOptions& options) {
  EDGE_ASSIGN_OR_RETURN(auto model, Model::LoadMemory(model_bytes, KeepAllTensors()));
  return RangesOf(model, calibration, options);
}

}  // namespace edge::engine
