#include "tests/fleetsim/sim_device.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <openssl/sha.h>

namespace edge::fleetsim {
namespace {

constexpr const char* kAgentVersion = "edge-fleetsim";
constexpr std::array<uint64_t, 10> kBoundsUs = {250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000};
constexpr double kInferencesPerSecond = 10;
constexpr double kP50Us = 900;
constexpr double kP99Us = 1800;

size_t BucketOf(double us) {
  for (size_t i = 0; i < kBoundsUs.size(); ++i)
    if (us <= static_cast<double>(kBoundsUs[i])) return i;
  return kBoundsUs.size();
}

}  // namespace

bool Chosen(uint64_t seed, const std::string& salt, const std::string& device, double share) {
  if (share <= 0) return false;
  if (share >= 1) return true;
  const std::string key = std::to_string(seed) + "/" + salt + "/" + device;
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), md);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | md[i];
  return static_cast<double>(v >> 11) / static_cast<double>(uint64_t{1} << 53) < share;
}

bool SimDevice::WillFail(const std::string& version) const {
  for (const auto& f : script_->fail)
    if (f.version == version && Chosen(script_->seed, "fail:" + f.version, name_, f.share)) return true;
  return false;
}

double SimDevice::P99For(const std::string& version) const {
  for (const auto& s : script_->slow)
    if (s.version == version && Chosen(script_->seed, "slow:" + s.version, name_, s.share)) return s.p99_us;
  return kP99Us;
}

edge::v1::Hello SimDevice::MakeHello(uint64_t trust_policy_version) const {
  edge::v1::Hello hello;
  hello.set_agent_version(kAgentVersion);
  hello.set_trust_policy_version(trust_policy_version);
  *hello.mutable_models() = MakeReport(0, 0).models();
  return hello;
}

edge::v1::StatusReport SimDevice::MakeReport(int64_t now, double uptime_s) const {
  edge::v1::StatusReport report;
  report.set_acked_generation(generation_);
  auto* health = report.mutable_health();
  health->set_unix_time(now);
  health->set_cpu_percent(3.5);
  health->set_rss_bytes(24u << 20);
  health->set_disk_free_bytes(uint64_t{8} << 30);
  health->set_uptime_seconds(static_cast<uint64_t>(uptime_s));
  for (const auto& [model, slot] : slots_) {
    auto* m = report.add_models();
    m->set_model(model);
    m->set_version(slot.active);
    m->set_security_version(slot.security_version);
    m->set_security_floor(slot.floor);
    m->set_state(slot.state);
    m->set_target_version(slot.target);
    m->set_detail(slot.detail);
    m->set_bytes_done(slot.bytes_done);
    m->set_bytes_total(slot.bytes_total);
    if (slot.active.empty() || now == 0) continue;
    // Inferences since the version became active, split between the p50 and p99 buckets
    // (cumulative, as the agent counts them).
    auto* h = health->add_models();
    h->set_model(model);
    h->set_version(slot.active);
    h->set_state(slot.state);
    const double p99 = P99For(slot.active);
    const auto total = static_cast<uint64_t>(std::max(0.0, uptime_s - slot.activated_s) * kInferencesPerSecond);
    const auto tail = total / 50;
    std::vector<uint64_t> counts(kBoundsUs.size() + 1, 0);
    counts[BucketOf(kP50Us)] += total - tail;
    counts[BucketOf(p99)] += tail;
    for (auto b : kBoundsUs) h->mutable_latency()->add_bucket_upper_us(b);
    for (auto c : counts) h->mutable_latency()->add_counts(c);
    h->set_inferences(total);
    h->set_p50_us(kP50Us);
    h->set_p99_us(p99);
    h->set_last_selftest("passed 1 case, max error 0.0 (simulated)");
    h->set_last_selftest_at(now);
  }
  for (const auto& e : events_) *report.add_events() = e;
  return report;
}

Work SimDevice::OnDesired(const edge::v1::DesiredState& desired,
                          const std::map<std::pair<std::string, std::string>, Verified>& verified, int64_t now) {
  generation_ = desired.generation();
  Work work;
  for (const auto& m : desired.models()) {
    auto& slot = slots_[m.model()];
    if (slot.active == m.version() && slot.target.empty()) continue;  // already there
    if (slot.target == m.version()) continue;                          // already on its way
    auto it = verified.find({m.model(), m.version()});
    if (it == verified.end()) continue;  // refused by the caller (Refuse)
    if (!slot.target.empty() && slot.state != "committed" && slot.state != "rolled_back" && slot.state != "failed")
      Emit(m.model(), slot.target, "abandoned", "replaced by " + m.version(), now);
    if (slot.active == m.version()) {  // back to the active version: nothing to fetch
      slot.target.clear();
      slot.state = "committed";
      continue;
    }
    slot.target = m.version();
    slot.state = "downloading";
    slot.detail.clear();
    slot.bytes_done = 0;
    slot.bytes_total = 0;
    for (const auto& b : it->second.blobs) slot.bytes_total += b.size;
    pending_[m.model()] = it->second;
    // One download at a time, as the agent does: the first model that needs one.
    if (!work.download) {
      work.download = {m.model(), m.version()};
      work.blobs = it->second.blobs;
    }
  }
  return work;
}

void SimDevice::Refuse(const std::string& model, const std::string& version, const std::string& why, int64_t now) {
  auto& slot = slots_[model];
  if (slot.target == version && slot.state == "failed") return;
  slot.target = version;
  slot.state = "failed";
  slot.detail = why;
  Emit(model, version, "failed", why, now);
}

void SimDevice::OnProgress(const std::string& model, const std::string& version, uint64_t bytes_done) {
  auto it = slots_.find(model);
  if (it != slots_.end() && it->second.target == version && it->second.state == "downloading")
    it->second.bytes_done = bytes_done;
}

Work SimDevice::OnDownloaded(const std::string& model, const std::string& version, bool ok,
                             const std::string& detail, int64_t now, double now_s) {
  Work work;
  auto it = slots_.find(model);
  if (it == slots_.end() || it->second.target != version || it->second.state != "downloading") return work;
  auto& slot = it->second;
  const auto facts = pending_[model];
  if (!ok) {
    slot.state = "failed";
    slot.detail = detail;
    Emit(model, version, "failed", detail, now);
    return work;
  }
  slot.bytes_done = slot.bytes_total;
  if (WillFail(version)) {
    slot.state = "rolled_back";
    slot.detail = "self-test failed: output 0 differs by 9 steps (simulated)";
    Emit(model, version, "rolled_back", slot.detail, now);
    return work;
  }
  slot.active = version;
  slot.security_version = facts.security_version;
  slot.floor = std::max(slot.floor, facts.security_version);
  slot.activated_s = now_s;
  slot.state = "probation";
  work.soak_until = now_s + facts.soak_s * script_->soak_scale;
  return work;
}

void SimDevice::SoakDone(const std::string& model, const std::string& version, int64_t now) {
  auto it = slots_.find(model);
  if (it == slots_.end() || it->second.active != version || it->second.state != "probation") return;
  it->second.state = "committed";
  it->second.target.clear();
  it->second.detail.clear();
  it->second.bytes_done = it->second.bytes_total = 0;
  pending_.erase(model);
  Emit(model, version, "committed", "", now);
}

void SimDevice::OnAck(uint64_t up_to_seq) {
  std::erase_if(events_, [&](const edge::v1::UpdateEvent& e) { return e.seq() <= up_to_seq; });
}

bool SimDevice::CommittedOn(const std::string& model, const std::string& version) const {
  auto it = slots_.find(model);
  return it != slots_.end() && it->second.active == version && it->second.state == "committed";
}

void SimDevice::Emit(const std::string& model, const std::string& version, const std::string& outcome,
                     const std::string& reason, int64_t now) {
  edge::v1::UpdateEvent e;
  e.set_seq(next_seq_++);
  e.set_model(model);
  e.set_version(version);
  e.set_outcome(outcome);
  e.set_reason(reason);
  e.set_unix_time(now);
  events_.push_back(std::move(e));
}

}  // namespace edge::fleetsim
