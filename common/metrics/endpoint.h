// The HTTP endpoint that serves a registry's metrics at GET /metrics (Prometheus text format),
// on its own threads. Implemented with prometheus-cpp (prometheus_endpoint.cpp) when the build
// has EDGE_METRICS=ON; without it (the arm64 cross build, docs/operations.md#metrics) Start
// fails with kFailedPrecondition and the daemons count into Discard().
#pragma once

#include <cstdint>
#include <memory>

#include "common/core/result.h"
#include "common/metrics/listen_address.h"
#include "common/metrics/metrics.h"

namespace edge::metrics {

// Whether this build can serve /metrics.
bool EndpointBuilt();

// The HTTP server (civetweb) serves one connection per thread and waits up to the request
// timeout for a client's request: each connection that sends nothing holds a thread that
// long, so kEndpointThreads idle connections delay a scrape by up to kEndpointRequestTimeoutMs,
// and a client that keeps reopening them stalls it for as long as it does
// (docs/operations.md#metrics: measured, and why it stays on loopback).
inline constexpr int kEndpointThreads = 8;
inline constexpr int kEndpointRequestTimeoutMs = 3000;

class Endpoint {
 public:
  virtual ~Endpoint() = default;  // stops serving
  virtual Registry& registry() = 0;
  // The bound port (the kernel's choice when the address asked for 0).
  virtual uint16_t port() const = 0;

  // Binds `address`. Errors: kBadConfig (the address cannot be bound, in use or not this
  // host's: exit 78, as for the controller's other listeners), kFailedPrecondition (a build without EDGE_METRICS).
  static Result<std::unique_ptr<Endpoint>> Start(const ListenAddress& address);
};

// A daemon's start-up with its `metrics_listen` setting: null when it is empty; null and a
// warning in a build without metrics (one config may serve gateways of both architectures);
// else the started endpoint, logged with its port ("metrics listening"), and a warning when it
// is reachable beyond loopback. Errors: kBadConfig (the address, or it cannot be bound).
Result<std::unique_ptr<Endpoint>> StartConfiguredEndpoint(const std::string& metrics_listen);

}  // namespace edge::metrics
