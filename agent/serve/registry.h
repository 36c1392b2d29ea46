// The set of model versions the agent serves, shared by the inference API and the daemon.
//
// Contract: every method is thread-safe. Activate() switches the version that NEW requests of a
// model get, atomically; a request that already holds its ServedVersion (a shared_ptr) finishes
// on it, so a swap fails no request (DESIGN §7). Each served version owns a bounded pool of
// engine::ExecutionContexts, reused across requests, and its own statistics (inferences,
// errors, latency histogram); a swap therefore starts the new version's statistics at zero.
// No gRPC here: the registry is plain C++ over the engine, testable without a socket.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/engine/engine.h"
#include "common/core/result.h"
#include "common/metrics/metrics.h"

namespace edge::serve {

// Latencies in log-spaced buckets (1-2-5 steps from 10 µs to 10 s, then one overflow bucket),
// recorded with relaxed atomics: Record() never takes a lock and never allocates.
class LatencyHistogram {
 public:
  static constexpr size_t kBuckets = 20;
  using Counts = std::array<uint64_t, kBuckets>;

  // Inclusive upper bound of bucket i in nanoseconds; the last bucket has no bound (INT64_MAX).
  static int64_t BucketUpperNs(size_t i);
  // Estimate of the p-th percentile (0 < p <= 100) in microseconds: the nearest-rank sample's
  // bucket, interpolated linearly inside it. 0 when there are no samples.
  static double PercentileUs(const Counts& counts, double p);

  void Record(int64_t ns);
  Counts Snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

struct Stats {
  std::string model;
  std::string version;
  uint64_t inferences = 0;  // runs of the model, failed ones included
  uint64_t errors = 0;      // runs that failed or produced a non-finite output
  // Requests refused as the client's error before the model ran (unknown input, wrong shape or
  // dtype, NaN/Inf in an input, ...). Not inferences and not errors: a local client's bad input
  // says nothing about the model, so probation and health reports never count it against it.
  uint64_t rejected = 0;
  LatencyHistogram::Counts latency_buckets{};  // see LatencyHistogram::BucketUpperNs
  double p50_us = 0.0;
  double p99_us = 0.0;
};

struct ServedInfo {
  std::string model;
  std::string version;
};

class ServedVersion;

// A served version's /metrics children ({model, version}), looked up once when the version is
// activated so that a run only adds to them: no lookup, no allocation per inference.
struct InferenceMetrics {
  metrics::Counter& inferences;
  metrics::Counter& errors;
  metrics::Histogram& latency_seconds;

  static InferenceMetrics For(metrics::Registry& registry, const std::string& model, const std::string& version);
};

// One request's exclusive hold on a pooled ExecutionContext and its float buffers. Fill the
// inputs, Run(), read the outputs; the destructor gives the context back to the pool. Keeps the
// version alive, whatever swaps happen meanwhile.
class ContextLease {
 public:
  ContextLease(ContextLease&&) noexcept;
  ContextLease& operator=(ContextLease&&) = delete;
  ~ContextLease();

  // Sizes the buffers for a batch of `batch` samples of a batch-dynamic model, as
  // Model::ShapesFor(batch) gave `shapes`; later Run() calls run that batch. A lease starts at 1.
  void Bind(int64_t batch, const engine::BatchShapes& shapes);

  // inputs()[i] / outputs()[i] of the model (at the bound batch): that many floats, C order.
  std::span<float> input(size_t i);
  std::span<const float> output(size_t i) const;

  // Runs the model on the input buffers and records the run in the version's statistics. A
  // NaN or Inf in any output is an error (kInternal, "model M:V produced a non-finite output
  // ...") and counts as one: it is a health signal probation acts on.
  Status Run();

 private:
  friend class ServedVersion;
  struct Slot;
  ContextLease(std::shared_ptr<ServedVersion> version, std::unique_ptr<Slot> slot);

  std::shared_ptr<ServedVersion> version_;
  std::unique_ptr<Slot> slot_;
};

class ServedVersion : public std::enable_shared_from_this<ServedVersion> {
 public:
  ServedVersion(std::string model_name, std::string version,
                std::shared_ptr<const engine::Model> model, int max_contexts,
                engine::KernelTier tier, InferenceMetrics metrics);
  ~ServedVersion();

  const std::string& model_name() const { return model_name_; }
  const std::string& version() const { return version_; }
  const engine::Model& model() const { return *model_; }

  // Takes a free context, creates one while fewer than the bound exist, else waits for one.
  ContextLease Acquire();
  // Applies to later Acquire() calls; contexts above a lowered bound are dropped when returned.
  void SetMaxContexts(int max_contexts);

  Stats Snapshot() const;
  // A batch-dynamic model's shapes at batch 2 (for ModelMetadata to show which dimensions follow
  // the batch), planned once per version; null for a fixed-shape model or when batch 2 cannot
  // be planned.
  const engine::BatchShapes* ShapesAtBatchTwo() const;
  // Counts one request refused as the client's error (Stats::rejected).
  void RecordRejected();

 private:
  friend class ContextLease;
  void Release(std::unique_ptr<ContextLease::Slot> slot);
  void RecordRun(int64_t ns, bool ok);

  const std::string model_name_;
  const std::string version_;
  const std::shared_ptr<const engine::Model> model_;
  const engine::KernelTier tier_;

  mutable std::mutex pool_mutex_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<ContextLease::Slot>> free_;
  int created_ = 0;  // contexts in existence, free or leased
  int max_contexts_;

  mutable std::once_flag batch_two_once_;
  mutable std::optional<engine::BatchShapes> batch_two_;

  std::atomic<uint64_t> inferences_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> rejected_{0};
  LatencyHistogram latency_;
  const InferenceMetrics metrics_;
};

class Registry {
 public:
  // `metrics`: where each served version's inferences, errors and latencies are also counted
  // for /metrics (edgefleet_agent_inference*).
  explicit Registry(int max_contexts_per_version = 4,
                    engine::KernelTier tier = engine::KernelTier::kAuto,
                    metrics::Registry& metrics = metrics::Discard());

  // Makes `version` the one new requests for `model` get. Replacing the same version name
  // also replaces its statistics.
  void Activate(const std::string& model, const std::string& version,
                std::shared_ptr<const engine::Model> loaded);
  // Stops serving `model`; requests in flight finish. No-op when it is not served.
  void Remove(const std::string& model);

  // The version a request should run on: the serving one when `version` is empty, else that
  // version if it is the serving one. kNotFound names what is served instead.
  Result<std::shared_ptr<ServedVersion>> Find(std::string_view model, std::string_view version) const;

  // Statistics of the serving version of `model`; kNotFound when it is not served.
  Result<Stats> Snapshot(const std::string& model) const;
  std::vector<ServedInfo> List() const;
  size_t size() const;

  // Bound on pooled contexts per version, for versions served now and later (at least 1).
  void SetMaxContextsPerVersion(int max_contexts);

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<ServedVersion>, std::less<>> served_;
  int max_contexts_;
  const engine::KernelTier tier_;
  metrics::Registry& metrics_;
};

}  // namespace edge::serve
