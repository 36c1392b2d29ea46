#include "agent/daemon/status_report.h"

namespace edge::agent {

edge::v1::StatusReport ModelsReport(const std::map<std::string, ModelRecord>& records) {
  edge::v1::StatusReport report;
  for (const auto& [name, r] : records) {
    auto* m = report.add_models();
    m->set_model(name);
    m->set_version(r.active_version);
    m->set_security_version(r.active_security_version);
    m->set_state(std::string(StateName(r.state)));
    m->set_target_version(r.target_version);
    m->set_detail(r.detail);
    m->set_bytes_done(r.bytes_done);
    m->set_bytes_total(r.bytes_total);
    m->set_security_floor(r.floor);
  }
  return report;
}

void AddHealth(edge::v1::StatusReport& report, const std::map<std::string, ModelRecord>& records,
               const HealthFacts& facts) {
  auto* h = report.mutable_health();
  h->set_unix_time(facts.now);
  h->set_cpu_percent(facts.cpu_percent);
  h->set_rss_bytes(facts.rss_bytes);
  if (facts.disk_free_bytes) h->set_disk_free_bytes(*facts.disk_free_bytes);
  h->set_uptime_seconds(facts.uptime_seconds);
  for (const auto& [name, r] : records) {
    auto* mh = h->add_models();
    mh->set_model(name);
    mh->set_state(std::string(StateName(r.state)));
    mh->set_version(r.active_version);
    if (auto it = facts.serving.find(name); it != facts.serving.end()) {
      const auto& stats = it->second;
      mh->set_version(stats.version);
      mh->set_inferences(stats.inferences);
      mh->set_errors(stats.errors);
      mh->set_p50_us(stats.p50_us);
      mh->set_p99_us(stats.p99_us);
      auto* latency = mh->mutable_latency();
      for (size_t i = 0; i < stats.latency_buckets.size(); ++i) {
        if (i + 1 < stats.latency_buckets.size())
          latency->add_bucket_upper_us(static_cast<uint64_t>(serve::LatencyHistogram::BucketUpperNs(i) / 1000));
        latency->add_counts(stats.latency_buckets[i]);
      }
    }
    if (auto it = facts.selftests.find(name); it != facts.selftests.end()) {
      mh->set_last_selftest(it->second.text);
      mh->set_last_selftest_at(it->second.at);
    }
  }
}

}  // namespace edge::agent
