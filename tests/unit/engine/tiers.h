// The kernel tiers a tier-looping test case ([tiers] tag) covers. Under ctest each such case
// runs once per tier, with EDGE_TEST_TIER naming it (tests/unit/engine/CMakeLists.txt): a tier
// this CPU lacks makes the case report *skipped*; a tier the case does not apply to leaves it
// nothing to do for that run. Run directly, without EDGE_TEST_TIER, a case covers every tier of
// its list this CPU supports.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "agent/engine/kernels/cpu_features.h"
#include "tests/unit/core/skip.h"

namespace edge::engine::testing {

struct TierPlan {
  std::vector<KernelTier> tiers;
  std::string skip;  // non-empty: this CPU lacks the tier the run is for
};

inline TierPlan PlanTiers(std::initializer_list<KernelTier> candidates) {
  TierPlan plan;
  const char* only = std::getenv("EDGE_TEST_TIER");
  KernelTier wanted = KernelTier::kAuto;
  if (only && *only && ParseKernelTier(only, wanted) && wanted != KernelTier::kAuto) {
    if (!TierSupported(wanted)) {
      plan.skip = "this CPU has no " + std::string(KernelTierName(wanted)) + " tier";
      return plan;
    }
    for (KernelTier t : candidates)
      if (t == wanted) plan.tiers.push_back(t);
    return plan;
  }
  for (KernelTier t : candidates)
    if (TierSupported(t)) plan.tiers.push_back(t);
  return plan;
}

}  // namespace edge::engine::testing

// Every SIMD tier (each tier but the scalar specification), and every tier: the lists a tier
// test names, so that a new tier is one line here.
#define EDGE_SIMD_TIERS                                                                              \
  ::edge::engine::KernelTier::kAvx2, ::edge::engine::KernelTier::kAvxVnni,                           \
      ::edge::engine::KernelTier::kAvx512Vnni, ::edge::engine::KernelTier::kAmx,                     \
      ::edge::engine::KernelTier::kNeon, ::edge::engine::KernelTier::kNeonDot,                       \
      ::edge::engine::KernelTier::kI8mm
#define EDGE_ALL_TIERS ::edge::engine::KernelTier::kScalar, EDGE_SIMD_TIERS

// Declares `var` (the tiers to cover) from a list of tiers, or reports the case skipped.
#define EDGE_TIERS_UNDER_TEST(var, ...)                                                          \
  const auto var##_plan = ::edge::engine::testing::PlanTiers({__VA_ARGS__});                   \
  if (!var##_plan.skip.empty()) EDGE_SKIP(var##_plan.skip);                                    \
  const std::vector<::edge::engine::KernelTier>& var = var##_plan.tiers
