#include "common/metrics/memory_registry.h"

#include <algorithm>

namespace edge::metrics {

namespace {

class Cell final : public Counter, public Gauge {
 public:
  void Add(double amount) override { value_.fetch_add(amount, std::memory_order_relaxed); }
  void Set(double value) override { value_.store(value, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class HistogramCell final : public Histogram {
 public:
  explicit HistogramCell(const std::vector<double>& upper_bounds) {
    value_.upper_bounds = upper_bounds;
    value_.counts.assign(upper_bounds.size() + 1, 0);
  }
  void Observe(double v) override {
    const auto bucket =
        std::lower_bound(value_.upper_bounds.begin(), value_.upper_bounds.end(), v) -
        value_.upper_bounds.begin();
    std::lock_guard lock(mu_);
    ++value_.counts[static_cast<size_t>(bucket)];
    ++value_.count;
    value_.sum += v;
  }
  MemoryRegistry::HistogramValue value() const {
    std::lock_guard lock(mu_);
    return value_;
  }

 private:
  mutable std::mutex mu_;
  MemoryRegistry::HistogramValue value_;
};

template <typename Metric, typename Child>
class MemoryFamily final : public Family<Metric> {
 public:
  explicit MemoryFamily(std::vector<double> upper_bounds = {})
      : upper_bounds_(std::move(upper_bounds)) {}

  const Child* Find(const Labels& labels) const {
    std::lock_guard lock(mu_);
    auto it = owned_.find(labels);
    return it == owned_.end() ? nullptr : it->second.get();
  }
  std::vector<Labels> Series() const {
    std::lock_guard lock(mu_);
    std::vector<Labels> out;
    for (const auto& [labels, child] : owned_) out.push_back(labels);
    return out;
  }

 protected:
  Metric& Create(const Labels& labels) override {
    std::lock_guard lock(mu_);
    std::unique_ptr<Child> child;
    if constexpr (std::is_same_v<Child, HistogramCell>)
      child = std::make_unique<Child>(upper_bounds_);
    else
      child = std::make_unique<Child>();
    return *(owned_[labels] = std::move(child));
  }

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<Child>> owned_;
};

using CounterFamily = MemoryFamily<Counter, Cell>;
using GaugeFamily = MemoryFamily<Gauge, Cell>;
using HistogramFamily = MemoryFamily<Histogram, HistogramCell>;

template <typename Concrete, typename Map, typename... Args>
auto& FindOrAdd(std::mutex& mu, Map& families, const std::string& name, Args&&... args) {
  std::lock_guard lock(mu);
  auto& slot = families[name];
  if (!slot) slot = std::make_unique<Concrete>(std::forward<Args>(args)...);
  return *slot;
}

template <typename Concrete, typename Map>
const Concrete* FamilyOf(std::mutex& mu, const Map& families, const std::string& name) {
  std::lock_guard lock(mu);
  auto it = families.find(name);
  return it == families.end() ? nullptr : static_cast<const Concrete*>(it->second.get());
}

}  // namespace

Family<Counter>& MemoryRegistry::Counters(const std::string& name, const std::string&) {
  return FindOrAdd<CounterFamily>(mu_, counters_, name);
}

Family<Gauge>& MemoryRegistry::Gauges(const std::string& name, const std::string&) {
  return FindOrAdd<GaugeFamily>(mu_, gauges_, name);
}

Family<Histogram>& MemoryRegistry::Histograms(const std::string& name, const std::string&,
                                              const std::vector<double>& upper_bounds) {
  return FindOrAdd<HistogramFamily>(mu_, histograms_, name, upper_bounds);
}

double MemoryRegistry::Value(const std::string& name, const Labels& labels) const {
  if (const auto* family = FamilyOf<CounterFamily>(mu_, counters_, name))
    if (const auto* cell = family->Find(labels)) return cell->value();
  if (const auto* family = FamilyOf<GaugeFamily>(mu_, gauges_, name))
    if (const auto* cell = family->Find(labels)) return cell->value();
  return 0;
}

MemoryRegistry::HistogramValue MemoryRegistry::HistogramOf(const std::string& name,
                                                           const Labels& labels) const {
  if (const auto* family = FamilyOf<HistogramFamily>(mu_, histograms_, name))
    if (const auto* cell = family->Find(labels)) return cell->value();
  return {};
}

std::vector<Labels> MemoryRegistry::SeriesOf(const std::string& name) const {
  if (const auto* family = FamilyOf<CounterFamily>(mu_, counters_, name)) return family->Series();
  if (const auto* family = FamilyOf<GaugeFamily>(mu_, gauges_, name)) return family->Series();
  if (const auto* family = FamilyOf<HistogramFamily>(mu_, histograms_, name))
    return family->Series();
  return {};
}

}  // namespace edge::metrics
