#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <thread>

#include "agent/serve/registry.h"
#include "common/metrics/memory_registry.h"
#include "tests/unit/serve/serve_fixtures.h"

namespace edge::serve {
namespace {

using testing::LoadZoo;
using testing::MlpSample;
using testing::RunDirect;

std::vector<float> RunLease(ServedVersion& served, const std::vector<float>& input, Status* status = nullptr) {
  ContextLease lease = served.Acquire();
  std::copy(input.begin(), input.end(), lease.input(0).begin());
  Status s = lease.Run();
  if (status) *status = s;
  auto out = lease.output(0);
  return std::vector<float>(out.begin(), out.end());
}

TEST_CASE("registry: each run is counted for /metrics under its model version") {
  metrics::MemoryRegistry counted;
  Registry registry(4, engine::KernelTier::kAuto, counted);
  registry.Activate("mlp", "v1", LoadZoo(testing::kMlpQuantized));
  auto v1 = registry.Find("mlp", "");
  REQUIRE(v1.has_value());
  for (int i = 0; i < 3; ++i) RunLease(**v1, MlpSample(i));
  const metrics::Labels labels = {{"model", "mlp"}, {"version", "v1"}};
  CHECK(counted.Value("edgefleet_agent_inferences_total", labels) == 3);
  CHECK(counted.Value("edgefleet_agent_inference_errors_total", labels) == 0);
  const auto latency = counted.HistogramOf("edgefleet_agent_inference_duration_seconds", labels);
  CHECK(latency.count == 3);
  CHECK(latency.upper_bounds.size() == LatencyHistogram::kBuckets - 1);  // the health reports' buckets
  CHECK(latency.upper_bounds.front() == Approx(10e-6));
  // A swap starts the new version's series; the old one keeps its count.
  registry.Activate("mlp", "v2", LoadZoo(testing::kMlpQuantized));
  RunLease(**registry.Find("mlp", ""), MlpSample(0));
  CHECK(counted.Value("edgefleet_agent_inferences_total", {{"model", "mlp"}, {"version", "v2"}}) == 1);
  CHECK(counted.Value("edgefleet_agent_inferences_total", labels) == 3);
}

TEST_CASE("registry: activate, look up by name and version, remove") {
  Registry registry;
  CHECK(registry.size() == 0);
  auto missing = registry.Find("mlp", "");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message, Catch::Contains("'mlp' is not served"));

  registry.Activate("mlp", "v1", LoadZoo(testing::kMlpQuantized));
  auto found = registry.Find("mlp", "");
  REQUIRE(found.has_value());
  CHECK((*found)->version() == "v1");
  CHECK((*found)->model_name() == "mlp");
  CHECK(registry.Find("mlp", "v1").has_value());

  auto wrong = registry.Find("mlp", "v2");
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().code == ErrorCode::kNotFound);
  CHECK_THAT(wrong.error().message, Catch::Contains("'v2' is not served (serving 'v1')"));

  registry.Activate("mlp", "v2", LoadZoo(testing::kMlpFloat));
  CHECK((*registry.Find("mlp", ""))->version() == "v2");
  CHECK_FALSE(registry.Find("mlp", "v1").has_value());
  registry.Activate("kws", "7", LoadZoo("ds_cnn_kws.qdq.onnx"));
  auto list = registry.List();
  REQUIRE(list.size() == 2);
  CHECK(list[0].model == "kws");
  CHECK(list[0].version == "7");
  CHECK(list[1].model == "mlp");
  CHECK(list[1].version == "v2");

  registry.Remove("mlp");
  registry.Remove("never-served");  // no-op
  CHECK_FALSE(registry.Find("mlp", "").has_value());
  CHECK(registry.size() == 1);
}

TEST_CASE("registry: a request holding the old version finishes on it after a swap") {
  Registry registry;
  auto v1 = LoadZoo(testing::kMlpQuantized);
  registry.Activate("mlp", "v1", v1);
  auto held = *registry.Find("mlp", "");
  registry.Activate("mlp", "v2", LoadZoo(testing::kMlpFloat));
  registry.Remove("mlp");
  const auto input = MlpSample(0);
  Status status;
  CHECK(RunLease(*held, input, &status) == RunDirect(v1, input));
  CHECK(status.has_value());
  CHECK(held->version() == "v1");
}

TEST_CASE("registry: runs and errors are counted per version, and a swap starts fresh stats") {
  Registry registry;
  registry.Activate("mlp", "v1", LoadZoo(testing::kMlpFloat));
  auto served = *registry.Find("mlp", "");
  for (int i = 0; i < 3; ++i) RunLease(*served, MlpSample(i));

  auto stats = registry.Snapshot("mlp");
  REQUIRE(stats.has_value());
  CHECK(stats->model == "mlp");
  CHECK(stats->version == "v1");
  CHECK(stats->inferences == 3);
  CHECK(stats->errors == 0);
  uint64_t in_buckets = 0;
  for (auto c : stats->latency_buckets) in_buckets += c;
  CHECK(in_buckets == 3);
  CHECK(stats->p50_us > 0.0);
  CHECK(stats->p99_us >= stats->p50_us);

  registry.Activate("mlp", "v2", LoadZoo(testing::kMlpFloat));
  stats = registry.Snapshot("mlp");
  CHECK(stats->version == "v2");
  CHECK(stats->inferences == 0);
  CHECK(registry.Snapshot("other").error().code == ErrorCode::kNotFound);
}

TEST_CASE("registry: a non-finite output is an error that names the model and counts in the stats") {
  Registry registry;
  registry.Activate("mlp", "v9", LoadZoo(testing::kMlpFloat));
  auto served = *registry.Find("mlp", "");
  std::vector<float> input(64, 3e38f);  // finite, but the fp32 MLP overflows on it
  Status status;
  RunLease(*served, input, &status);
  REQUIRE_FALSE(status.has_value());
  CHECK(status.error().code == ErrorCode::kInternal);
  CHECK_THAT(status.error().message, Catch::Contains("model mlp:v9 produced a non-finite output"));
  auto stats = *registry.Snapshot("mlp");
  CHECK(stats.inferences == 1);
  CHECK(stats.errors == 1);
}

TEST_CASE("registry: contexts are pooled, reused, and bounded") {
  Registry registry(2);
  registry.Activate("mlp", "v1", LoadZoo(testing::kMlpQuantized));
  auto served = *registry.Find("mlp", "");
  const float* first_buffer = nullptr;
  {
    auto lease = served->Acquire();
    first_buffer = lease.input(0).data();
  }
  {
    auto lease = served->Acquire();
    CHECK(lease.input(0).data() == first_buffer);  // the same pooled context came back
  }
  auto a = served->Acquire();
  auto b = served->Acquire();
  std::atomic<bool> got_third{false};
  std::thread waiter([&] {
    auto c = served->Acquire();  // blocks: both contexts are leased
    got_third = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(got_third.load());
  { auto released = std::move(a); }
  waiter.join();
  CHECK(got_third.load());
}

TEST_CASE("registry: latency histogram buckets and percentiles") {
  LatencyHistogram h;
  CHECK(LatencyHistogram::PercentileUs(h.Snapshot(), 50) == 0.0);
  CHECK(LatencyHistogram::BucketUpperNs(0) == 10'000);
  CHECK(LatencyHistogram::BucketUpperNs(LatencyHistogram::kBuckets - 2) == 10'000'000'000);
  CHECK(LatencyHistogram::BucketUpperNs(LatencyHistogram::kBuckets - 1) == std::numeric_limits<int64_t>::max());
  for (size_t i = 1; i + 1 < LatencyHistogram::kBuckets; ++i) {
    CHECK(LatencyHistogram::BucketUpperNs(i) > LatencyHistogram::BucketUpperNs(i - 1));
  }

  // 98 fast samples (15 µs, bucket 10..20 µs), 2 slow ones (3 ms, bucket 2..5 ms).
  for (int i = 0; i < 98; ++i) h.Record(15'000);
  h.Record(3'000'000);
  h.Record(3'000'000);
  const auto counts = h.Snapshot();
  CHECK(counts[1] == 98);
  CHECK(counts[8] == 2);
  const double p50 = LatencyHistogram::PercentileUs(counts, 50);
  CHECK(p50 > 10.0);
  CHECK(p50 <= 20.0);
  const double p99 = LatencyHistogram::PercentileUs(counts, 99);
  CHECK(p99 > 2000.0);
  CHECK(p99 <= 5000.0);
  CHECK(LatencyHistogram::PercentileUs(counts, 100) == Approx(5000.0));

  // Edges: a sample exactly on a bound falls in that bucket; beyond 10 s is the overflow bucket.
  LatencyHistogram edges;
  edges.Record(10'000);
  edges.Record(0);
  edges.Record(int64_t{60} * 1'000'000'000);
  const auto e = edges.Snapshot();
  CHECK(e[0] == 2);
  CHECK(e[LatencyHistogram::kBuckets - 1] == 1);
  CHECK(LatencyHistogram::PercentileUs(e, 100) == Approx(10'000'000.0));
}

TEST_CASE("registry: concurrent lookups and runs while versions are swapped") {
  Registry registry(2);
  auto quantized = LoadZoo(testing::kMlpQuantized);
  registry.Activate("mlp", "a", quantized);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  const auto input = MlpSample(1);
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        auto served = registry.Find("mlp", "");
        if (!served) { ++failures; continue; }
        auto lease = (*served)->Acquire();
        std::copy(input.begin(), input.end(), lease.input(0).begin());
        if (!lease.Run()) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) registry.Activate("mlp", i % 2 ? "a" : "b", quantized);
  stop = true;
  for (auto& w : workers) w.join();
  CHECK(failures.load() == 0);
}

}  // namespace
}  // namespace edge::serve
