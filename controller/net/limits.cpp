#include "controller/net/limits.h"

#include <algorithm>
#include <string>

#include "common/core/config.h"
#include "common/tls/connect_timeouts.h"

namespace edge::controller::net {
namespace {

Error BadConfig(std::string message) { return Error{ErrorCode::kBadConfig, std::move(message)}; }

const char* const kListenerCapKeys[kListenerCount] = {"agent_max_connections", "enroll_max_connections",
                                                      "operator_max_connections"};

}  // namespace

const char* ListenerName(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kAgent: return "agent";
    case ListenerKind::kEnroll: return "enroll";
    case ListenerKind::kOperator: return "operator";
  }
  return "?";
}

Result<ConnectionLimits> ParseConnectionLimits(const nlohmann::json& object) {
  using namespace edge::config;
  const std::string context = "connection_limits";
  EDGE_TRY(RejectUnknownKeys(object,
                             {"max_connections", "agent_max_connections", "enroll_max_connections",
                              "operator_max_connections", "max_connections_per_source",
                              "accepts_per_second_per_source", "accept_burst_per_source", "first_bytes_timeout_ms",
                              "idle_timeout_seconds", "connect_timeout_ms", "buffer_bytes", "self_check_interval_ms",
                              "self_check_timeout_ms", "self_check_failures"},
                             context));
  ConnectionLimits l;
  auto wrap = [&](const Error& e) { return Fail(e.Wrap(context)); };
  struct IntKey {
    const char* key;
    int64_t* out;
    int64_t min, max;
  };
  const IntKey ints[] = {
      {"max_connections", &l.max_connections, 1, 1'000'000},
      {"agent_max_connections", &l.listener_max_connections[0], 1, 1'000'000},
      {"enroll_max_connections", &l.listener_max_connections[1], 1, 1'000'000},
      {"operator_max_connections", &l.listener_max_connections[2], 1, 1'000'000},
      {"max_connections_per_source", &l.max_connections_per_source, 1, 1'000'000},
      {"accept_burst_per_source", &l.accept_burst_per_source, 1, 1'000'000},
      {"first_bytes_timeout_ms", &l.first_bytes_timeout_ms, 100, 600'000},
      {"idle_timeout_seconds", &l.idle_timeout_seconds, 5, 86'400},
      {"connect_timeout_ms", &l.connect_timeout_ms, 100, 60'000},
      {"buffer_bytes", &l.buffer_bytes, 4096, 1 << 20},
      {"self_check_interval_ms", &l.self_check_interval_ms, 200, 600'000},
      {"self_check_timeout_ms", &l.self_check_timeout_ms, 100, 60'000},
      {"self_check_failures", &l.self_check_failures, 1, 100},
  };
  for (const auto& k : ints) {
    auto v = GetInt(object, k.key, *k.out, k.min, k.max);
    if (!v) return wrap(v.error());
    *k.out = *v;
  }
  auto rate = GetDouble(object, "accepts_per_second_per_source", l.accepts_per_second_per_source, 0.01, 1e6);
  if (!rate) return wrap(rate.error());
  l.accepts_per_second_per_source = *rate;

  l.max_connections_set = object.contains("max_connections");
  for (int i = 0; i < kListenerCount; ++i) {
    l.listener_max_set[i] = object.contains(kListenerCapKeys[i]);
    if (l.max_connections_set && l.listener_max_set[i] && l.listener_max_connections[i] > l.max_connections)
      return Fail(BadConfig(context + ": " + kListenerCapKeys[i] + " = " +
                            std::to_string(l.listener_max_connections[i]) + " is above max_connections = " +
                            std::to_string(l.max_connections)));
  }
  // A probe that may take longer than the interval would overlap the next round.
  if (l.self_check_timeout_ms >= l.self_check_interval_ms)
    return Fail(BadConfig(context + ": self_check_timeout_ms = " + std::to_string(l.self_check_timeout_ms) +
                          " must be below self_check_interval_ms = " + std::to_string(l.self_check_interval_ms)));
  // gRPC and the agent send keepalive pings every 30 s on an idle link; an idle limit below
  // that would cut healthy agent streams.
  if (l.idle_timeout_seconds < 45)
    return Fail(BadConfig(context + ": idle_timeout_seconds = " + std::to_string(l.idle_timeout_seconds) +
                          " is below 45 (keepalive pings come every 30 s; a lower limit cuts live streams)"));
  return l;
}

std::vector<std::string> LimitWarnings(const ConnectionLimits& l) {
  std::vector<std::string> out;
  // The front terminates the enrollment listener's TLS: this one deadline covers a gateway's
  // TCP connect, TLS handshake and first request bytes there.
  if (l.first_bytes_timeout_ms < tls::kSlowClientSetupTime.count())
    out.push_back("first_bytes_timeout_ms = " + std::to_string(l.first_bytes_timeout_ms) +
                  " is below " + std::to_string(tls::kSlowClientSetupTime.count()) +
                  ": it also bounds the TLS handshake of an enrolling gateway, and one on a slow link (300 ms round "
                  "trips, a Pi-class CPU) may not enroll");
  for (int i = 0; i < kListenerCount; ++i) {
    if (l.max_connections_per_source >= l.listener_max_connections[i])
      out.push_back(std::string("max_connections_per_source = ") + std::to_string(l.max_connections_per_source) +
                    " is not below the " + ListenerName(static_cast<ListenerKind>(i)) + " listener's cap of " +
                    std::to_string(l.listener_max_connections[i]) + ": one source can take all its connections");
  }
  return out;
}

int64_t FdsPerConnection(ListenerKind kind) {
  return kind == ListenerKind::kAgent ? kFdsPerHandedOffConnection : kFdsPerSplicedConnection;
}

int64_t FdsNeeded(const ConnectionLimits& limits) {
  // The costliest mix the caps allow: the spliced listeners full first, then the agent
  // listener with what max_connections leaves.
  const ListenerKind costliest_first[] = {ListenerKind::kEnroll, ListenerKind::kOperator, ListenerKind::kAgent};
  int64_t left = limits.max_connections;
  int64_t fds = kReservedFds;
  for (auto kind : costliest_first) {
    const int64_t held = std::min(limits.ListenerMax(kind), left);
    fds += held * FdsPerConnection(kind);
    left -= held;
  }
  return fds;
}

namespace {

// `l` with the caps the config left at their defaults scaled to a controller that may hold
// `max_connections` connections, in the default proportions (so that a flood of one listener
// still cannot take the descriptors another needs).
ConnectionLimits ScaleDefaults(ConnectionLimits l, int64_t max_connections) {
  const ConnectionLimits defaults;
  if (!l.max_connections_set) l.max_connections = max_connections;
  for (int i = 0; i < kListenerCount; ++i)
    if (!l.listener_max_set[i])
      l.listener_max_connections[i] = std::max<int64_t>(
          1, defaults.listener_max_connections[i] * max_connections / defaults.max_connections);
  return l;
}

std::string DescribeNeed(const ConnectionLimits& l) {
  return std::to_string(FdsNeeded(l)) + " file descriptors (" + std::to_string(kReservedFds) + " reserved, " +
         std::to_string(kFdsPerSplicedConnection) + " per enrollment or operator connection, " +
         std::to_string(kFdsPerHandedOffConnection) + " per agent connection; caps: agent " +
         std::to_string(l.ListenerMax(ListenerKind::kAgent)) + ", enroll " +
         std::to_string(l.ListenerMax(ListenerKind::kEnroll)) + ", operator " +
         std::to_string(l.ListenerMax(ListenerKind::kOperator)) + ")";
}

}  // namespace

Result<ConnectionLimits> FitToFdLimit(ConnectionLimits l, int64_t fd_limit) {
  const ConnectionLimits defaults;
  if (FdsNeeded(l) > fd_limit) {
    if (l.max_connections_set)
      return Fail(BadConfig("connection_limits.max_connections = " + std::to_string(l.max_connections) + " needs " +
                            DescribeNeed(l) + ", but RLIMIT_NOFILE is " + std::to_string(fd_limit) +
                            ": lower max_connections or the listener caps, or raise LimitNOFILE="));
    constexpr int64_t kFewest = 16;
    if (FdsNeeded(ScaleDefaults(l, kFewest)) > fd_limit)
      return Fail(BadConfig("RLIMIT_NOFILE is " + std::to_string(fd_limit) + ": too low for the controller (" +
                            std::to_string(kFewest) + " connections need " + DescribeNeed(ScaleDefaults(l, kFewest)) +
                            "); raise LimitNOFILE="));
    // The most connections that fit: FdsNeeded grows with max_connections.
    int64_t fits = kFewest, too_many = defaults.max_connections;
    while (too_many - fits > 1) {
      const int64_t mid = fits + (too_many - fits) / 2;
      (FdsNeeded(ScaleDefaults(l, mid)) <= fd_limit ? fits : too_many) = mid;
    }
    l = ScaleDefaults(l, fits);
  }
  for (int i = 0; i < kListenerCount; ++i) {
    auto& cap = l.listener_max_connections[i];
    if (l.listener_max_set[i] && cap > l.max_connections)
      return Fail(BadConfig("connection_limits." + std::string(ListenerName(static_cast<ListenerKind>(i))) +
                            "_max_connections = " + std::to_string(cap) + " is above max_connections = " +
                            std::to_string(l.max_connections) +
                            (l.max_connections_set ? std::string()
                                                   : " (the default, shrunk to fit RLIMIT_NOFILE " +
                                                         std::to_string(fd_limit) + ")")));
    cap = std::min(cap, l.max_connections);
  }
  return l;
}

}  // namespace edge::controller::net
