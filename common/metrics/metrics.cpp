#include "common/metrics/metrics.h"

namespace edge::metrics {

namespace {

class Nothing final : public Counter, public Gauge, public Histogram {
 public:
  void Add(double) override {}
  void Set(double) override {}
  void Observe(double) override {}
};

template <typename Metric>
class NothingFamily final : public Family<Metric> {
 public:
  // One series: every label set is the same no-op child, so nothing is ever stored.
  NothingFamily() : Family<Metric>(0) {}

 protected:
  Metric& Create(const Labels&) override { return nothing_; }

 private:
  Nothing nothing_;
};

class DiscardRegistry final : public Registry {
 public:
  Family<Counter>& Counters(const std::string&, const std::string&) override { return counters_; }
  Family<Gauge>& Gauges(const std::string&, const std::string&) override { return gauges_; }
  Family<Histogram>& Histograms(const std::string&, const std::string&,
                                const std::vector<double>&) override {
    return histograms_;
  }

 private:
  NothingFamily<Counter> counters_;
  NothingFamily<Gauge> gauges_;
  NothingFamily<Histogram> histograms_;
};

}  // namespace

Registry& Discard() {
  static DiscardRegistry registry;
  return registry;
}

const std::vector<double>& LatencyBucketsSeconds() {
  static const std::vector<double> buckets = {
      0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
  return buckets;
}

}  // namespace edge::metrics
