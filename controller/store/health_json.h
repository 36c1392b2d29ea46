// The JSON form in which a store keeps health reports (a text column in SQLite, JSONB in a
// PostgreSQL backend). Field names are part of the stored format: add, never rename.
#pragma once

#include <string>
#include <string_view>

#include "common/core/result.h"
#include "controller/store/types.h"

namespace edge::controller {

std::string HealthToJson(const HealthRecord& health);
// kDataLoss if the text is not a health record this code wrote.
Result<HealthRecord> HealthFromJson(std::string_view text);
// What a history sample keeps of a full report: counters and percentiles, no histogram and
// no self-test text (a sample is a few hundred bytes, so the history stays small).
HealthRecord HistorySample(const HealthRecord& full);

}  // namespace edge::controller
