#include "tests/attack/h2/target.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace edge::h2attack {
namespace {

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

std::string AddressText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src = sa->sa_family == AF_INET
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  if (!inet_ntop(sa->sa_family, src, buf, sizeof(buf))) return "?";
  return buf;
}

}  // namespace

Result<Target> ResolveLoopbackTarget(const std::string& host_port) {
  std::string host;
  std::string port_text;
  if (!host_port.empty() && host_port.front() == '[') {
    const auto close = host_port.find("]:");
    if (close == std::string::npos) return Fail(ErrorCode::kInvalidArgument, "target '" + host_port + "' is not [host]:port");
    host = host_port.substr(1, close - 1);
    port_text = host_port.substr(close + 2);
  } else {
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return Fail(ErrorCode::kInvalidArgument, "target '" + host_port + "' is not host:port");
    host = host_port.substr(0, colon);
    port_text = host_port.substr(colon + 1);
  }
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 1 || port > 65535)
    return Fail(ErrorCode::kInvalidArgument, "target '" + host_port + "': port must be 1-65535");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found); rc != 0)
    return Fail(ErrorCode::kInvalidArgument, "cannot resolve '" + host + "': " + gai_strerror(rc));
  Target t;
  t.host = host;
  t.port = static_cast<uint16_t>(port);
  t.authority = host_port;
  std::string refused;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    if (!IsLoopback(a->ai_addr)) {
      refused = AddressText(a->ai_addr);
      break;
    }
    if (t.address_len == 0) {
      std::memcpy(&t.address, a->ai_addr, a->ai_addrlen);
      t.address_len = a->ai_addrlen;
    }
  }
  freeaddrinfo(found);
  if (!refused.empty())
    return Fail(ErrorCode::kInvalidArgument, "refusing target '" + host_port + "': it resolves to " + refused +
                                                 ", which is not a loopback address (this tool attacks loopback only)");
  if (t.address_len == 0) return Fail(ErrorCode::kInvalidArgument, "'" + host + "' resolved to no address");
  return t;
}

bool WaitFd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

Result<int> ConnectTcp(const Target& target, std::chrono::milliseconds timeout) {
  const int fd = socket(target.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.address), target.address_len) != 0 &&
      errno != EINPROGRESS) {
    const int e = errno;
    close(fd);
    return Fail(ErrorCode::kUnavailable, "connect to " + target.authority + ": " + std::strerror(e));
  }
  if (!WaitFd(fd, POLLOUT, static_cast<int>(timeout.count()))) {
    close(fd);
    return Fail(ErrorCode::kUnavailable, "connect to " + target.authority + ": timed out");
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close(fd);
    return Fail(ErrorCode::kUnavailable, "connect to " + target.authority + ": " + std::strerror(err));
  }
  return fd;
}

}  // namespace edge::h2attack
