// The `metrics_listen` setting of both daemons: where /metrics is served.
#pragma once

#include <cstdint>
#include <string>

#include "common/core/result.h"

namespace edge::metrics {

struct ListenAddress {
  std::string host;   // numeric IPv4, or IPv6 without brackets
  uint16_t port = 0;  // 0: the kernel picks one (tests)
  bool ipv6 = false;
  bool loopback = false;
  // "host:port" or "[v6]:port", the form the HTTP server binds.
  std::string ToString() const;
};

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464". Host names are refused (a name can resolve to
// an interface nobody meant to expose). Errors are kBadConfig and name the address.
Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace edge::metrics
