// How `edgectl describe device` shows a device: its identity, models, health, recent health
// samples, update events and audit, as text and as JSON. Every text line carrying device or
// controller data goes through WriteLine or FormatTable (output.h), so it is escaped.
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
// The whole text view: the lines above the health sections, the sections, then recent audit.
void PrintDeviceDetail(const edge::v1::DeviceDetail& detail, int64_t now, std::ostream& out);

}  // namespace edge::edgectl
