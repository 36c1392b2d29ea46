// Structured logs: one JSON object per line on stderr
// ({"ts":"...","level":"info","component":"agent","msg":"...", ...fields}).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/core/result.h"

namespace edge::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Set once at start-up, before other threads exist.
void Init(std::string_view component, Level min_level = Level::kInfo);
Result<Level> ParseLevel(std::string_view name);

void Write(Level level, std::string_view message, const nlohmann::json& fields);
inline void Debug(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kError, m, f); }

}  // namespace edge::log
