// The metrics the daemons export, as the code that counts sees them: counters, gauges and
// histograms in labelled families. Pure: no HTTP here (the daemons' /metrics endpoint serves a
// MemoryRegistry, endpoint.h), so the code that counts is tested with MemoryRegistry and runs
// with Discard() where metrics are off.
//
// Contract: every method is thread-safe. A child returned by With() lives as long as its
// registry, so callers look a child up once (when a model version is loaded, a method first
// called) and keep the reference: Add/Set/Observe on a child never allocate.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace edge::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  virtual ~Counter() = default;
  virtual void Add(double amount) = 0;  // amount >= 0
  void Increment() { Add(1.0); }
};

class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void Set(double value) = 0;
};

class Histogram {
 public:
  virtual ~Histogram() = default;
  virtual void Observe(double value) = 0;
};

// A family bounds its label sets: a scrape stays small whatever values reach the labels. Past
// kMaxSeriesPerFamily distinct sets, every new set is counted in one overflow child whose label
// values are all kOverflowValue.
inline constexpr size_t kMaxSeriesPerFamily = 256;
inline constexpr const char* kOverflowValue = "_overflow";

template <typename Metric>
class Family {
 public:
  virtual ~Family() = default;
  Metric& With(const Labels& labels) {
    std::lock_guard lock(mu_);
    if (auto it = children_.find(labels); it != children_.end()) return *it->second;
    Labels key = labels;
    if (children_.size() >= max_series_) {
      for (auto& [name, value] : key) value = kOverflowValue;
      if (auto it = children_.find(key); it != children_.end()) return *it->second;
    }
    Metric& child = Create(key);
    children_.emplace(std::move(key), &child);
    return child;
  }
  size_t series() const {
    std::lock_guard lock(mu_);
    return children_.size();
  }

 protected:
  explicit Family(size_t max_series = kMaxSeriesPerFamily) : max_series_(max_series) {}
  // A new child for `labels`, owned by the implementation for the registry's lifetime.
  virtual Metric& Create(const Labels& labels) = 0;

 private:
  mutable std::mutex mu_;
  std::map<Labels, Metric*> children_;  // guarded by mu_; the overflow child counts as one
  const size_t max_series_;
};

class Registry {
 public:
  virtual ~Registry() = default;
  // The family named `name` (Prometheus naming: [a-zA-Z_:][a-zA-Z0-9_:]*), created on first
  // call; later calls with the same name return it. Families live as long as the registry.
  virtual Family<Counter>& Counters(const std::string& name, const std::string& help) = 0;
  virtual Family<Gauge>& Gauges(const std::string& name, const std::string& help) = 0;
  // `upper_bounds` ascending; the +Inf bucket is implied.
  virtual Family<Histogram>& Histograms(const std::string& name, const std::string& help,
                                        const std::vector<double>& upper_bounds) = 0;
};

// A registry whose children do nothing: metrics off (no metrics_listen).
Registry& Discard();

// Latency buckets in seconds, 1-2-5 steps from 100 µs to 10 s (controller RPCs, store operations).
const std::vector<double>& LatencyBucketsSeconds();

}  // namespace edge::metrics
