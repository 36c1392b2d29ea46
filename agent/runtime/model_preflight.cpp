#include "agent/runtime/model_preflight.h"

#include <algorithm>
#include <string>

#include "agent/runtime/health_gate.h"
#include "agent/runtime/selftest_file.h"

namespace edge::runtime {
namespace {

std::vector<engine::KernelTier> TiersToCheck() {
  std::vector<engine::KernelTier> tiers;  // kScalar first: kAllTiers' order
  for (auto tier : engine::kAllTiers) {
    if (engine::TierSupported(tier)) tiers.push_back(tier);
  }
  return tiers;
}

Status RunOnZeros(engine::ExecutionContext& context) {
  std::vector<std::vector<float>> inputs, outputs;
  for (const auto& in : context.model().inputs())
    inputs.emplace_back(static_cast<size_t>(in.elements), 0.0f);
  for (const auto& out : context.model().outputs())
    outputs.emplace_back(static_cast<size_t>(out.elements));
  std::vector<const float*> in_ptrs;
  for (const auto& in : inputs) in_ptrs.push_back(in.data());
  std::vector<float*> out_ptrs;
  for (auto& out : outputs) out_ptrs.push_back(out.data());
  return context.Run(in_ptrs, out_ptrs);
}

}  // namespace

Result<PreflightReport> PreflightModel(const std::filesystem::path& model_file,
                                       const std::optional<std::filesystem::path>& selftest_file,
                                       double tolerance) {
  EDGE_TRY(CheckSelfTestTolerance(tolerance));
  PreflightReport report;
  EDGE_ASSIGN_OR_RETURN(report.model, LoadModelStep(model_file));
  std::optional<SelfTest> selftest;
  if (selftest_file) {
    auto parsed = ReadSelfTestFile(*selftest_file, *report.model);  // errors name the file
    if (!parsed)
      return Fail(parsed.error().Wrap("not a self-test for model " + model_file.string()));
    selftest = std::move(*parsed);
  }
  for (auto tier : TiersToCheck()) {
    engine::ExecutionContext context(report.model, tier);
    const std::string at = " at the " + std::string(engine::KernelTierName(tier)) + " kernel tier";
    if (!selftest) {
      if (auto st = RunOnZeros(context); !st)
        return Fail(st.error().Wrap("model " + model_file.string() + " does not run" + at));
    } else {
      auto result = RunSelfTest(context, *selftest, tolerance);
      if (!result) {
        return Fail(result.error().Wrap("self-test " + selftest_file->string() +
                                        " fails on model " + model_file.string() + at));
      }
      report.cases_run = result->cases_run;
      report.max_abs_error = std::max(report.max_abs_error, result->max_abs_error);
    }
    report.tiers.push_back(tier);
  }
  return report;
}

}  // namespace edge::runtime
