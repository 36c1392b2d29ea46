// Connection limits of the controller's public listeners (the `connection_limits` object of
// the controller config), and their fit to the process's file-descriptor limit. Pure: no
// sockets, so the checks are unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/core/result.h"

namespace edge::controller::net {

enum class ListenerKind { kAgent = 0, kEnroll = 1, kOperator = 2 };
inline constexpr int kListenerCount = 3;
const char* ListenerName(ListenerKind kind);

// Descriptors one connection holds at most. The agent listener's connections are handed to
// gRPC once their first bytes arrive: one descriptor, the client's socket, which gRPC then
// owns. The others are spliced: the client's socket in the front, the front's socket to the
// internal gRPC port, and gRPC's accepted end of it. (Before its first bytes, any connection
// holds one.)
inline constexpr int64_t kFdsPerHandedOffConnection = 1;
inline constexpr int64_t kFdsPerSplicedConnection = 3;
int64_t FdsPerConnection(ListenerKind kind);
// Descriptors kept for everything else: SQLite and its WAL, blob files being served, gRPC's
// epoll/eventfd/pipes, the listeners, self-check probes, logs.
inline constexpr int64_t kReservedFds = 256;

// Connections one source may hold on the enrollment listener (whatever
// max_connections_per_source says): enrolling is one short call, and the listener needs no
// credentials, so a handful of sources must not be able to fill it.
inline constexpr int64_t kEnrollConnectionsPerSource = 16;

struct ConnectionLimits {
  int64_t max_connections = 12000;  // all listeners together
  int64_t listener_max_connections[kListenerCount] = {10000, 1000, 512};  // agent, enroll, operator
  int64_t max_connections_per_source = 256;  // per IPv4 address or IPv6 /64, per listener
  double accepts_per_second_per_source = 20;  // token bucket refill, per source and listener
  int64_t accept_burst_per_source = 100;      // token bucket size
  int64_t first_bytes_timeout_ms = 10000;     // a new connection must send something by then
  int64_t idle_timeout_seconds = 120;         // no byte either way for this long → closed
  int64_t connect_timeout_ms = 5000;          // front → internal gRPC port
  int64_t buffer_bytes = 16384;               // per direction, held only while bytes are in flight
  int64_t self_check_interval_ms = 5000;
  int64_t self_check_timeout_ms = 3000;
  int64_t self_check_failures = 3;  // consecutive failed probes of one listener → exit

  // Which caps the config set: those must fit the fd limit as given; the others shrink to fit.
  bool max_connections_set = false;
  bool listener_max_set[kListenerCount] = {false, false, false};

  int64_t ListenerMax(ListenerKind kind) const { return listener_max_connections[static_cast<int>(kind)]; }
};

// Parses the `connection_limits` object (absent members keep their defaults). Unknown keys,
// wrong types and out-of-range values are kBadConfig errors naming the key.
Result<ConnectionLimits> ParseConnectionLimits(const nlohmann::json& object);

// Caps that let a single source fill a whole listener (max_connections_per_source at or above
// a listener's cap), and a first-bytes deadline too short for a slow gateway's enrollment
// handshake, one sentence each: main logs them as warnings.
std::vector<std::string> LimitWarnings(const ConnectionLimits& limits);

// Descriptors the limits need at most: kReservedFds plus the connections of the costliest mix
// the caps allow (max_connections filled with spliced connections first, as far as the
// enrollment and operator caps let it, then agent connections).
int64_t FdsNeeded(const ConnectionLimits& limits);

// Fits the caps to `fd_limit` (the soft RLIMIT_NOFILE): caps the config left at their defaults
// are scaled down together, keeping their proportions, until FdsNeeded fits; caps it set
// explicitly are kept, and if they cannot fit the result is a kBadConfig error saying how many
// descriptors they need.
Result<ConnectionLimits> FitToFdLimit(ConnectionLimits limits, int64_t fd_limit);

}  // namespace edge::controller::net
