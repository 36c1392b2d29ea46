#include "controller/net/handed_off.h"

#include <sys/socket.h>

namespace edge::controller::net {

std::optional<HandedOff> HandedOffConnections::Add(int fd, uint64_t cookie, HandedOff connection) {
  std::optional<HandedOff> closed;
  auto [it, inserted] = entries_.try_emplace(fd, Entry{cookie, {}});
  // The number is free only once the descriptor it named was closed.
  if (!inserted) closed = std::move(it->second.connection);
  it->second = Entry{cookie, std::move(connection)};
  return closed;
}

std::vector<HandedOff> HandedOffConnections::Sweep(const CookieOf& cookie_of) {
  std::vector<HandedOff> closed;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (cookie_of(it->first) == it->second.cookie) {
      ++it;
      continue;
    }
    closed.push_back(std::move(it->second.connection));
    it = entries_.erase(it);
  }
  return closed;
}

std::optional<uint64_t> SocketCookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0 || len != sizeof cookie) return std::nullopt;
  return cookie;
}

}  // namespace edge::controller::net
