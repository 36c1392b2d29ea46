#include "controller/store/timed_store.h"

namespace edge::controller {

TimedStore::TimedStore(std::unique_ptr<Store> inner, metrics::Registry& registry,
                       const metrics::MonotonicClock& clock)
    : inner_(std::move(inner)),
      durations_(
          registry.Histograms("edgefleet_controller_store_duration_seconds",
                              "Duration of controller store (SQLite) operations, by operation.",
                              metrics::LatencyBucketsSeconds())),
      clock_(clock) {}

}  // namespace edge::controller
