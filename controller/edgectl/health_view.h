// How `edgectl describe device` shows a device's health, its recent health samples and its
// update events, as text sections and as JSON.
#pragma once

#include <cstdint>
#include <ostream>

#include <nlohmann/json.hpp>

#include "edge/v1/admin.pb.h"

namespace edge::edgectl {

// Adds "health" (null if none was reported), "health_history" and "events" to `out`.
void AddHealthJson(const edge::v1::DeviceDetail& detail, nlohmann::json& out);
// The Health, Health history and Update events sections.
void PrintHealthSections(const edge::v1::DeviceDetail& detail, int64_t now, std::ostream& out);

}  // namespace edge::edgectl
