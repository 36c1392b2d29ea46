// The attacks. Each runs `connections` workers for `duration`; a worker whose connection is
// closed (GOAWAY, TLS alert, reset) opens a new one until the time is up, as a real attacker
// would.
#pragma once

#include <chrono>
#include <string>

#include "common/core/result.h"
#include "tests/attack/h2/h2_connection.h"
#include "tests/attack/h2/target.h"

namespace edge::h2attack {

enum class Mode { kRapidReset, kManyStreams, kBigHeaders, kPingFlood, kSettingsFlood, kSlowHandshake };

struct Options {
  Mode mode = Mode::kRapidReset;
  Target target;
  std::chrono::milliseconds duration{3000};
  int connections = 2;
  std::string path = "/edge.v1.EnrollmentService/Enroll";
  bool no_data = false;             // rapid-reset: HEADERS + RST_STREAM only
  bool continuation_flood = false;  // big-headers: one block that never ends
  size_t header_bytes = 32 * 1024;  // big-headers: size of the one oversized field
  int streams = 0;                  // many-streams: 0 = twice the advertised limit
  bool no_read = false;             // ping/settings flood: never read, so replies pile up server-side
};

// Runs one of the HTTP/2 modes (every mode but kSlowHandshake).
Result<Stats> RunH2Attack(const Options& options);

struct SlowHandshakeStats {
  uint64_t connects = 0;
  uint64_t connect_failed = 0;
  uint64_t bytes_sent = 0;          // ClientHello bytes, all connections
  uint64_t closed_by_server = 0;    // before the end
  uint64_t open_at_end = 0;
  int64_t first_close_ms = -1;      // after its connection was opened
  std::string first_error;
};

// Opens `connections` TCP connections that each send half a TLS ClientHello and stall.
Result<SlowHandshakeStats> RunSlowHandshake(const Options& options);

}  // namespace edge::h2attack
