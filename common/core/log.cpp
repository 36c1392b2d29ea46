#include "common/core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace edge::log {
namespace {

// Never destroyed: gRPC's threads may still log while static destructors run at exit.
std::string& Component() {
  static auto* component = new std::string("edge");
  return *component;
}
std::atomic<Level> g_min_level{Level::kInfo};
Sink g_sink = nullptr;
std::mutex g_mutex;  // one line at a time, whole, in order

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

bool IsReserved(const std::string& key) { return key == "ts" || key == "level" || key == "component" || key == "msg"; }

void Deliver(std::string_view component, Level level, std::string_view message, const nlohmann::json& fields) {
  if (!Enabled(level)) return;
  // A field never replaces ts, level, component or msg: log shippers filter on them.
  nlohmann::json own = nlohmann::json::object();
  if (fields.is_object())
    for (const auto& [key, value] : fields.items())
      if (!IsReserved(key)) own[key] = value;
  const Record record{level, component, message, own};
  std::lock_guard lock(g_mutex);
  if (g_sink && g_sink(record)) return;
  const std::string text = FormatLine(record);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void Init(std::string_view component, Level min_level) {
  Component() = std::string(component);
  g_min_level = min_level;
}

bool Enabled(Level level) { return level >= g_min_level.load(std::memory_order_relaxed); }

void SetSink(Sink sink) { g_sink = sink; }

Result<Level> ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown log level '" + std::string(name) + "' (use debug, info, warn or error)");
}

std::string FormatLine(const Record& record) {
  nlohmann::json line = {{"ts", Timestamp()},
                         {"level", LevelName(record.level)},
                         {"component", record.component},
                         {"msg", record.message}};
  for (const auto& [key, value] : record.fields.items())
    if (!line.contains(key)) line[key] = value;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void Write(Level level, std::string_view message, const nlohmann::json& fields) {
  Deliver(Component(), level, message, fields);
}

void WriteAs(std::string_view component, Level level, std::string_view message, const nlohmann::json& fields) {
  Deliver(component, level, message, fields);
}

}  // namespace edge::log
