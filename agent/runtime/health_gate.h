// The activation health gate (DESIGN §7): before an installed version may serve, it must load,
// reproduce its self-test within the manifest's tolerance, and meet its p99 latency budget.
//
// Contract: RunHealthGate reads only version_dir/model and version_dir/selftest, never the
// clock unless no LatencyClock is injected, and returns either a report carrying the loaded
// model (serve it without loading again) or one Error that names the failed step and its cause.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "agent/engine/engine.h"
#include "agent/runtime/selftest_file.h"
#include "common/bundle/bundle.h"
#include "common/core/result.h"

namespace edge::runtime {

// Monotonic nanoseconds, injected so latency checks are deterministic in tests.
class LatencyClock {
 public:
  virtual ~LatencyClock() = default;
  virtual int64_t NowNs() = 0;
};

struct GateOptions {
  // Timed runs for the p99 (step c); at least 1.
  int latency_runs = 50;
  // Untimed runs first, so one cold cache does not decide the p99.
  int warmup_runs = 2;
  // Null: each run's time is the engine's own RunTiming::total_ns.
  LatencyClock* clock = nullptr;
  // The tier the model will serve at; the self-test runs there.
  engine::KernelTier tier = engine::KernelTier::kAuto;
};

struct GateReport {
  std::shared_ptr<const engine::Model> model;
  int cases_run = 0;
  double max_abs_error = 0.0;  // over every compared output element
  int latency_runs = 0;        // 0 when the manifest has no latency budget
  double p50_us = 0.0;
  double p99_us = 0.0;
};

struct SelfTestResult {
  int cases_run = 0;
  double max_abs_error = 0.0;
};

// Step (b) on its own: runs every case on `context` and requires |got - want| <= tolerance for
// every output element (0 = exact). A mismatch names the case, output, element, got and want.
Result<SelfTestResult> RunSelfTest(engine::ExecutionContext& context, const SelfTest& selftest,
                                   double tolerance);

// Nearest-rank percentile (0 < p <= 100) of `samples`; 0 for none.
int64_t PercentileNs(std::vector<int64_t> samples, double p);

// The gate's steps one by one, shared with the checks `edgectl bundle build` and `bundle verify`
// run before a bundle leaves the build host (model_preflight.h): one implementation, so a bundle
// devices would refuse is refused there too.
//
// A manifest's health.selftest_tolerance must be finite and >= 0.
Status CheckSelfTestTolerance(double tolerance);
// Step (a): the engine reads, lowers and compiles `model_file` (the same LoadFile and default
// LoadOptions as serving). The error names the file and the loader's problem.
Result<std::shared_ptr<const engine::Model>> LoadModelStep(const std::filesystem::path& model_file);
// Step (b) is ReadSelfTestFile (selftest_file.h), then RunSelfTest above.

// (a) load version_dir/model; (b) when the manifest has a "selftest" blob, check
// version_dir/selftest; (c) when health.latency_budget_us > 0, time runs of the first self-test
// case's inputs (zeros without a self-test) and require p99 <= budget.
Result<GateReport> RunHealthGate(const std::filesystem::path& version_dir,
                                 const bundle::Manifest& manifest, const GateOptions& options);

}  // namespace edge::runtime
