// The HTTP endpoint that serves a registry's metrics at GET /metrics (Prometheus text format),
// on its own thread (http_endpoint.cpp).
#pragma once

#include <cstdint>
#include <memory>

#include "common/core/result.h"
#include "common/metrics/listen_address.h"
#include "common/metrics/metrics.h"

namespace edge::metrics {

class Endpoint {
 public:
  virtual ~Endpoint() = default;  // stops serving
  virtual Registry& registry() = 0;
  // The bound port (the kernel's choice when the address asked for 0).
  virtual uint16_t port() const = 0;

  // Binds `address`. Errors: kBadConfig (the address cannot be bound, in use or not this
  // host's: exit 78, as for the controller's other listeners).
  static Result<std::unique_ptr<Endpoint>> Start(const ListenAddress& address);
};

// A daemon's start-up with its `metrics_listen` setting: null when it is empty; else the
// started endpoint, logged with its port ("metrics listening"), and a warning when it
// is reachable beyond loopback. Errors: kBadConfig (the address, or it cannot be bound).
Result<std::unique_ptr<Endpoint>> StartConfiguredEndpoint(const std::string& metrics_listen);

}  // namespace edge::metrics
