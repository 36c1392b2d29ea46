#include <catch2/catch.hpp>

#include "controller/net/tally.h"

using namespace edge::controller::net;
using namespace std::chrono_literals;

TEST_CASE("Event tally: one summary per period, however many events") {
  EventTally tally(10s);
  const Instant t0{};
  CHECK_FALSE(tally.TakeSummary(t0));  // nothing to say
  for (int i = 0; i < 5000; ++i) tally.Count(ListenerKind::kAgent, "over_source_cap");
  tally.Count(ListenerKind::kEnroll, "first_bytes_timeout");
  auto first = tally.TakeSummary(t0);
  REQUIRE(first);
  CHECK((*first)["agent"]["over_source_cap"] == 5000);
  CHECK((*first)["enroll"]["first_bytes_timeout"] == 1);
  tally.Count(ListenerKind::kAgent, "over_source_cap", 7);
  CHECK_FALSE(tally.TakeSummary(t0 + 9s));  // within the period: held back
  auto second = tally.TakeSummary(t0 + 10s);
  REQUIRE(second);
  CHECK((*second)["agent"]["over_source_cap"] == 7);  // counts since the last summary
  CHECK_FALSE(second->contains("enroll"));
  CHECK(tally.Total(ListenerKind::kAgent, "over_source_cap") == 5007);
}
