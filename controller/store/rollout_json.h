// The JSON forms in which a store keeps a rollout's target, strategy, waves and baselines
// (text columns in SQLite, JSONB in a PostgreSQL backend). Field names are part of the stored
// format: add, never rename. Reading is strict: text this code did not write is kDataLoss.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"
#include "controller/rollout/rollout.h"

namespace edge::controller {

std::string TargetToJson(const rollout::Target& target);
Result<rollout::Target> TargetFromJson(std::string_view text);
std::string StrategyToJson(const rollout::Strategy& strategy);
Result<rollout::Strategy> StrategyFromJson(std::string_view text);
std::string WavesToJson(const std::vector<rollout::Wave>& waves);
Result<std::vector<rollout::Wave>> WavesFromJson(std::string_view text);
std::string SampleToJson(const rollout::HealthSample& sample);
Result<rollout::HealthSample> SampleFromJson(std::string_view text);

}  // namespace edge::controller
