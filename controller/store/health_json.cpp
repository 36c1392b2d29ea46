#include "controller/store/health_json.h"

#include <nlohmann/json.hpp>

namespace edge::controller {

std::string HealthToJson(const HealthRecord& h) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : h.models) {
    nlohmann::json jm = {{"model", m.model},           {"version", m.version},    {"state", m.state},
                         {"inferences", m.inferences}, {"errors", m.errors},      {"p50_us", m.p50_us},
                         {"p99_us", m.p99_us}};
    if (!m.latency_bucket_upper_us.empty() || !m.latency_counts.empty()) {
      jm["latency_bucket_upper_us"] = m.latency_bucket_upper_us;
      jm["latency_counts"] = m.latency_counts;
    }
    if (!m.last_selftest.empty() || m.last_selftest_at != 0) {
      jm["last_selftest"] = m.last_selftest;
      jm["last_selftest_at"] = m.last_selftest_at;
    }
    models.push_back(std::move(jm));
  }
  const nlohmann::json j = {{"unix_time", h.unix_time},
                            {"received_at", h.received_at},
                            {"cpu_percent", h.cpu_percent},
                            {"rss_bytes", h.rss_bytes},
                            {"disk_free_bytes", h.disk_free_bytes},
                            {"uptime_seconds", h.uptime_seconds},
                            {"models", std::move(models)}};
  return j.dump();
}

Result<HealthRecord> HealthFromJson(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Fail(ErrorCode::kDataLoss, "stored health report is not a JSON object");
  try {
    HealthRecord h;
    h.unix_time = j.value("unix_time", int64_t{0});
    h.received_at = j.value("received_at", int64_t{0});
    h.cpu_percent = j.value("cpu_percent", 0.0);
    h.rss_bytes = j.value("rss_bytes", uint64_t{0});
    h.disk_free_bytes = j.value("disk_free_bytes", uint64_t{0});
    h.uptime_seconds = j.value("uptime_seconds", uint64_t{0});
    for (const auto& jm : j.value("models", nlohmann::json::array())) {
      ModelHealthRecord m;
      m.model = jm.value("model", "");
      m.version = jm.value("version", "");
      m.state = jm.value("state", "");
      m.inferences = jm.value("inferences", uint64_t{0});
      m.errors = jm.value("errors", uint64_t{0});
      m.p50_us = jm.value("p50_us", 0.0);
      m.p99_us = jm.value("p99_us", 0.0);
      m.latency_bucket_upper_us = jm.value("latency_bucket_upper_us", std::vector<uint64_t>{});
      m.latency_counts = jm.value("latency_counts", std::vector<uint64_t>{});
      m.last_selftest = jm.value("last_selftest", "");
      m.last_selftest_at = jm.value("last_selftest_at", int64_t{0});
      h.models.push_back(std::move(m));
    }
    return h;
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kDataLoss, std::string("stored health report has a field of the wrong type: ") + e.what());
  }
}

HealthRecord HistorySample(const HealthRecord& full) {
  HealthRecord s = full;
  for (auto& m : s.models) {
    m.latency_bucket_upper_us.clear();
    m.latency_counts.clear();
    m.last_selftest.clear();
    m.last_selftest_at = 0;
  }
  return s;
}

}  // namespace edge::controller
