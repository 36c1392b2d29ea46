// A Registry that keeps values in memory and answers what they are: the tests of code that
// counts read single values; the daemons' /metrics endpoint (http_endpoint.cpp) serves
// Exposition(), the Prometheus text format.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"

namespace edge::metrics {

class MemoryRegistry final : public Registry {
 public:
  struct HistogramValue {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> counts;  // per bucket, the last one +Inf (not cumulative)
    uint64_t count = 0;
    double sum = 0;
  };

  Family<Counter>& Counters(const std::string& name, const std::string& help) override;
  Family<Gauge>& Gauges(const std::string& name, const std::string& help) override;
  Family<Histogram>& Histograms(const std::string& name, const std::string& help,
                                const std::vector<double>& upper_bounds) override;

  // The value of a counter or gauge child; 0 when it was never created.
  double Value(const std::string& name, const Labels& labels = {}) const;
  // A histogram child's buckets; empty when it was never created.
  HistogramValue HistogramOf(const std::string& name, const Labels& labels = {}) const;
  // Label sets of a family's children.
  std::vector<Labels> SeriesOf(const std::string& name) const;

  // Every family in the Prometheus text exposition format 0.0.4, families and series in name
  // order: "# HELP", "# TYPE", then one line per series (histograms: cumulative _bucket lines
  // with le, then _sum and _count). Label values and help are escaped as the format says.
  std::string Exposition() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> help_;  // by family name
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
};

}  // namespace edge::metrics
