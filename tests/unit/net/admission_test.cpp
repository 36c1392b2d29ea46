#include <catch2/catch.hpp>

#include "controller/net/admission.h"

using namespace edge::controller::net;
using namespace std::chrono_literals;

namespace {
ConnectionLimits Limits() {
  ConnectionLimits l;
  l.max_connections = 10;
  l.listener_max_connections[0] = 6;  // agent
  l.listener_max_connections[1] = 3;  // enroll
  l.listener_max_connections[2] = 3;  // operator
  l.max_connections_per_source = 4;
  l.accepts_per_second_per_source = 2;
  l.accept_burst_per_source = 100;
  return l;
}
const Instant t0{};
}  // namespace

TEST_CASE("Admission: per-source cap, then listener cap, then the global cap") {
  Admission a(Limits());
  for (int i = 0; i < 4; ++i) CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kOverSourceCap);
  // The same source on another listener has its own count.
  CHECK(a.TryAdmit(ListenerKind::kEnroll, "10.0.0.1", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.2", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.3", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.4", t0) == Verdict::kOverListenerCap);
  CHECK(a.Active(ListenerKind::kAgent) == 6);
  CHECK(a.TryAdmit(ListenerKind::kEnroll, "10.0.0.5", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kEnroll, "10.0.0.6", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kOperator, "10.0.0.7", t0) == Verdict::kAdmit);
  CHECK(a.Active() == 10);
  CHECK(a.TryAdmit(ListenerKind::kOperator, "10.0.0.8", t0) == Verdict::kOverGlobalCap);
  // Releasing frees exactly the slot it held.
  a.Release(ListenerKind::kAgent, "10.0.0.1", t0);
  CHECK(a.ActiveFrom(ListenerKind::kAgent, "10.0.0.1") == 3);
  CHECK(a.TryAdmit(ListenerKind::kOperator, "10.0.0.8", t0) == Verdict::kAdmit);
}

TEST_CASE("Admission: AtCap says whether a cap would refuse, without spending a token") {
  auto limits = Limits();
  limits.accept_burst_per_source = 5;
  Admission a(limits);
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(a.AtCap(ListenerKind::kAgent, "10.0.0.1"));
    CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kAdmit);
  }
  CHECK(a.AtCap(ListenerKind::kAgent, "10.0.0.1"));       // its source cap
  CHECK_FALSE(a.AtCap(ListenerKind::kAgent, "10.0.0.2"));
  for (int i = 0; i < 10; ++i) a.AtCap(ListenerKind::kAgent, "10.0.0.1");
  a.Release(ListenerKind::kAgent, "10.0.0.1", t0);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kAdmit);  // the 5th token: none spent by AtCap
  a.Release(ListenerKind::kAgent, "10.0.0.1", t0);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kOverRate);
  for (const char* source : {"10.0.0.2", "10.0.0.3", "10.0.0.4"})
    CHECK(a.TryAdmit(ListenerKind::kAgent, source, t0) == Verdict::kAdmit);
  CHECK(a.Active(ListenerKind::kAgent) == 6);
  CHECK(a.AtCap(ListenerKind::kAgent, "10.0.0.5"));  // the listener's cap
  for (const char* source : {"10.0.0.5", "10.0.0.6", "10.0.0.7"})
    CHECK(a.TryAdmit(ListenerKind::kEnroll, source, t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kOperator, "10.0.0.8", t0) == Verdict::kAdmit);
  CHECK(a.Active() == 10);
  CHECK(a.AtCap(ListenerKind::kOperator, "10.0.0.9"));  // the global cap
}

TEST_CASE("Admission: a release of something never admitted does not open the caps") {
  Admission a(Limits());
  a.Release(ListenerKind::kAgent, "10.0.0.1", t0);
  CHECK(a.Active() == 0);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kAdmit);
  a.Release(ListenerKind::kEnroll, "10.0.0.1", t0);  // admitted on agent, not enroll
  CHECK(a.Active(ListenerKind::kAgent) == 1);
  CHECK(a.Active() == 1);
}

TEST_CASE("Admission: the accept rate per source is a token bucket, spent by refused attempts too") {
  auto l = Limits();
  l.accept_burst_per_source = 3;
  l.max_connections_per_source = 1;
  Admission a(l);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kOverSourceCap);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kOverSourceCap);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kOverRate);  // burst of 3 spent
  a.Release(ListenerKind::kAgent, "10.0.0.1", t0);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0 + 100ms) == Verdict::kOverRate);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0 + 600ms) == Verdict::kAdmit);  // 2/s refilled one
  // Other sources are not slowed down.
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.2", t0 + 600ms) == Verdict::kAdmit);
}

TEST_CASE("Admission: sources are forgotten once idle and refilled, and their number is bounded") {
  auto l = Limits();
  l.accept_burst_per_source = 2;
  l.accepts_per_second_per_source = 1;
  Admission a(l, /*max_sources=*/2);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.1", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.2", t0) == Verdict::kAdmit);
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.3", t0) == Verdict::kSourceTableFull);
  a.Release(ListenerKind::kAgent, "10.0.0.1", t0);
  CHECK(a.TrackedSources() == 2);  // its bucket is not full yet: it must be remembered
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.3", t0 + 500ms) == Verdict::kSourceTableFull);
  // Two seconds later the bucket is full again: a full table sweeps it away.
  CHECK(a.TryAdmit(ListenerKind::kAgent, "10.0.0.3", t0 + 2s) == Verdict::kAdmit);
  CHECK(a.TrackedSources() == 2);
  a.Release(ListenerKind::kAgent, "10.0.0.2", t0 + 2s);
  a.Release(ListenerKind::kAgent, "10.0.0.3", t0 + 2s);
  a.Sweep(t0 + 10s);
  CHECK(a.TrackedSources() == 0);
  CHECK(a.Active() == 0);
}

TEST_CASE("Admission: a source is an IPv4 address or an IPv6 /64") {
  CHECK(SourceKeyOf("203.0.113.7") == "203.0.113.7");
  CHECK(SourceKeyOf("::ffff:203.0.113.7") == "203.0.113.7");
  CHECK(SourceKeyOf("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64");
  CHECK(SourceKeyOf("2001:db8:1:2::99") == SourceKeyOf("2001:db8:1:2:ffff::1"));
  CHECK(SourceKeyOf("2001:db8:1:3::1") != SourceKeyOf("2001:db8:1:2::1"));
  CHECK(SourceKeyOf("fe80::1%eth0") == "fe80::/64");
  CHECK(SourceKeyOf("not an address") == "not an address");
}
