// The one address the attack tool may talk to: a loopback host:port. Anything that resolves to a
// non-loopback address is refused, so the tool cannot be pointed at someone else's server.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>

#include "common/core/result.h"

namespace edge::h2attack {

struct Target {
  std::string host;       // as given, e.g. "127.0.0.1" or "localhost"
  uint16_t port = 0;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  std::string authority;  // host:port, for :authority
};

// Parses "host:port" or "[v6]:port" and resolves it; every resolved address must be loopback
// (127.0.0.0/8 or ::1), else kInvalidArgument naming what it resolved to.
Result<Target> ResolveLoopbackTarget(const std::string& host_port);

// A non-blocking TCP socket connected to `target` (TCP_NODELAY), or kUnavailable.
Result<int> ConnectTcp(const Target& target, std::chrono::milliseconds timeout);

// Waits until `fd` is readable (POLLIN) or writable (POLLOUT) or the timeout passes.
bool WaitFd(int fd, short events, int timeout_ms);

}  // namespace edge::h2attack
