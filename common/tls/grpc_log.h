// gRPC's and protobuf's own log lines, routed through edge::log so that a daemon's stderr (or
// journal) holds nothing but our structured lines.
#pragma once

#include "common/core/log.h"

namespace edge::tls {

// gpr severities (grpc/support/log.h: 0 debug, 1 info, 2 error) as our levels.
log::Level LevelOfGprSeverity(int severity);
// protobuf's LogLevel (0 info, 1 warning, 2 error, 3 fatal; 4 = DFATAL in debug builds).
log::Level LevelOfProtobufLevel(int level);

// Installs the gRPC and protobuf log functions: every line becomes one of ours with component
// "grpc" (or "protobuf") and fields `file` and `line`. gRPC's verbosity is
// the environment's GRPC_VERBOSITY when set (DEBUG, INFO, ERROR, NONE), else ERROR, or DEBUG
// when `min_level` is debug. Call once at start-up, after log::Init, before any gRPC object
// exists.
void RouteLibraryLogs(log::Level min_level);

// For a command-line tool, whose own error message already carries the gRPC status: gRPC's and
// protobuf's lines (e.g. "E1204 12:10:11.75 ... Handshake failed") are dropped, unless
// GRPC_VERBOSITY is set, when gRPC prints them as it would by itself.
void QuietLibraryLogs();

// Debian 12's abseil is built without NDEBUG, so every absl::Mutex that gRPC locks also records
// lock-order edges for deadlock detection (GraphCycles): about 5% of a busy controller's CPU at
// 3,000 agents (perf). Turns that off, as a release build of abseil has it. Call once at
// start-up, before any gRPC object exists.
void SkipLockCycleChecks();

}  // namespace edge::tls
