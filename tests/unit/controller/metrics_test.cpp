#include <catch2/catch.hpp>

#include "common/metrics/memory_registry.h"
#include "controller/api/controller_metrics.h"
#include "controller/api/rpc_metrics.h"
#include "controller/store/timed_store.h"
#include "store_fixture.h"

namespace edge::controller {
namespace {

using metrics::MemoryRegistry;

TEST_CASE("metrics: state gauges cover every known state and sum unknown device states as other") {
  MemoryRegistry registry;
  ControllerMetrics m(registry);
  m.SetStateCounts({{"running", 2}, {"completed", 5}},
                   {{"committed", 3}, {"probation", 1}, {"bogus_state", 4}, {"x", 1}});
  CHECK(registry.Value("edgefleet_controller_rollouts", {{"state", "running"}}) == 2);
  CHECK(registry.Value("edgefleet_controller_rollouts", {{"state", "completed"}}) == 5);
  CHECK(registry.Value("edgefleet_controller_rollouts", {{"state", "reverted"}}) == 0);
  CHECK(registry.SeriesOf("edgefleet_controller_rollouts").size() == 6);
  CHECK(registry.Value("edgefleet_controller_device_models", {{"state", "committed"}}) == 3);
  CHECK(registry.Value("edgefleet_controller_device_models", {{"state", "other"}}) == 5);
  // A state that empties goes back to 0, and no label comes from a device.
  m.SetStateCounts({}, {{"committed", 1}});
  CHECK(registry.Value("edgefleet_controller_rollouts", {{"state", "running"}}) == 0);
  CHECK(registry.Value("edgefleet_controller_device_models", {{"state", "other"}}) == 0);
  for (const auto& labels : registry.SeriesOf("edgefleet_controller_device_models"))
    CHECK(labels.at("state") != "bogus_state");
}

TEST_CASE("metrics: gRPC status codes by name") {
  CHECK(GrpcCodeName(0) == "OK");
  CHECK(GrpcCodeName(7) == "PERMISSION_DENIED");
  CHECK(GrpcCodeName(14) == "UNAVAILABLE");
  CHECK(GrpcCodeName(16) == "UNAUTHENTICATED");
  CHECK(GrpcCodeName(17) == "UNKNOWN");
  CHECK(GrpcCodeName(-1) == "UNKNOWN");
}

TEST_CASE("metrics: the timed store observes each operation under its own name") {
  testing::Fixture f;
  MemoryRegistry registry;
  metrics::FakeMonotonicClock clock;
  TimedStore timed(std::move(f.store), registry, clock);
  REQUIRE(timed.CreateSite("plant-7", "op/admin", testing::kT0));
  REQUIRE(timed.ListSites());
  REQUIRE(timed.ListSites());
  const auto sites =
      registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "list_sites"}});
  CHECK(sites.count == 2);
  CHECK(registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "create_site"}})
            .count == 1);
  // An error is timed too, and passed through.
  auto missing = timed.GetDevice("nobody");
  CHECK_FALSE(missing);
  CHECK(registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "get_device"}})
            .count == 1);
}

TEST_CASE(
    "metrics: the store counts rollouts by state and reported models of devices not revoked") {
  testing::Fixture f;
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  f.Enroll("gw-2", "plant-7");
  REQUIRE(f.store->RecordReport("gw-1", {{"detector", "v1", 1, "committed", "v1", "", 0, 0, 0, 0}},
                                testing::kT0));
  REQUIRE(f.store->RecordReport("gw-2",
                                {{"detector", "v1", 1, "committed", "v2", "", 0, 0, 0, 0},
                                 {"kws", "", 0, "downloading", "v3", "", 0, 0, 0, 0}},
                                testing::kT0));
  auto reported = f.store->CountReportedStates();
  REQUIRE(reported);
  CHECK(*reported == std::map<std::string, int64_t>{{"committed", 2}, {"downloading", 1}});
  REQUIRE(f.store->RevokeDevice("gw-2", "op/admin", "test", testing::kT0));
  reported = f.store->CountReportedStates();
  REQUIRE(reported);
  CHECK(*reported == std::map<std::string, int64_t>{{"committed", 1}});
  auto rollouts = f.store->CountRolloutStates();
  REQUIRE(rollouts);
  CHECK(rollouts->empty());
}

}  // namespace
}  // namespace edge::controller
