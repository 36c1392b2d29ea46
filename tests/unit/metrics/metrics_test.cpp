#include <catch2/catch.hpp>
#include <limits>
#include <thread>

#include "common/metrics/memory_registry.h"

using namespace edge::metrics;

TEST_CASE("a family returns the same child for the same labels") {
  MemoryRegistry r;
  auto& family = r.Counters("edgefleet_test_total", "test");
  auto& a = family.With({{"model", "kws"}, {"version", "v1"}});
  auto& b = family.With({{"model", "kws"}, {"version", "v1"}});
  CHECK(&a == &b);
  a.Increment();
  b.Add(2);
  CHECK(r.Value("edgefleet_test_total", {{"model", "kws"}, {"version", "v1"}}) == 3);
  CHECK(&r.Counters("edgefleet_test_total", "again") == &family);
}

TEST_CASE("label sets past the cap share one overflow child") {
  MemoryRegistry r;
  auto& family = r.Gauges("edgefleet_test", "test");
  for (size_t i = 0; i < kMaxSeriesPerFamily; ++i)
    family.With({{"version", "v" + std::to_string(i)}}).Set(1);
  CHECK(family.series() == kMaxSeriesPerFamily);
  auto& over1 = family.With({{"version", "hostile-1"}});
  auto& over2 = family.With({{"version", "hostile-2"}});
  CHECK(&over1 == &over2);
  CHECK(family.series() == kMaxSeriesPerFamily + 1);
  // Label sets seen before the cap keep their own child.
  family.With({{"version", "v7"}}).Set(5);
  CHECK(r.Value("edgefleet_test", {{"version", "v7"}}) == 5);
  CHECK(r.Value("edgefleet_test", {{"version", kOverflowValue}}) == 0);
}

TEST_CASE("histograms count into the bucket at or above the value") {
  MemoryRegistry r;
  auto& h = r.Histograms("edgefleet_test_seconds", "test", {0.1, 1}).With({});
  h.Observe(0.05);
  h.Observe(0.1);
  h.Observe(0.5);
  h.Observe(7);
  const auto v = r.HistogramOf("edgefleet_test_seconds");
  CHECK(v.counts == std::vector<uint64_t>{2, 1, 1});
  CHECK(v.count == 4);
  CHECK(v.sum == Approx(7.65));
}

TEST_CASE("the discarding registry takes anything and keeps nothing") {
  auto& family = Discard().Counters("edgefleet_test_total", "test");
  for (int i = 0; i < 1000; ++i) family.With({{"version", std::to_string(i)}}).Increment();
  CHECK(family.series() == 1);
  Discard().Histograms("x", "y", LatencyBucketsSeconds()).With({}).Observe(1);
}

TEST_CASE("counters are exact under concurrent increments") {
  MemoryRegistry r;
  auto& c = r.Counters("edgefleet_test_total", "test").With({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Increment();
    });
  for (auto& t : threads) t.join();
  CHECK(r.Value("edgefleet_test_total") == 40000);
}

TEST_CASE("the registry writes the Prometheus text format") {
  edge::metrics::MemoryRegistry r;
  r.Counters("b_total", "B's help\nwith a \\ newline").With({{"method", "a\"b\\c\nd"}}).Add(2.5);
  r.Counters("b_total", "ignored: the first help stays").With({{"method", "x"}}).Add(1);
  r.Gauges("a_gauge", "A").With({}).Set(-std::numeric_limits<double>::infinity());
  auto& h = r.Histograms("c_seconds", "C", {0.1, 1}).With({{"model", "kws"}});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  CHECK(r.Exposition() ==
        "# HELP a_gauge A\n"
        "# TYPE a_gauge gauge\n"
        "a_gauge -Inf\n"
        "# HELP b_total B's help\\nwith a \\\\ newline\n"
        "# TYPE b_total counter\n"
        "b_total{method=\"a\\\"b\\\\c\\nd\"} 2.5\n"
        "b_total{method=\"x\"} 1\n"
        "# HELP c_seconds C\n"
        "# TYPE c_seconds histogram\n"
        "c_seconds_bucket{model=\"kws\",le=\"0.1\"} 1\n"
        "c_seconds_bucket{model=\"kws\",le=\"1\"} 2\n"
        "c_seconds_bucket{model=\"kws\",le=\"+Inf\"} 3\n"
        "c_seconds_sum{model=\"kws\"} 5.55\n"
        "c_seconds_count{model=\"kws\"} 3\n");
}
