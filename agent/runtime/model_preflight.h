// The health gate's load and self-test steps, run where a bundle is built or verified, so a
// model or self-test that every device would refuse is refused before it is signed and shipped.
//
// Contract: reads only the two files named; returns the loaded model and what ran, or one
// Error naming the file, the failed check and its cause. The latency step (c) is not run:
// latency belongs to the device's CPU, not the build host's.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "agent/engine/engine.h"
#include "common/core/result.h"

namespace edge::runtime {

struct PreflightReport {
  std::shared_ptr<const engine::Model> model;
  std::vector<engine::KernelTier> tiers;  // every tier the model ran at, scalar first
  int cases_run = 0;                      // self-test cases per tier (0 without a self-test)
  double max_abs_error = 0.0;             // over all tiers and cases
};

// Step (a) on `model_file`, then, at the scalar reference tier and at every faster tier this CPU
// has (devices may have any of them): step (b) on `selftest_file` within `tolerance` when one is
// given, otherwise one run on zero inputs, so every compiled step executes once.
Result<PreflightReport> PreflightModel(const std::filesystem::path& model_file,
                                       const std::optional<std::filesystem::path>& selftest_file,
                                       double tolerance);

}  // namespace edge::runtime
