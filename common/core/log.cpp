#include "common/core/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace edge::log {
namespace {

std::string g_component = "edge";
Level g_min_level = Level::kInfo;
std::mutex g_mutex;

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

}  // namespace

void Init(std::string_view component, Level min_level) {
  g_component = std::string(component);
  g_min_level = min_level;
}

Result<Level> ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown log level '" + std::string(name) + "' (use debug, info, warn or error)");
}

void Write(Level level, std::string_view message, const nlohmann::json& fields) {
  if (level < g_min_level) return;
  nlohmann::json line = {{"ts", Timestamp()},
                         {"level", LevelName(level)},
                         {"component", g_component},
                         {"msg", message}};
  if (fields.is_object()) {
    // A field never replaces ts, level, component or msg: log shippers filter on them.
    for (const auto& [key, value] : fields.items())
      if (!line.contains(key)) line[key] = value;
  }
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(g_mutex);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace edge::log
