// Structured logs: one JSON object per line on stderr
// ({"ts":"...","level":"info","component":"agent","msg":"...", ...fields}), or structured
// journal entries when a sink is installed (common/systemd/journal.h does it under systemd).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/core/result.h"

namespace edge::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Set once at start-up, before other threads exist.
void Init(std::string_view component, Level min_level = Level::kInfo);
Result<Level> ParseLevel(std::string_view name);
const char* LevelName(Level level);
// Whether a line at `level` would be written (the level set by Init).
bool Enabled(Level level);

// One line to write. `fields` is an object and never holds ts, level, component or msg.
struct Record {
  Level level;
  std::string_view component;
  std::string_view message;
  const nlohmann::json& fields;
};
// Where lines go instead of stderr. Returns false when it could not deliver the line, which
// then goes to stderr as JSON. Called from any thread, never concurrently with itself.
using Sink = bool (*)(const Record& record);
// Set once at start-up, before other threads exist; nullptr = stderr.
void SetSink(Sink sink);

// The JSON line (with its newline) for `record`, stamped now.
std::string FormatLine(const Record& record);

void Write(Level level, std::string_view message, const nlohmann::json& fields);
// A line on behalf of a library the daemon hosts (component "grpc", "protobuf"), filtered by
// the same level.
void WriteAs(std::string_view component, Level level, std::string_view message, const nlohmann::json& fields);
inline void Debug(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) { Write(Level::kError, m, f); }

}  // namespace edge::log
