#include "common/tls/grpc_log.h"

#include <absl/synchronization/mutex.h>

#include <cstdlib>
#include <string>

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

namespace edge::tls {
namespace {

void FromGrpc(gpr_log_func_args* args) {
  if (args == nullptr) return;
  const auto level = LevelOfGprSeverity(static_cast<int>(args->severity));
  if (!log::Enabled(level)) return;
  log::WriteAs("grpc", level, args->message ? args->message : "",
               {{"file", args->file ? args->file : ""}, {"line", args->line}});
}

void Drop(gpr_log_func_args*) {}
void DropProtobuf(google::protobuf::LogLevel, const char*, int, const std::string&) {}

bool VerbositySet() {
  const char* env = std::getenv("GRPC_VERBOSITY");
  return env != nullptr && *env != '\0';
}

void FromProtobuf(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  log::WriteAs("protobuf", LevelOfProtobufLevel(static_cast<int>(level)), message,
               {{"file", file ? file : ""}, {"line", line}});
}

}  // namespace

log::Level LevelOfGprSeverity(int severity) {
  switch (severity) {
    case GPR_LOG_SEVERITY_DEBUG: return log::Level::kDebug;
    case GPR_LOG_SEVERITY_INFO: return log::Level::kInfo;
    default: return log::Level::kError;
  }
}

log::Level LevelOfProtobufLevel(int level) {
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO: return log::Level::kInfo;
    case google::protobuf::LOGLEVEL_WARNING: return log::Level::kWarn;
    default: return log::Level::kError;
  }
}

void RouteLibraryLogs(log::Level min_level) {
  gpr_set_log_function(FromGrpc);
  google::protobuf::SetLogHandler(FromProtobuf);
  // gRPC reads GRPC_VERBOSITY at its first init only if no verbosity was set: an explicit
  // environment keeps working (tests quiet expected handshake failures with NONE).
  if (!VerbositySet())
    gpr_set_log_verbosity(min_level == log::Level::kDebug ? GPR_LOG_SEVERITY_DEBUG : GPR_LOG_SEVERITY_ERROR);
}

void QuietLibraryLogs() {
  if (VerbositySet()) return;
  gpr_set_log_function(Drop);
  google::protobuf::SetLogHandler(DropProtobuf);
}

void SkipLockCycleChecks() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace edge::tls
