#include "agent/runtime/health_gate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

namespace edge::runtime {
namespace {

std::string FloatText(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string MicrosText(double us) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, us, std::chars_format::fixed, 2);
  return std::string(buf, r.ptr) + " us";
}

Error StepError(std::string_view step, const Error& cause) {
  return cause.Wrap("health gate step '" + std::string(step) + "'");
}

tl::unexpected<Error> StepFail(std::string_view step, ErrorCode code, std::string message) {
  return Fail(StepError(step, Error{code, std::move(message)}));
}

struct LatencyResult {
  double p50_us = 0.0;
  double p99_us = 0.0;
};

Result<LatencyResult> MeasureLatency(engine::ExecutionContext& context,
                                     const std::vector<std::vector<float>>& inputs,
                                     const GateOptions& options) {
  std::vector<const float*> in_ptrs;
  for (const auto& in : inputs) in_ptrs.push_back(in.data());
  std::vector<std::vector<float>> outputs;
  for (const auto& o : context.model().outputs())
    outputs.emplace_back(static_cast<size_t>(o.elements));
  std::vector<float*> out_ptrs;
  for (auto& o : outputs) out_ptrs.push_back(o.data());

  for (int i = 0; i < options.warmup_runs; ++i) EDGE_TRY(context.Run(in_ptrs, out_ptrs));
  std::vector<int64_t> run_ns;
  run_ns.reserve(static_cast<size_t>(options.latency_runs));
  for (int i = 0; i < options.latency_runs; ++i) {
    engine::RunTiming timing;
    const int64_t start = options.clock ? options.clock->NowNs() : 0;
    EDGE_TRY(context.Run(in_ptrs, out_ptrs, &timing));
    run_ns.push_back(options.clock ? options.clock->NowNs() - start : timing.total_ns);
  }
  return LatencyResult{double(PercentileNs(run_ns, 50)) / 1000.0,
                       double(PercentileNs(run_ns, 99)) / 1000.0};
}

// ParseSelfTest guarantees this for a parsed file; a SelfTest built in code gets the same
// guarantee here, because the engine reads exactly elements() floats behind each pointer.
Status CheckCaseShape(const SelfTestCase& tc, const engine::Model& model, size_t index) {
  auto matches = [](const std::vector<std::vector<float>>& values,
                    const std::vector<engine::TensorInfo>& tensors) {
    if (values.size() != tensors.size()) return false;
    for (size_t t = 0; t < tensors.size(); ++t) {
      if (static_cast<int64_t>(values[t].size()) != tensors[t].elements) return false;
    }
    return true;
  };
  if (!matches(tc.inputs, model.inputs()) || !matches(tc.outputs, model.outputs())) {
    return Fail(ErrorCode::kInvalidArgument, "self-test case " + std::to_string(index) +
                                                 " does not match the model's inputs and outputs");
  }
  return Ok();
}

}  // namespace

int64_t PercentileNs(std::vector<int64_t> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  auto rank = static_cast<size_t>(std::ceil(p * double(samples.size()) / 100.0));
  rank = std::clamp<size_t>(rank, 1, samples.size());
  return samples[rank - 1];
}

Result<SelfTestResult> RunSelfTest(engine::ExecutionContext& context, const SelfTest& selftest,
                                   double tolerance) {
  const auto& out_info = context.model().outputs();
  std::vector<std::vector<float>> got;
  for (const auto& o : out_info) got.emplace_back(static_cast<size_t>(o.elements));
  std::vector<float*> out_ptrs;
  for (auto& g : got) out_ptrs.push_back(g.data());

  SelfTestResult result;
  for (size_t c = 0; c < selftest.cases.size(); ++c) {
    const SelfTestCase& tc = selftest.cases[c];
    EDGE_TRY(CheckCaseShape(tc, context.model(), c));
    std::vector<const float*> in_ptrs;
    for (const auto& in : tc.inputs) in_ptrs.push_back(in.data());
    if (auto st = context.Run(in_ptrs, out_ptrs); !st) {
      return Fail(st.error().Wrap("self-test case " + std::to_string(c) + " does not run"));
    }
    for (size_t o = 0; o < out_info.size(); ++o) {
      for (size_t i = 0; i < got[o].size(); ++i) {
        const double g = got[o][i];
        const double w = tc.outputs[o][i];
        const double diff = std::fabs(g - w);
        // Written so that a NaN result fails: every comparison with NaN is false.
        if (!(diff <= tolerance)) {
          return Fail(ErrorCode::kFailedPrecondition,
                      "self-test case " + std::to_string(c) + ", output '" + out_info[o].name +
                          "' element " + std::to_string(i) + ": got " + FloatText(g) + ", want " +
                          FloatText(w) + " (|diff| " + FloatText(diff) + " > tolerance " +
                          FloatText(tolerance) + ")");
        }
        result.max_abs_error = std::max(result.max_abs_error, diff);
      }
    }
    ++result.cases_run;
  }
  return result;
}

Status CheckSelfTestTolerance(double tolerance) {
  if (!std::isfinite(tolerance) || tolerance < 0) {
    return Fail(ErrorCode::kInvalidArgument, "manifest health.selftest_tolerance " + FloatText(tolerance) +
                                                 " must be a finite number >= 0");
  }
  return Ok();
}

Result<std::shared_ptr<const engine::Model>> LoadModelStep(const std::filesystem::path& model_file) {
  auto model = engine::Model::LoadFile(model_file.string());
  // The engine's message names the file.
  if (!model) return Fail(model.error().Wrap("model does not load"));
  return model;
}

Result<GateReport> RunHealthGate(const std::filesystem::path& version_dir,
                                 const bundle::Manifest& manifest, const GateOptions& options) {
  const bundle::HealthSpec& health = manifest.health;
  if (auto st = CheckSelfTestTolerance(health.selftest_tolerance); !st) return Fail(StepError("selftest", st.error()));
  if (options.latency_runs < 1 || options.warmup_runs < 0) {
    return StepFail("latency", ErrorCode::kInvalidArgument,
                    "GateOptions needs latency_runs >= 1 and warmup_runs >= 0");
  }

  // (a) load
  GateReport report;
  auto model = LoadModelStep(version_dir / "model");
  if (!model) return Fail(StepError("load", model.error()));
  report.model = *model;
  engine::ExecutionContext context(report.model, options.tier);

  // (b) self-test
  SelfTest selftest;
  if (bundle::FindBlob(manifest, "selftest") != nullptr) {
    auto parsed = ReadSelfTestFile(version_dir / "selftest", *report.model);
    if (!parsed)
      return Fail(StepError("selftest", parsed.error().Wrap("self-test file is not usable")));
    selftest = std::move(*parsed);
    auto result = RunSelfTest(context, selftest, health.selftest_tolerance);
    if (!result) return Fail(StepError("selftest", result.error()));
    report.cases_run = result->cases_run;
    report.max_abs_error = result->max_abs_error;
  }

  // (c) latency
  if (health.latency_budget_us > 0) {
    std::vector<std::vector<float>> inputs;
    if (!selftest.cases.empty()) {
      inputs = selftest.cases.front().inputs;
    } else {
      for (const auto& in : report.model->inputs())
        inputs.emplace_back(static_cast<size_t>(in.elements), 0.0f);
    }
    auto latency = MeasureLatency(context, inputs, options);
    if (!latency) return Fail(StepError("latency", latency.error().Wrap("timed run failed")));
    report.latency_runs = options.latency_runs;
    report.p50_us = latency->p50_us;
    report.p99_us = latency->p99_us;
    if (report.p99_us > double(health.latency_budget_us)) {
      return StepFail("latency", ErrorCode::kFailedPrecondition,
                      "p99 " + MicrosText(report.p99_us) + " is over the budget of " +
                          std::to_string(health.latency_budget_us) + " us (p50 " +
                          MicrosText(report.p50_us) + ", " + std::to_string(options.latency_runs) +
                          " runs)");
    }
  }
  return report;
}

}  // namespace edge::runtime
