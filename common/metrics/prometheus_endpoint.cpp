// The Registry and Endpoint over prometheus-cpp (core for the values, pull for the HTTP server,
// which is civetweb). The code that counts never sees prometheus-cpp: it holds our Counter,
// Gauge and Histogram, each a thin wrapper made once per label set.
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <deque>
#include <exception>
#include <string>

#include "common/metrics/endpoint.h"

namespace edge::metrics {

namespace {

class PromCounter final : public Counter {
 public:
  explicit PromCounter(prometheus::Counter& counter) : counter_(counter) {}
  void Add(double amount) override { counter_.Increment(amount); }

 private:
  prometheus::Counter& counter_;
};

class PromGauge final : public Gauge {
 public:
  explicit PromGauge(prometheus::Gauge& gauge) : gauge_(gauge) {}
  void Set(double value) override { gauge_.Set(value); }

 private:
  prometheus::Gauge& gauge_;
};

class PromHistogram final : public Histogram {
 public:
  explicit PromHistogram(prometheus::Histogram& histogram) : histogram_(histogram) {}
  void Observe(double value) override { histogram_.Observe(value); }

 private:
  prometheus::Histogram& histogram_;
};

// Create() runs under the base class's lock, so `wrappers_` needs none of its own.
template <typename Metric, typename Prom, typename Wrapper>
class PromFamily final : public Family<Metric> {
 public:
  PromFamily(prometheus::Family<Prom>& family, std::vector<double> upper_bounds = {})
      : family_(family), upper_bounds_(std::move(upper_bounds)) {}

 protected:
  Metric& Create(const Labels& labels) override {
    if constexpr (std::is_same_v<Prom, prometheus::Histogram>)
      return wrappers_.emplace_back(family_.Add(labels, upper_bounds_));
    else
      return wrappers_.emplace_back(family_.Add(labels));
  }

 private:
  prometheus::Family<Prom>& family_;
  const std::vector<double> upper_bounds_;
  std::deque<Wrapper> wrappers_;  // stable addresses
};

class PromRegistry final : public Registry {
 public:
  Family<Counter>& Counters(const std::string& name, const std::string& help) override {
    return Get<Counter, prometheus::Counter, PromCounter>(counters_, name, [&] {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(*prom_);
    });
  }
  Family<Gauge>& Gauges(const std::string& name, const std::string& help) override {
    return Get<Gauge, prometheus::Gauge, PromGauge>(gauges_, name, [&] {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(*prom_);
    });
  }
  Family<Histogram>& Histograms(const std::string& name, const std::string& help,
                                const std::vector<double>& upper_bounds) override {
    return Get<Histogram, prometheus::Histogram, PromHistogram>(
        histograms_, name,
        [&] { return &prometheus::BuildHistogram().Name(name).Help(help).Register(*prom_); },
        upper_bounds);
  }

  const std::shared_ptr<prometheus::Registry>& prom() const { return prom_; }

 private:
  template <typename Metric, typename Prom, typename Wrapper, typename Build, typename... Extra>
  Family<Metric>& Get(std::map<std::string, std::unique_ptr<Family<Metric>>>& families,
                      const std::string& name, Build build, Extra&&... extra) {
    std::lock_guard lock(mu_);
    auto& slot = families[name];
    if (!slot)
      slot = std::make_unique<PromFamily<Metric, Prom, Wrapper>>(*build(),
                                                                 std::forward<Extra>(extra)...);
    return *slot;
  }

  std::shared_ptr<prometheus::Registry> prom_ = std::make_shared<prometheus::Registry>();
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
};

class PromEndpoint final : public Endpoint {
 public:
  PromEndpoint(std::unique_ptr<prometheus::Exposer> exposer, uint16_t port)
      : exposer_(std::move(exposer)), port_(port) {
    exposer_->RegisterCollectable(registry_.prom());
  }
  Registry& registry() override { return registry_; }
  uint16_t port() const override { return port_; }

 private:
  PromRegistry registry_;  // outlives the exposer's threads: declared first, destroyed last
  std::unique_ptr<prometheus::Exposer> exposer_;
  uint16_t port_;
};

}  // namespace

bool EndpointBuilt() { return true; }

Result<std::unique_ptr<Endpoint>> Endpoint::Start(const ListenAddress& address) {
  const std::string where = address.ToString();
  try {
    // Enough threads that a few stalled clients leave scrapers one, and a short request
    // timeout: a scrape is a small GET on loopback, sent at once.
    auto exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", where, "num_threads", std::to_string(kEndpointThreads), "request_timeout_ms",
        std::to_string(kEndpointRequestTimeoutMs)});
    const auto ports = exposer->GetListeningPorts();
    if (ports.empty() || ports.front() <= 0)
      return Fail(ErrorCode::kUnavailable, "metrics endpoint " + where + ": no port bound");
    return std::unique_ptr<Endpoint>(
        new PromEndpoint(std::move(exposer), static_cast<uint16_t>(ports.front())));
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kBadConfig,
                "cannot serve metrics on " + where +
                    " (in use, or not an address of this host): " + e.what());
  }
}

}  // namespace edge::metrics
