#include "common/metrics/memory_registry.h"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <functional>

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
  // Calls f(labels, child) for each child, in label order.
  template <typename F>
  void ForEach(F f) const {
    std::lock_guard lock(mu_);
    for (const auto& [labels, child] : owned_) f(labels, *child);
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

// The text format's numbers: the shortest text that reads back as the same double, and
// +Inf/-Inf/NaN as Prometheus spells them.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

// Label values escape \, " and newline; help text escapes \ and newline.
std::string Escape(const std::string& text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

// {a="1",b="2"} (with `extra` appended, e.g. le), or "" for no labels.
std::string LabelText(const Labels& labels, const std::string& extra = {}) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=\"" + Escape(v, true) + "\"";
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? out : "{" + out + "}";
}

}  // namespace

Family<Counter>& MemoryRegistry::Counters(const std::string& name, const std::string& help) {
  {
    std::lock_guard lock(mu_);
    help_.emplace(name, help);
  }
  return FindOrAdd<CounterFamily>(mu_, counters_, name);
}

Family<Gauge>& MemoryRegistry::Gauges(const std::string& name, const std::string& help) {
  {
    std::lock_guard lock(mu_);
    help_.emplace(name, help);
  }
  return FindOrAdd<GaugeFamily>(mu_, gauges_, name);
}

Family<Histogram>& MemoryRegistry::Histograms(const std::string& name, const std::string& help,
                                              const std::vector<double>& upper_bounds) {
  {
    std::lock_guard lock(mu_);
    help_.emplace(name, help);
  }
  return FindOrAdd<HistogramFamily>(mu_, histograms_, name, upper_bounds);
}

std::string MemoryRegistry::Exposition() const {
  // Families are only ever added, and each keeps its children alive: the registry's lock is
  // held only to list them, each family's own lock while its lines are written.
  using Writer = std::function<void(const std::string& name, std::string& out)>;
  auto cells = [](const auto* family) -> Writer {
    return [family](const std::string& name, std::string& out) {
      family->ForEach([&](const Labels& labels, const Cell& cell) {
        out += name + LabelText(labels) + " " + Number(cell.value()) + "\n";
      });
    };
  };
  auto histograms = [](const HistogramFamily* family) -> Writer {
    return [family](const std::string& name, std::string& out) {
      family->ForEach([&](const Labels& labels, const HistogramCell& cell) {
        const auto h = cell.value();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.counts.size(); ++i) {
          cumulative += h.counts[i];
          const std::string le = i < h.upper_bounds.size() ? Number(h.upper_bounds[i]) : "+Inf";
          out += name + "_bucket" + LabelText(labels, "le=\"" + le + "\"") + " " + std::to_string(cumulative) + "\n";
        }
        out += name + "_sum" + LabelText(labels) + " " + Number(h.sum) + "\n";
        out += name + "_count" + LabelText(labels) + " " + std::to_string(h.count) + "\n";
      });
    };
  };
  std::map<std::string, std::pair<const char*, Writer>> families;  // by name: type, lines
  std::map<std::string, std::string> help;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : counters_) families[name] = {"counter", cells(static_cast<const CounterFamily*>(f.get()))};
    for (const auto& [name, f] : gauges_) families[name] = {"gauge", cells(static_cast<const GaugeFamily*>(f.get()))};
    for (const auto& [name, f] : histograms_)
      families[name] = {"histogram", histograms(static_cast<const HistogramFamily*>(f.get()))};
    help = help_;
  }
  std::string out;
  for (const auto& [name, family] : families) {
    out += "# HELP " + name + " " + Escape(help[name], false) + "\n";
    out += "# TYPE " + name + " " + family.first + "\n";
    family.second(name, out);
  }
  return out;
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
