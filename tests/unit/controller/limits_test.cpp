// The controller's flood bounds: time is passed in, so these run without sleeping.
#include <catch2/catch.hpp>

#include "controller/api/limits.h"

using namespace edge::controller;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

TEST_CASE("WorkQueueLimit admits up to its limit and again after a release", "[limits]") {
  WorkQueueLimit limit(2);
  CHECK(limit.TryAcquire());
  CHECK(limit.TryAcquire());
  CHECK_FALSE(limit.TryAcquire());
  CHECK(limit.pending() == 2);
  limit.Release();
  CHECK(limit.TryAcquire());
}

TEST_CASE("TokenBucket allows a burst, then the rate", "[limits]") {
  TokenBucket bucket(5, 3);
  const auto t0 = SteadyClock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) CHECK(bucket.Take(t0) == SteadyClock::duration::zero());
  const auto wait = bucket.Take(t0);
  CHECK(wait > 150ms);
  CHECK(wait <= 200ms);
  // The waiting event reserved its token: the next one waits a further interval.
  const auto next = bucket.Take(t0);
  CHECK(next > 350ms);
  CHECK(next <= 400ms);
  CHECK(bucket.Take(t0 + 600ms) == SteadyClock::duration::zero());
  CHECK(bucket.Take(t0 + 10s) == SteadyClock::duration::zero());  // refilled, capped at the burst
  CHECK(bucket.Take(t0 + 10s) == SteadyClock::duration::zero());
  CHECK(bucket.Take(t0 + 10s) == SteadyClock::duration::zero());
  CHECK(bucket.Take(t0 + 10s) != SteadyClock::duration::zero());
}

TEST_CASE("FailureLimiter refuses a source after its burst of failures, per source", "[limits]") {
  FailureLimiter limiter(1.0 / 6, 5);
  const auto t0 = SteadyClock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) {
    CHECK(limiter.Allowed("10.0.0.1", t0));
    limiter.RecordFailure("10.0.0.1", t0);
  }
  CHECK_FALSE(limiter.Allowed("10.0.0.1", t0));
  CHECK(limiter.Allowed("10.0.0.2", t0));
  CHECK_FALSE(limiter.Allowed("10.0.0.1", t0 + 5s));
  CHECK(limiter.Allowed("10.0.0.1", t0 + 7s));
}

TEST_CASE("FailureLimiter's table stays bounded when sources rotate", "[limits]") {
  FailureLimiter limiter(1.0, 2, 100);
  const auto t0 = SteadyClock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) limiter.RecordFailure("src-" + std::to_string(i), t0 + std::chrono::milliseconds(i));
  CHECK(limiter.tracked() <= 100);
}

TEST_CASE("SourceAddressOf strips the scheme and port of a gRPC peer", "[limits]") {
  CHECK(SourceAddressOf("ipv4:10.0.0.5:51234") == "10.0.0.5");
  CHECK(SourceAddressOf("ipv6:[::1]:443") == "::1");
  CHECK(SourceAddressOf("ipv6:[2001:db8::7]:9") == "2001:db8::7");
  CHECK(SourceAddressOf("unix:/run/x.sock") == "unix:/run/x.sock");
}

TEST_CASE("RefusalAuditLimiter writes a burst per operator then one per period with the count", "[limits][audit]") {
  RefusalAuditLimiter limiter(1.0 / 10, 5);
  const auto t0 = SteadyClock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) CHECK(limiter.Admit("operator/mallory", t0) == std::optional<uint64_t>(0));
  for (int i = 0; i < 100; ++i) CHECK_FALSE(limiter.Admit("operator/mallory", t0 + 1s));
  // Another operator is not held back by mallory's flood.
  CHECK(limiter.Admit("operator/alice", t0 + 1s) == std::optional<uint64_t>(0));
  CHECK_FALSE(limiter.Admit("operator/mallory", t0 + 9s));
  // One token back after 10 s: the row carries the 101 refusals not written.
  CHECK(limiter.Admit("operator/mallory", t0 + 10s) == std::optional<uint64_t>(101));
  CHECK_FALSE(limiter.Admit("operator/mallory", t0 + 11s));
  CHECK(limiter.Admit("operator/mallory", t0 + 20s) == std::optional<uint64_t>(1));
  // A steady flood of 1000 refusals a second for a minute: 6 rows.
  int rows = 0;
  for (int ms = 0; ms < 60000; ++ms)
    if (limiter.Admit("operator/mallory", t0 + 21s + std::chrono::milliseconds(ms))) ++rows;
  CHECK(rows == 6);
}

TEST_CASE("RefusalAuditLimiter keeps its table bounded", "[limits][audit]") {
  RefusalAuditLimiter limiter(1.0 / 10, 5, 4);
  const auto t0 = SteadyClock::time_point{} + 1h;
  for (int i = 0; i < 100; ++i) CHECK(limiter.Admit("operator/op" + std::to_string(i), t0));
  CHECK(limiter.tracked() <= 4);
}
