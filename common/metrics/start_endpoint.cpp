#include "common/core/log.h"
#include "common/metrics/endpoint.h"

namespace edge::metrics {

Result<std::unique_ptr<Endpoint>> StartConfiguredEndpoint(const std::string& metrics_listen) {
  if (metrics_listen.empty()) return nullptr;
  auto address = ParseListenAddress(metrics_listen);
  if (!address) return Fail(address.error().Wrap("metrics_listen"));
  auto endpoint = Endpoint::Start(*address);
  if (!endpoint) return Fail(endpoint.error().Wrap("metrics_listen"));
  if (!address->loopback)
    log::Warn(
        "metrics are served beyond loopback, without authentication: anyone who reaches the port "
        "reads them",
        {{"metrics_listen", metrics_listen}});
  log::Info("metrics listening", {{"address", metrics_listen}, {"port", (*endpoint)->port()}});
  return endpoint;
}

}  // namespace edge::metrics
