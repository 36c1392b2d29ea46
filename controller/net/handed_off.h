// The connections the front has handed to gRPC (the agent listener's): each still holds an
// admission slot, but the front no longer sees its bytes and gRPC does not say when it closes
// one. The front therefore keeps each one's descriptor number and socket cookie (SO_COOKIE, a
// number the kernel never gives two sockets) and checks them periodically: a descriptor that
// no longer names a socket, or names one with another cookie (the number was reused), is a
// closed connection whose slot is free again. Pure: the check reads cookies through a function,
// so the tests need no sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/net/limits.h"

namespace edge::controller::net {

// What the front must release when a handed-off connection has closed.
struct HandedOff {
  ListenerKind listener = ListenerKind::kAgent;
  std::string source_key;
};

class HandedOffConnections {
 public:
  // The cookie of the socket `fd` names now, or nullopt when it names none (closed, or reused
  // for something that is not a socket).
  using CookieOf = std::function<std::optional<uint64_t>(int fd)>;

  // Records a connection whose descriptor `fd` (socket cookie `cookie`, read before the hand-off)
  // now belongs to gRPC. A connection still recorded on `fd` has closed (the kernel reused its
  // number) and is returned, to be released.
  std::optional<HandedOff> Add(int fd, uint64_t cookie, HandedOff connection);

  // Checks every recorded connection and forgets and returns those that have closed. One
  // getsockopt per connection when `cookie_of` is SocketCookie.
  std::vector<HandedOff> Sweep(const CookieOf& cookie_of);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t cookie;
    HandedOff connection;
  };
  std::unordered_map<int, Entry> entries_;
};

// getsockopt(SO_COOKIE): nullopt when `fd` is not an open socket.
std::optional<uint64_t> SocketCookie(int fd);

}  // namespace edge::controller::net
