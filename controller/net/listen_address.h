// The controller's listen addresses: parsed, and checked against each other when the config is
// read. Apart from the front (front.cpp) so the config can be checked without the server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/result.h"

namespace edge::controller::net {

// Where a listener can be reached from inside the process (a wildcard bind → loopback).
struct ListenEndpoint {
  std::string address;  // numeric
  uint16_t port = 0;
};

// "host:port" with a numeric IPv4 or [IPv6] host, or localhost (→ 127.0.0.1); port 0 lets
// the kernel pick. Errors (kBadConfig) name the address.
Result<ListenEndpoint> ParseListenAddress(const std::string& text);

// Listen addresses in one config that could never all be bound: found when the config is read,
// so the error names both keys instead of a bind failing as "in use by another process".

struct NamedListenAddress {
  std::string key;      // the config key: "agent_listen", "metrics_listen", ...
  std::string address;  // as written: "127.0.0.1:7443", "[::]:7443"
};

// kBadConfig naming both keys and the address when two of `listeners` take the same port on a
// common address: the same address, or one of them the wildcard that covers the other
// (0.0.0.0 covers every IPv4 address; [::] every IPv6 address and, bound dual-stack as the
// controller binds it, every IPv4 one too). Port 0 never collides (the kernel picks a free one
// each time). Addresses that do not parse are left to their own check.
Status CheckDistinctListenAddresses(const std::vector<NamedListenAddress>& listeners);

}  // namespace edge::controller::net
