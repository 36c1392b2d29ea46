// EDGE_METRICS=OFF: no HTTP server, no prometheus-cpp.
#include "common/metrics/endpoint.h"

namespace edge::metrics {

bool EndpointBuilt() { return false; }

Result<std::unique_ptr<Endpoint>> Endpoint::Start(const ListenAddress&) {
  return Fail(ErrorCode::kFailedPrecondition,
              "this build has no /metrics endpoint (built with EDGE_METRICS=OFF)");
}

}  // namespace edge::metrics
