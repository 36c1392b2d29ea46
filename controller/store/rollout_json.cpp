#include "controller/store/rollout_json.h"

#include <nlohmann/json.hpp>

namespace edge::controller {
namespace {

using nlohmann::json;
using namespace rollout;

json AmountJson(const Amount& a) { return a.is_percent ? json{{"percent", a.percent}} : json{{"count", a.count}}; }

Amount AmountFrom(const json& j) {
  if (j.contains("percent")) return Amount::Percent(j.at("percent").get<double>());
  return Amount::Count(j.at("count").get<uint32_t>());
}

template <typename T, typename F>
Result<T> Strict(std::string_view text, const char* what, F&& read) {
  try {
    return read(json::parse(text));
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kDataLoss, std::string("stored rollout ") + what + " is unreadable: " + e.what());
  }
}

}  // namespace

std::string TargetToJson(const Target& t) {
  return json{{"sites", t.sites}, {"selector", t.selector}, {"devices", t.devices}}.dump();
}

Result<Target> TargetFromJson(std::string_view text) {
  return Strict<Target>(text, "target", [](const json& j) {
    return Target{j.at("sites").get<std::vector<std::string>>(), j.at("selector").get<std::string>(),
                  j.at("devices").get<std::vector<std::string>>()};
  });
}

std::string StrategyToJson(const Strategy& s) {
  json waves = json::array();
  for (const auto& w : s.waves) waves.push_back(AmountJson(w));
  return json{{"canary", AmountJson(s.canary)},
              {"canary_per_site", s.canary_per_site},
              {"waves", waves},
              {"max_parallel", s.max_parallel},
              {"site_budget", AmountJson(s.site_budget)},
              {"soak_seconds", s.soak_seconds},
              {"device_timeout_seconds", s.device_timeout_seconds},
              {"success_threshold", s.success_threshold},
              {"failure_threshold", s.failure_threshold},
              {"health_gates", s.health_gates},
              {"min_requests", s.min_requests},
              {"max_latency_regression", s.max_latency_regression},
              {"max_error_rate_increase", s.max_error_rate_increase},
              {"max_restarts", s.max_restarts},
              {"health_timeout_seconds", s.health_timeout_seconds},
              {"on_failure", std::string(Name(s.on_failure))},
              {"insufficient_traffic", std::string(Name(s.insufficient_traffic))}}
      .dump();
}

Result<Strategy> StrategyFromJson(std::string_view text) {
  return Strict<Strategy>(text, "strategy", [](const json& j) {
    Strategy s;
    s.canary = AmountFrom(j.at("canary"));
    s.canary_per_site = j.at("canary_per_site").get<bool>();
    s.waves.clear();
    for (const auto& w : j.at("waves")) s.waves.push_back(AmountFrom(w));
    s.max_parallel = j.at("max_parallel").get<uint32_t>();
    s.site_budget = AmountFrom(j.at("site_budget"));
    s.soak_seconds = j.at("soak_seconds").get<int64_t>();
    s.device_timeout_seconds = j.at("device_timeout_seconds").get<int64_t>();
    s.success_threshold = j.at("success_threshold").get<double>();
    s.failure_threshold = j.at("failure_threshold").get<double>();
    s.health_gates = j.at("health_gates").get<bool>();
    s.min_requests = j.at("min_requests").get<uint32_t>();
    s.max_latency_regression = j.at("max_latency_regression").get<double>();
    s.max_error_rate_increase = j.at("max_error_rate_increase").get<double>();
    s.max_restarts = j.at("max_restarts").get<uint32_t>();
    s.health_timeout_seconds = j.at("health_timeout_seconds").get<int64_t>();
    auto on_failure = ParseOnFailure(j.at("on_failure").get<std::string>());
    auto traffic = ParseInsufficientTraffic(j.at("insufficient_traffic").get<std::string>());
    if (!on_failure || !traffic) throw std::runtime_error("unknown on_failure or insufficient_traffic");
    s.on_failure = *on_failure;
    s.insufficient_traffic = *traffic;
    return s;
  });
}

std::string WavesToJson(const std::vector<Wave>& waves) {
  json out = json::array();
  for (const auto& w : waves) out.push_back({{"started_at", w.started_at}, {"completed_at", w.completed_at}, {"gate", w.gate}});
  return out.dump();
}

Result<std::vector<Wave>> WavesFromJson(std::string_view text) {
  return Strict<std::vector<Wave>>(text, "waves", [](const json& j) {
    std::vector<Wave> out;
    for (const auto& w : j)
      out.push_back({w.at("started_at").get<int64_t>(), w.at("completed_at").get<int64_t>(), w.at("gate").get<std::string>()});
    return out;
  });
}

std::string SampleToJson(const HealthSample& h) {
  return json{{"version", h.version},
              {"inferences", h.inferences},
              {"errors", h.errors},
              {"latency_bucket_upper_us", h.latency_bucket_upper_us},
              {"latency_counts", h.latency_counts},
              {"last_selftest", h.last_selftest},
              {"last_selftest_at", h.last_selftest_at}}
      .dump();
}

Result<HealthSample> SampleFromJson(std::string_view text) {
  return Strict<HealthSample>(text, "baseline", [](const json& j) {
    return HealthSample{j.at("version").get<std::string>(),
                        j.at("inferences").get<uint64_t>(),
                        j.at("errors").get<uint64_t>(),
                        j.at("latency_bucket_upper_us").get<std::vector<uint64_t>>(),
                        j.at("latency_counts").get<std::vector<uint64_t>>(),
                        j.at("last_selftest").get<std::string>(),
                        j.at("last_selftest_at").get<int64_t>()};
  });
}

}  // namespace edge::controller
