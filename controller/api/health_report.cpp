#include "controller/api/health_report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

#include "common/core/text.h"
#include "common/crypto/x509.h"

namespace edge::controller {
namespace {

// Generous bounds: a figure outside them is a bug or an attack, not a measurement.
constexpr double kMaxCpuPercent = 100.0 * 4096;       // 4096 cores busy
constexpr double kMaxLatencyUs = 24.0 * 3600 * 1e6;   // one day

bool FiniteIn(double v, double max) { return std::isfinite(v) && v >= 0 && v <= max; }

// Why `m` cannot be stored, or empty if it can.
std::string ModelProblem(const edge::v1::ModelHealth& m) {
  if (!crypto::IsValidLabel(m.model())) return "model name must be " + std::string(crypto::kLabelRule);
  if (!m.version().empty() && !crypto::IsValidLabel(m.version())) return "version must be " + std::string(crypto::kLabelRule);
  if (m.state().size() > kMaxState) return "state is longer than 32 bytes";
  for (char c : m.state())
    if (!((c >= 'a' && c <= 'z') || c == '_')) return "state must be [a-z_]{0,32}";
  if (!FiniteIn(m.p50_us(), kMaxLatencyUs) || !FiniteIn(m.p99_us(), kMaxLatencyUs))
    return "p50/p99 must be finite, non-negative and at most a day";
  if (m.last_selftest_at() < 0) return "last_selftest_at is negative";
  const auto& bounds = m.latency().bucket_upper_us();
  const auto& counts = m.latency().counts();
  if (bounds.size() > static_cast<int>(kMaxLatencyBuckets))
    return "latency histogram has " + std::to_string(bounds.size()) + " buckets, at most 64";
  if (counts.size() != bounds.size() && counts.size() != bounds.size() + 1)
    return "latency histogram has " + std::to_string(counts.size()) + " counts for " + std::to_string(bounds.size()) +
           " bounds (want one per bound, plus an optional overflow count)";
  for (int i = 1; i < bounds.size(); ++i)
    if (bounds[i] <= bounds[i - 1]) return "latency histogram bounds are not strictly increasing";
  return "";
}

ModelHealthRecord ToRecord(const edge::v1::ModelHealth& m) {
  ModelHealthRecord r;
  r.model = m.model();
  r.version = m.version();
  r.state = m.state();
  r.inferences = m.inferences();
  r.errors = m.errors();
  r.latency_bucket_upper_us.assign(m.latency().bucket_upper_us().begin(), m.latency().bucket_upper_us().end());
  r.latency_counts.assign(m.latency().counts().begin(), m.latency().counts().end());
  r.p50_us = m.p50_us();
  r.p99_us = m.p99_us();
  r.last_selftest = TruncateUtf8(text::PlainText(m.last_selftest()), kMaxSelftestText);
  r.last_selftest_at = m.last_selftest_at();
  return r;
}

std::string EventProblem(const edge::v1::UpdateEvent& e) {
  if (e.seq() == 0 || e.seq() > static_cast<uint64_t>(INT64_MAX)) return "seq must be between 1 and 2^63-1";
  if (e.outcome() != "committed" && e.outcome() != "rolled_back" && e.outcome() != "failed" &&
      e.outcome() != "abandoned")
    return "outcome must be committed, rolled_back, failed or abandoned";
  if (!crypto::IsValidLabel(e.model())) return "model name must be " + std::string(crypto::kLabelRule);
  if (!crypto::IsValidLabel(e.version())) return "version must be " + std::string(crypto::kLabelRule);
  if (e.unix_time() < 0) return "unix_time is negative";
  return "";
}

}  // namespace

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut sequence.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

Checked<std::optional<HealthRecord>> CheckHealth(const edge::v1::Health& h, int64_t received_at) {
  Checked<std::optional<HealthRecord>> out;
  if (h.models_size() > static_cast<int>(kMaxHealthModels)) {
    out.problems.push_back("health report has " + std::to_string(h.models_size()) + " models, at most 64");
    return out;
  }
  if (!FiniteIn(h.cpu_percent(), kMaxCpuPercent)) {
    out.problems.push_back("health report cpu_percent is not a finite, non-negative number of sane size");
    return out;
  }
  if (h.unix_time() < 0) {
    out.problems.push_back("health report unix_time is negative");
    return out;
  }
  HealthRecord r;
  r.unix_time = h.unix_time();
  r.received_at = received_at;
  r.cpu_percent = h.cpu_percent();
  r.rss_bytes = h.rss_bytes();
  r.disk_free_bytes = h.disk_free_bytes();
  r.uptime_seconds = h.uptime_seconds();
  std::set<std::string> seen;
  for (const auto& m : h.models()) {
    const std::string name = TruncateUtf8(m.model(), 64);
    if (auto problem = ModelProblem(m); !problem.empty()) {
      out.problems.push_back("health of model '" + name + "' left out: " + problem);
      continue;
    }
    if (!seen.insert(m.model()).second) {
      out.problems.push_back("health of model '" + name + "' reported twice; the first is kept");
      continue;
    }
    r.models.push_back(ToRecord(m));
  }
  out.value = std::move(r);
  return out;
}

Checked<std::vector<UpdateEventRecord>> CheckEvents(
    const google::protobuf::RepeatedPtrField<edge::v1::UpdateEvent>& events) {
  Checked<std::vector<UpdateEventRecord>> out;
  std::set<uint64_t> seen;
  for (const auto& e : events) {
    if (auto problem = EventProblem(e); !problem.empty()) {
      out.problems.push_back("update event seq " + std::to_string(e.seq()) + " refused: " + problem);
      continue;
    }
    if (!seen.insert(e.seq()).second) continue;
    out.value.push_back({e.seq(), e.model(), e.version(), e.outcome(), TruncateUtf8(text::PlainText(e.reason()), kMaxEventReason),
                         e.unix_time(), e.offline_install(), 0});
  }
  std::sort(out.value.begin(), out.value.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  if (out.value.size() > kMaxEventsPerReport) {
    out.problems.push_back(std::to_string(out.value.size() - kMaxEventsPerReport) +
                           " update events beyond the first 256 left for a later report");
    out.value.resize(kMaxEventsPerReport);
  }
  return out;
}

}  // namespace edge::controller
